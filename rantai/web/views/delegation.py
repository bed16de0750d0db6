"""“Away & delegation”: a person's absences (with an optional stand-in who decides
their approvals), the delegations they gave and the ones they hold.

Each person manages their own; administrators manage anyone's. Moments are entered
and shown in the organisation's time zone. Writes call `rantai.approvals.delegation`
(delegations, absences with a delegate) and `rantai.org.services` (cancelling an
absence), which decide who may; a refused change answers 403 and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.approvals import delegation as delegation_services
from rantai.approvals.models import Delegation, Route
from rantai.org import absences as absence_queries
from rantai.org import services as org_services
from rantai.org.models import Absence, Person
from rantai.web import forms as web_forms
from rantai.web import forms_coordination as coordination_forms
from rantai.web.access import form_page, handle_form, org_view, render_page

ABSENCE_ID = "absence-%s"
DELEGATION_ID = "delegation-%s"


# --- shared helpers ---------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _data(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _get(qs: QuerySet[Any], pk: int | str) -> Any:
    try:
        return qs.get(pk=int(pk))
    except (ValueError, TypeError, qs.model.DoesNotExist) as error:
        raise Http404 from error


def _own_person(access: Access) -> Person | None:
    """The caller's own person in the organisation, if they are linked to one."""
    return (
        Person.objects.filter(
            organisation=access.organisation, user=access.user, is_active=True
        )
        .order_by("id")
        .first()
    )


def _is_self(access: Access, person: Person) -> bool:
    return person.user_id is not None and person.user_id == access.user.pk


def _may_read(access: Access, person: Person) -> bool:
    return access.is_admin or _is_self(access, person)


def _may_record(access: Access, person: Person) -> bool:
    """Absences: the person themselves (member or partner) or an administrator."""
    return access.is_admin or (
        _is_self(access, person) and access.role in (Role.MEMBER, Role.PARTNER)
    )


def _may_delegate(access: Access, person: Person) -> bool:
    """Delegations: the person themselves as a member, or an administrator."""
    return access.is_admin or (_is_self(access, person) and access.role == Role.MEMBER)


def _person(access: Access, pk: int | str) -> Person:
    """A person of the organisation whose page the caller may see (403 for
    someone else's, unless an administrator)."""
    person: Person = _get(Person.objects.filter(organisation=access.organisation), pk)
    if not _may_read(access, person):
        raise DjangoPermissionDenied
    return person


def _away_url(access: Access, person: Person) -> str:
    if _is_self(access, person):
        return _url("away", access)
    return _url("away-person", access, person.pk)


def _zone(access: Access) -> str:
    return access.organisation.time_zone


def _delegates(access: Access, person: Person) -> QuerySet[Person]:
    """Who may stand in: active people of the organisation with a login as an
    administrator or member, other than the person."""
    return (
        Person.objects.filter(
            organisation=access.organisation,
            is_active=True,
            user__is_active=True,
            user__memberships__organisation=access.organisation,
            user__memberships__is_active=True,
            user__memberships__role__in=(Role.ADMIN, Role.MEMBER),
        )
        .exclude(pk=person.pk)
        .order_by("full_name", "id")
    )


def _routes(access: Access) -> QuerySet[Route]:
    return Route.objects.filter(
        organisation=access.organisation, is_active=True
    ).order_by("name", "id")


def _start_of_this_minute(access: Access) -> dt.datetime:
    local = timezone.now().astimezone(zoneinfo.ZoneInfo(_zone(access)))
    return local.replace(second=0, microsecond=0)


def _absence_form(access: Access, person: Person, data: Any = None) -> Any:
    return coordination_forms.AbsenceForm(
        data,
        time_zone=_zone(access),
        people=_delegates(access, person),
        initial={"starts_at": _start_of_this_minute(access)},
        auto_id=ABSENCE_ID,
    )


def _delegation_form(access: Access, person: Person, data: Any = None) -> Any:
    return coordination_forms.DelegationForm(
        data,
        time_zone=_zone(access),
        people=_delegates(access, person),
        routes=_routes(access),
        initial={"starts_at": _start_of_this_minute(access)},
        auto_id=DELEGATION_ID,
    )


# --- the page ---------------------------------------------------------------------


@dataclass
class AbsenceRow:
    absence: Absence
    delegation: Delegation | None
    is_current: bool


@dataclass
class DelegationRow:
    delegation: Delegation
    routes: list[Route]
    is_current: bool


def _delegation_rows(
    delegations: list[Delegation], now: dt.datetime
) -> list[DelegationRow]:
    return [
        DelegationRow(
            delegation=delegation,
            routes=list(delegation.routes.all()),
            is_current=delegation.starts_at <= now,
        )
        for delegation in delegations
    ]


def _away_page(
    request: HttpRequest,
    person: Person | None,
    *,
    status: int = 200,
    absence_form: forms.Form | None = None,
    delegation_form: forms.Form | None = None,
) -> HttpResponse:
    access = _access(request)
    now = timezone.now()
    context: dict[str, Any] = {}
    if person is not None:
        held = delegation_services.delegations_of(person.pk, at=now)
        by_absence = {d.absence_id: d for d in held.given if d.absence_id is not None}
        absences = [
            AbsenceRow(
                absence=absence,
                delegation=by_absence.get(absence.pk),
                is_current=absence.starts_at <= now,
            )
            for absence in absence_queries.absences_of(person.pk, since=now)
        ]
        may_record = _may_record(access, person)
        may_delegate = _may_delegate(access, person)
        if may_record and absence_form is None:
            absence_form = _absence_form(access, person)
            if not may_delegate:
                del absence_form.fields["delegate"]
        if may_delegate and delegation_form is None:
            delegation_form = _delegation_form(access, person)
        context = {
            "absences": absences,
            "given": _delegation_rows(held.given, now),
            "received": _delegation_rows(held.received, now),
            "may_record": may_record,
            "may_delegate": may_delegate,
            "absence_form": absence_form if may_record else None,
            "delegation_form": delegation_form if may_delegate else None,
            "is_self": _is_self(access, person),
        }
    people: Any = None
    if access.is_admin:
        people = Person.objects.filter(
            organisation=access.organisation, is_active=True
        ).order_by("full_name", "id")
    return render_page(
        request,
        "web/delegation/away.html",
        status=status,
        nav="away",
        person=person,
        people=people,
        time_zone=_zone(access),
        **context,
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def away(request: HttpRequest, person: int | None = None) -> HttpResponse:
    """A person's absences and delegations: the caller's own, or (administrators)
    anyone's."""
    access = _access(request)
    if person is None:
        wanted = request.GET.get("person")
        if wanted and access.is_admin:
            chosen = _person(access, wanted)
            return redirect(_away_url(access, chosen))
        return _away_page(request, _own_person(access))
    return _away_page(request, _person(access, person))


# --- absences ---------------------------------------------------------------------


@org_view
@require_POST
def absence_create(request: HttpRequest, person: int) -> HttpResponse:
    """Record an absence, with a delegation for its period when a delegate is
    named (both or neither)."""
    access = _access(request)
    who = _person(access, person)
    if not _may_record(access, who):
        raise DjangoPermissionDenied
    form = _absence_form(access, who, request.POST)
    if not _may_delegate(access, who):
        del form.fields["delegate"]

    def save(data: dict[str, Any]) -> str:
        delegation_services.record_absence(
            who,
            actor=access.user,
            kind=data["kind"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            delegate=data.get("delegate"),
            note=data.get("note") or "",
        )
        return _away_url(access, who) + "#absences"

    return handle_form(
        request,
        form,
        save,
        success=_("The absence was recorded."),
        page=lambda status: _away_page(request, who, status=status, absence_form=form),
    )


@org_view
@require_http_methods(["GET", "POST"])
def absence_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    absence: Absence = _get(
        Absence.objects.filter(organisation=access.organisation).select_related(
            "person"
        ),
        pk,
    )
    person = absence.person
    if not _may_record(access, person):
        raise DjangoPermissionDenied
    form = web_forms.ConfirmForm(_data(request), initial={"version": absence.version})

    def save(data: dict[str, Any]) -> str:
        org_services.cancel_absence(
            absence, actor=access.user, expected_version=data["version"]
        )
        return _away_url(access, person) + "#absences"

    return form_page(
        request,
        form,
        title=_("Cancel the absence of %(person)s") % {"person": person.full_name},
        submit=_("Cancel the absence"),
        cancel_url=_away_url(access, person) + "#absences",
        save=save,
        success=_("The absence was cancelled."),
        intro=_(
            "From now on the absence no longer counts, nor does a delegation made "
            "for it."
        ),
        danger=True,
        nav="away",
    )


# --- delegations ------------------------------------------------------------------


@org_view
@require_POST
def delegation_create(request: HttpRequest, person: int) -> HttpResponse:
    access = _access(request)
    who = _person(access, person)
    if not _may_delegate(access, who):
        raise DjangoPermissionDenied
    form = _delegation_form(access, who, request.POST)

    def save(data: dict[str, Any]) -> str:
        delegation_services.delegate(
            who,
            actor=access.user,
            delegate=data["delegate"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            routes=list(data.get("routes") or ()),
            note=data.get("note") or "",
        )
        return _away_url(access, who) + "#given"

    return handle_form(
        request,
        form,
        save,
        success=_("The delegation was recorded."),
        page=lambda status: _away_page(
            request, who, status=status, delegation_form=form
        ),
    )


@org_view
@require_http_methods(["GET", "POST"])
def delegation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    delegation: Delegation = _get(
        Delegation.objects.filter(organisation=access.organisation).select_related(
            "delegator", "delegate"
        ),
        pk,
    )
    delegator = delegation.delegator
    if not _may_delegate(access, delegator):
        raise DjangoPermissionDenied
    form = web_forms.ConfirmForm(
        _data(request), initial={"version": delegation.version}
    )
    values = {
        "delegator": delegator.full_name,
        "delegate": delegation.delegate.full_name,
    }

    def save(data: dict[str, Any]) -> str:
        delegation_services.revoke(
            delegation, actor=access.user, expected_version=data["version"]
        )
        return _away_url(access, delegator) + "#given"

    return form_page(
        request,
        form,
        title=_("Revoke the delegation of %(delegator)s to %(delegate)s") % values,
        submit=_("Revoke"),
        cancel_url=_away_url(access, delegator) + "#given",
        save=save,
        success=_("The delegation was revoked."),
        intro=_(
            "%(delegate)s can no longer decide on behalf of %(delegator)s from now "
            "on; decisions already made stay."
        )
        % values,
        danger=True,
        nav="away",
    )
