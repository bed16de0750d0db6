"""Notification pages: one's own notifications (unread first; mark one or all read,
with htmx or without), the count behind the bell in the navigation, one's
notification preferences, and — for administrators — webhook endpoints with their
delivery log and the catalogue of event types.

Reads go through `rantai.notifications.queries`; writes call
`rantai.notifications.services` and `rantai.notifications.webhooks`, which decide
who may. A signing secret is shown once: it is kept in the server-side session
only until the endpoint's page has shown it, and that answer is never cached.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import BooleanField, Count, ExpressionWrapper, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from rantai.accounts.access import Access
from rantai.core.errors import NotFound
from rantai.notifications import events, queries, services, webhooks
from rantai.notifications.models import (
    DeliveryStatus,
    Notification,
    WebhookDelivery,
    WebhookEndpoint,
)
from rantai.web import forms_coordination as coordination_forms
from rantai.web.access import (
    admin_only,
    confirm_action,
    form_page,
    handle_form,
    org_view,
    render_page,
    wants_partial,
)
from rantai.web.views.routes import owns_a_route

PAGE_SIZE = 25
LIST_TARGET = "notification-list"
# The event an htmx answer sends when notifications were marked read (the bell in
# the navigation counts again on it).
READ_EVENT = "notificationsRead"
# The session key under which a new signing secret waits to be shown once.
SECRET_SESSION_KEY = "rantai-webhook-secret-%d"  # noqa: S105 - a key, not a secret


# --- shared helpers ---------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _data(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _event_label(event_type: str) -> str:
    event = events.CATALOGUE.get(event_type)
    return str(event.label) if event is not None else event_type


# --- notifications ----------------------------------------------------------------


@dataclass
class NotificationRow:
    notification: Notification
    label: str


def _rows(page: Any) -> list[NotificationRow]:
    return [NotificationRow(n, _event_label(n.event_type)) for n in page]


def _unread_first(access: Access) -> Any:
    return (
        queries.notifications_for(access.organisation, access.user)
        .alias(
            unread=ExpressionWrapper(
                Q(read_at__isnull=True), output_field=BooleanField()
            )
        )
        .order_by("-unread", "-created_at", "-id")
    )


def _list_page(
    request: HttpRequest, *, page_number: Any = None, status: int = 200
) -> HttpResponse:
    access = _access(request)
    page = Paginator(_unread_first(access), PAGE_SIZE).get_page(
        page_number if page_number is not None else request.GET.get("page")
    )
    return render_page(
        request,
        "web/notifications/list.html",
        partial=LIST_TARGET,
        status=status,
        nav="notifications",
        page=page,
        rows=_rows(page),
        unread=queries.unread_count(access.organisation, access.user),
        list_url=_url("notifications", access),
    )


def _read_answer(request: HttpRequest) -> HttpResponse:
    """After a read mark, htmx gets the list again (the page it was on) and the
    navigation's bell is told to count again."""
    response = _list_page(request, page_number=request.POST.get("page"))
    response["HX-Trigger"] = READ_EVENT
    return response


@org_view
@require_http_methods(["GET", "HEAD"])
def notification_list(request: HttpRequest) -> HttpResponse:
    """One's notifications in the organisation: unread first, newest first."""
    return _list_page(request)


@org_view
@require_http_methods(["GET", "HEAD"])
def notification_count(request: HttpRequest) -> HttpResponse:
    """The bell of the navigation: how many notifications are unread (htmx loads
    it into the navigation's link when a page loads).

    Asked with `routes=1` (the navigation of a member, who sees the routes link
    only when they own a route), the answer also brings the routes link out of
    band when the member holds a route's owner position."""
    access = _access(request)
    response = render_page(
        request,
        "web/notifications/_bell.html",
        unread=queries.unread_count(access.organisation, access.user),
        routes_link=request.GET.get("routes") == "1" and owns_a_route(access),
    )
    add_never_cache_headers(response)
    return response


def _own(access: Access, pk: int) -> Notification:
    try:
        return queries.notification(access.organisation, access.user, pk)
    except NotFound as error:
        raise Http404 from error


def _back(request: HttpRequest, default: str) -> str:
    """Where to go after an action: the page it was pressed on, if it is ours."""
    wanted = request.POST.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return default


@org_view
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one notification read; htmx gets the list back."""
    access = _access(request)
    services.mark_read(_own(access, pk), actor=access.user)
    if wants_partial(request, LIST_TARGET):
        return _read_answer(request)
    return redirect(_back(request, _url("notifications", access)))


@org_view
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    """Mark every unread notification read; htmx gets the list back."""
    access = _access(request)
    count = services.mark_all_read(access.organisation, actor=access.user)
    if wants_partial(request, LIST_TARGET):
        return _read_answer(request)
    if count:
        messages.success(request, _("Every notification is marked read."))
    return redirect(_url("notifications", access))


@org_view
@require_http_methods(["GET", "HEAD"])
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Follow a notification's link, marking it read on the way."""
    access = _access(request)
    notification = services.mark_read(_own(access, pk), actor=access.user)
    target = notification.url
    if not (
        target
        and target.startswith("/")
        and url_has_allowed_host_and_scheme(target, allowed_hosts=set())
    ):
        target = _url("notifications", access)
    return redirect(target)


# --- preferences ------------------------------------------------------------------


def _catalogue_events() -> list[tuple[str, Any, bool]]:
    return [(e.name, e.label, e.urgent) for e in events.CATALOGUE.values()]


@org_view
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    """How one hears of each kind of event: at once by e-mail, in the daily
    digest or in the app only."""
    access = _access(request)
    preference = queries.get_preference(access.organisation, access.user)
    form = coordination_forms.PreferenceForm(
        _data(request),
        events=_catalogue_events(),
        initial=coordination_forms.preference_initial(preference),
    )

    def save(data: dict[str, Any]) -> str:
        services.update_preference(
            access.organisation,
            actor=access.user,
            urgent=data["urgent"],
            routine=data["routine"],
            digest_hour=data["digest_hour"],
            per_event=form.per_event(),
            expected_version=data["version"],
        )
        return _url("notification-preferences", access)

    return handle_form(
        request,
        form,
        save,
        success=_("Your notification settings were saved."),
        where=form.form_field_of,
        page=lambda status: render_page(
            request,
            "web/notifications/preferences.html",
            status=status,
            nav="notifications",
            form=form,
            saved=preference.pk is not None,
        ),
    )


# --- webhook endpoints ------------------------------------------------------------


def _admin(request: HttpRequest) -> Access:
    access = _access(request)
    admin_only(access)
    return access


def _endpoint(access: Access, pk: int | str) -> WebhookEndpoint:
    try:
        return queries.endpoint(access.organisation, pk)
    except NotFound as error:
        raise Http404 from error


def _event_choices() -> list[tuple[str, Any]]:
    return list(events.choices())


def _endpoint_rows(access: Access) -> list[WebhookEndpoint]:
    """The endpoints with their pending and failed deliveries: one query."""
    return list(
        queries.endpoints(access.organisation).annotate(
            pending=Count(
                "deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)
            ),
            failed=Count(
                "deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)
            ),
        )
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def endpoint_list(request: HttpRequest) -> HttpResponse:
    access = _admin(request)
    return render_page(
        request,
        "web/notifications/endpoint_list.html",
        nav="webhooks",
        endpoints=_endpoint_rows(access),
        form=coordination_forms.EndpointForm(
            events=_event_choices(), auto_id="new-endpoint-%s"
        ),
        labels=dict(_event_choices()),
    )


def _remember_secret(
    request: HttpRequest, endpoint: WebhookEndpoint, secret: str
) -> None:
    request.session[SECRET_SESSION_KEY % endpoint.pk] = secret


@org_view
@require_http_methods(["GET", "POST"])
def endpoint_create(request: HttpRequest) -> HttpResponse:
    access = _admin(request)
    form = coordination_forms.EndpointForm(
        _data(request), events=_event_choices(), auto_id="new-endpoint-%s"
    )

    def save(data: dict[str, Any]) -> str:
        endpoint, secret = webhooks.create_endpoint(
            access.organisation, actor=access.user, **data
        )
        _remember_secret(request, endpoint, secret)
        return _url("webhook-detail", access, endpoint.pk)

    return form_page(
        request,
        form,
        title=_("New webhook endpoint"),
        submit=_("Create"),
        cancel_url=_url("webhooks", access),
        save=save,
        success=_("The endpoint was created. Copy its signing secret now."),
        intro=_(
            "Rantai sends the chosen events to this address as signed JSON. Its "
            "signing secret is shown once, right after it is created."
        ),
        nav="webhooks",
    )


@dataclass
class DeliveryRow:
    delivery: WebhookDelivery
    label: str


@org_view
@require_http_methods(["GET", "HEAD"])
def endpoint_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An endpoint and its delivery log (the secret, just after it was made)."""
    access = _admin(request)
    endpoint = _endpoint(access, pk)
    secret = request.session.pop(SECRET_SESSION_KEY % endpoint.pk, None)
    status = request.GET.get("status") or ""
    if status not in DeliveryStatus.values:
        status = ""
    page = Paginator(
        queries.deliveries(endpoint, status=status or None), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    response = render_page(
        request,
        "web/notifications/endpoint_detail.html",
        partial="delivery-log",
        nav="webhooks",
        endpoint=endpoint,
        secret=secret,
        page=page,
        rows=[DeliveryRow(d, _event_label(d.event_type)) for d in page],
        status_filter=status,
        statuses=DeliveryStatus.choices,
        event_labels=[
            (name, _event_label(name)) for name in endpoint.event_types or []
        ],
        list_url=_url("webhook-detail", access, endpoint.pk),
    )
    if secret is not None:
        add_never_cache_headers(response)
    return response


@org_view
@require_http_methods(["GET", "POST"])
def endpoint_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access = _admin(request)
    endpoint = _endpoint(access, pk)
    form = coordination_forms.EndpointEditForm(
        _data(request),
        events=_event_choices(),
        initial=coordination_forms.endpoint_initial(endpoint),
    )
    name = endpoint.name

    def save(data: dict[str, Any]) -> str:
        expected = data.pop("version")
        webhooks.update_endpoint(
            endpoint, actor=access.user, expected_version=expected, **data
        )
        return _url("webhook-detail", access, endpoint.pk)

    return form_page(
        request,
        form,
        title=_("Edit “%(name)s”") % {"name": name},
        submit=_("Save"),
        cancel_url=_url("webhook-detail", access, endpoint.pk),
        save=save,
        success=_("The changes were saved."),
        nav="webhooks",
    )


@org_view
@require_http_methods(["GET", "POST"])
def endpoint_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    access = _admin(request)
    endpoint = _endpoint(access, pk)

    def act(expected: int) -> str:
        _rotated, secret = webhooks.rotate_secret(
            endpoint, actor=access.user, expected_version=expected
        )
        _remember_secret(request, endpoint, secret)
        return _url("webhook-detail", access, endpoint.pk)

    return confirm_action(
        request,
        version=endpoint.version,
        act=act,
        success=_("The secret was replaced. Copy the new one now."),
        title=_("Rotate the signing secret of “%(name)s”") % {"name": endpoint.name},
        submit=_("Rotate the secret"),
        cancel_url=_url("webhook-detail", access, endpoint.pk),
        intro=_(
            "A new secret is made and shown once. Every delivery from now on, "
            "retries included, is signed with it: give it to the receiver soon; "
            "deliveries it refuses meanwhile are retried."
        ),
        danger=True,
        nav="webhooks",
    )


def _endpoint_active_page(
    request: HttpRequest, pk: int, *, active: bool
) -> HttpResponse:
    access = _admin(request)
    endpoint = _endpoint(access, pk)
    if endpoint.is_active == active:
        return redirect(_url("webhook-detail", access, endpoint.pk))
    values = {"name": endpoint.name}

    def act(expected: int) -> str:
        change = (
            webhooks.reactivate_endpoint if active else webhooks.deactivate_endpoint
        )
        change(endpoint, actor=access.user, expected_version=expected)
        return _url("webhook-detail", access, endpoint.pk)

    if active:
        texts: dict[str, Any] = {
            "title": _("Reactivate “%(name)s”") % values,
            "submit": _("Reactivate"),
            "success": _("The endpoint is active again."),
            "intro": _("It receives the events that happen from now on."),
        }
    else:
        texts = {
            "title": _("Deactivate “%(name)s”") % values,
            "submit": _("Deactivate"),
            "success": _("The endpoint was deactivated."),
            "intro": _(
                "Nothing more is sent to it: the events it has not received yet "
                "are marked failed."
            ),
            "danger": True,
        }
    return confirm_action(
        request,
        version=endpoint.version,
        act=act,
        cancel_url=_url("webhook-detail", access, endpoint.pk),
        nav="webhooks",
        **texts,
    )


@org_view
@require_http_methods(["GET", "POST"])
def endpoint_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _endpoint_active_page(request, pk, active=False)


@org_view
@require_http_methods(["GET", "POST"])
def endpoint_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _endpoint_active_page(request, pk, active=True)


@org_view
@require_http_methods(["GET", "HEAD"])
def delivery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One delivery: its attempts and the payload sent."""
    access = _admin(request)
    try:
        delivery = queries.delivery(access.organisation, pk)
    except NotFound as error:
        raise Http404 from error
    return render_page(
        request,
        "web/notifications/delivery_detail.html",
        nav="webhooks",
        delivery=delivery,
        endpoint=delivery.endpoint,
        label=_event_label(delivery.event_type),
        attempts=list(reversed(delivery.log or [])),
        payload=json.dumps(delivery.payload, indent=2, ensure_ascii=False),
    )


@dataclass
class CatalogueEntry:
    name: str
    version: int
    urgent: bool
    label: str
    example: str


@org_view
@require_http_methods(["GET", "HEAD"])
def event_catalogue(request: HttpRequest) -> HttpResponse:
    """The event types a webhook can receive, with an example of each payload."""
    _admin(request)
    entries = [
        CatalogueEntry(
            name=event.name,
            version=event.version,
            urgent=event.urgent,
            label=str(event.label),
            example=json.dumps(dict(event.example), indent=2, ensure_ascii=False),
        )
        for event in events.CATALOGUE.values()
    ]
    return render_page(
        request, "web/notifications/events.html", nav="webhooks", entries=entries
    )
