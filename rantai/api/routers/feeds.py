"""The caller's calendar feed in one organisation (docs/design-insight.md,
"Calendar feeds"): whether they have one and when a calendar last read it; a new
address (the old one stops at once), answered this once; stopping it.

Every role has a feed of its own deadlines (a partner's holds what the partner
sees anyway). The address is never stored — only its SHA-256 digest — and so is
not kept for an Idempotency-Key either: a retry with the same key replays the
first answer without the address (`address` null); make a new one to see one.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.renderers import JSONRenderer

from rantai.api import idempotency
from rantai.api.common import OrgSlug, org_access
from rantai.core.errors import NotFound
from rantai.insight import feeds
from rantai.insight.models import CalendarFeed

router = Router(tags=["feeds"])


class CalendarFeedOut(Schema):
    """The caller's calendar feed in this organisation."""

    active: bool = Field(..., description="Whether the caller has a feed here.")
    created_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = Field(
        None, description="When a calendar last read it (noted at most hourly)."
    )


class CalendarFeedCreatedOut(CalendarFeedOut):
    address: str | None = Field(
        None,
        description="The feed's address, shown this once (null when an "
        "Idempotency-Key replays the answer: the address is not kept).",
    )
    webcal_address: str | None = Field(
        None, description="The same address with the webcal:// scheme."
    )


def _state(feed: CalendarFeed | None) -> dict[str, Any]:
    if feed is None:
        return {"active": False, "created_at": None, "last_used_at": None}
    return {
        "active": True,
        "created_at": feed.created_at,
        "last_used_at": feed.last_used_at,
    }


@router.get("/me/calendar-feed", response=CalendarFeedOut)
def calendar_feed(request: HttpRequest, org_slug: OrgSlug) -> dict[str, Any]:
    """Whether the caller has a feed here and when a calendar last read it."""
    access = org_access(request, org_slug)
    return _state(feeds.active_feed(access.organisation, access.user))


@router.post("/me/calendar-feed", response={201: CalendarFeedCreatedOut})
@idempotency.idempotent
def create_calendar_feed(
    request: HttpRequest, org_slug: OrgSlug
) -> Status[dict[str, Any]]:
    """A new feed address; the caller's previous one stops at once. The address
    is in this answer only."""
    access = org_access(request, org_slug)
    feed, secret = feeds.create_feed(access.organisation, user=access.user)
    _keep_for_replay_without_the_address(request, feed)
    return Status(
        201,
        {
            **_state(feed),
            "address": feeds.feed_address(secret),
            "webcal_address": feeds.webcal_address(secret),
        },
    )


def _keep_for_replay_without_the_address(
    request: HttpRequest, feed: CalendarFeed
) -> None:
    """For an Idempotency-Key, keep the answer without the address: only the
    secret's digest may be kept anywhere (saved in the request's transaction)."""
    renderer = JSONRenderer()
    idempotency.store_for_replay(
        request,
        status=201,
        body=renderer.render(
            request,
            CalendarFeedCreatedOut(**_state(feed)).model_dump(),
            response_status=201,
        ),
        headers={"Content-Type": f"{renderer.media_type}; charset={renderer.charset}"},
    )


@router.delete("/me/calendar-feed", response={204: None})
def revoke_calendar_feed(request: HttpRequest, org_slug: OrgSlug) -> Status[None]:
    """Stop the caller's feed: its address answers 404 from now on (404 when
    there is none)."""
    access = org_access(request, org_slug)
    if not feeds.revoke_feed(access.organisation, user=access.user):
        raise NotFound(_("You have no calendar feed in this organisation."))
    return Status(204, None)
