"""Calendar feeds (docs/design-insight.md, "Calendar feeds"): the page where a person
makes, renews or stops the private address of their deadlines, and the feed itself,
which a calendar program reads without a session (the secret in the address is the
credential).

A new address is shown in the answer to the POST that made it, this once: it is
never stored, not even in the session (as API tokens)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rantai.accounts.access import Access
from rantai.core.errors import NotFound
from rantai.insight import feeds
from rantai.insight.models import CalendarFeed
from rantai.web.access import org_view, render_page

PAGE_TEMPLATE = "web/feeds/calendar_feed.html"
FEED_CACHE_CONTROL = "private, max-age=300"


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _page_url(access: Access) -> str:
    return reverse("calendar-feed-settings", args=[access.organisation.slug])


def _page(
    request: HttpRequest,
    access: Access,
    *,
    feed: CalendarFeed | None,
    secret: str | None = None,
    replaced: bool = False,
) -> HttpResponse:
    response = render_page(
        request,
        PAGE_TEMPLATE,
        feed=feed,
        address=feeds.feed_address(secret) if secret else "",
        webcal_address=feeds.webcal_address(secret) if secret else "",
        replaced=replaced,
        deadline_count=len(feeds.deadlines(access)),
    )
    # The page may show a new address: no cache anywhere keeps it.
    add_never_cache_headers(response)
    return response


@org_view
@require_http_methods(["GET", "HEAD"])
def calendar_feed_settings(request: HttpRequest) -> HttpResponse:
    """Whether the caller has a feed in this organisation, when it was last read,
    and the buttons to make, renew or stop it."""
    access = _access(request)
    return _page(
        request, access, feed=feeds.active_feed(access.organisation, access.user)
    )


@org_view
@require_POST
def calendar_feed_create(request: HttpRequest) -> HttpResponse:
    """A new address (the old one, if any, stops at once), shown in this answer
    only."""
    access = _access(request)
    replaced = feeds.active_feed(access.organisation, access.user) is not None
    feed, secret = feeds.create_feed(access.organisation, user=access.user)
    return _page(request, access, feed=feed, secret=secret, replaced=replaced)


@org_view
@require_POST
def calendar_feed_revoke(request: HttpRequest) -> HttpResponse:
    """Stop the feed: its address answers nothing from now on."""
    access = _access(request)
    if feeds.revoke_feed(access.organisation, user=access.user):
        messages.success(
            request,
            _("Your calendar feed is stopped. Its address no longer shows anything."),
        )
    else:
        messages.info(request, _("You had no calendar feed to stop."))
    return redirect(_page_url(access))


def _not_found() -> HttpResponse:
    """The same empty answer for every address that opens nothing."""
    response = HttpResponse(b"", status=404, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def calendar_feed(request: HttpRequest, secret: str) -> HttpResponse:
    """The feed, for calendar programs: no session, the secret is the
    credential. Unknown, revoked and malformed secrets, and the feeds of people
    who left the organisation, answer 404 with an empty body."""
    feed = feeds.feed_for_secret(secret)
    if feed is None:
        return _not_found()
    try:
        body = feeds.calendar(feed)
    except NotFound:
        return _not_found()
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = FEED_CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = 'inline; filename="rantai.ics"'
    return response
