"""Role briefings (docs/design-roles.md, "Briefings"), under /o/<org>/briefings/:

* the caller's own briefings, the ones to acknowledge first; for process owners
  and administrators, how far the briefings of each published version are
  acknowledged;
* one briefing: the roles in plain sentences (`briefings.render`), the job
  description, the acknowledge button for the person and the printable PDF;
* a version's acknowledgement status: who has and who has not acknowledged, with
  a button to remind those who have not.

A briefing is read by its person, administrators, auditors and those who
oversee it (the process owner of its version, the holders of the superior of a
new holder's position); anyone else gets 404 (`rantai.roles.queries`). Every
write calls one `rantai.roles.briefings` function, which decides again.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rantai.accounts.access import Access
from rantai.chains.models import ProcedureVersion, StepRole
from rantai.core.errors import ValidationFailed
from rantai.org.models import Holding
from rantai.roles import briefings, queries
from rantai.roles.models import Briefing
from rantai.web import forms_assignment
from rantai.web.access import confirm_action, org_view, render_page

PDF_CONTENT_TYPE = "application/pdf"


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _today(access: Access) -> dt.date:
    zone = zoneinfo.ZoneInfo(access.organisation.time_zone)
    return timezone.now().astimezone(zone).date()


def _next_url(request: HttpRequest, default: str) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return default


def _held_positions(access: Access) -> set[int]:
    """The positions the caller holds today (acting included); one query."""
    return set(
        Holding.objects.current(_today(access))
        .filter(
            organisation=access.organisation,
            person__user=access.user,
            person__is_active=True,
        )
        .values_list("position_id", flat=True)
    )


def _briefing(access: Access, pk: int) -> Briefing:
    """A briefing the caller may read (`roles.queries.briefing`; 404 otherwise)."""
    return queries.briefing(access, pk)


# --- the list -----------------------------------------------------------------------


@dataclass
class VersionRow:
    """A published version's briefings: how many were issued and acknowledged."""

    version: ProcedureVersion
    issued: int
    acknowledged: int

    @property
    def waiting(self) -> int:
        return self.issued - self.acknowledged

    @property
    def percent(self) -> int:
        return round(100 * self.acknowledged / self.issued) if self.issued else 100


def owned_versions(access: Access) -> list[VersionRow]:
    """The versions with briefings whose acknowledgement the caller follows:
    every one for administrators and auditors, those of procedures whose owner
    position they hold for members (partners: none). Two queries."""
    if access.is_partner:
        return []
    versions = ProcedureVersion.objects.filter(
        organisation=access.organisation, briefings__isnull=False
    )
    if not (access.is_admin or access.is_auditor):
        held = _held_positions(access)
        if not held:
            return []
        versions = versions.filter(procedure__owner_position_id__in=held)
    versions = (
        versions.select_related("procedure")
        .annotate(
            issued=Count("briefings", distinct=True),
            acknowledged=Count(
                "briefings",
                filter=Q(briefings__acknowledged_at__isnull=False),
                distinct=True,
            ),
        )
        .order_by("procedure__name", "-number")
    )
    return [
        VersionRow(version, version.issued, version.acknowledged)  # type: ignore[attr-defined]
        for version in versions
    ]


@org_view
@require_http_methods(["GET", "HEAD"])
def briefing_list(request: HttpRequest) -> HttpResponse:
    """The caller's briefings (to acknowledge first) and, for process owners and
    administrators, the acknowledgement of each version's briefings."""
    access = _access(request)
    mine = queries.my_briefings(access)  # newest first
    mine.sort(key=lambda b: b.acknowledged_at is not None)  # to acknowledge first
    return render_page(
        request,
        "web/briefings/list.html",
        nav="briefings",
        tab="briefings",
        mine=[(briefing, briefings.heading(briefing)) for briefing in mine],
        to_acknowledge=sum(1 for b in mine if b.acknowledged_at is None),
        versions=owned_versions(access),
    )


# --- one briefing -------------------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD"])
def briefing_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One briefing in plain sentences, with the acknowledge button for its
    person and the printable version."""
    access = _access(request)
    briefing = _briefing(access, pk)
    own = briefing.person.user_id == access.user.pk
    version = briefing.procedure_version
    return render_page(
        request,
        "web/briefings/detail.html",
        nav="briefings",
        briefing=briefing,
        title=briefings.heading(briefing),
        sections=briefings.render(briefing),
        own=own,
        may_acknowledge=own and briefing.acknowledged_at is None,
        form=forms_assignment.AcknowledgeForm(initial={"version": briefing.version}),
        may_see_status=version is not None and _follows(access, version),
    )


def _follows(access: Access, version: ProcedureVersion) -> bool:
    """Whether the caller may read the version's acknowledgement status:
    administrators, auditors and the holders of its procedure's owner position."""
    if access.is_admin or access.is_auditor:
        return True
    if access.is_partner:
        return False
    return version.procedure.owner_position_id in _held_positions(access)


@org_view
@require_http_methods(["GET", "POST"])
def briefing_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """The person confirms they have read their briefing."""
    access = _access(request)
    briefing = _briefing(access, pk)
    if briefing.person.user_id != access.user.pk:
        raise DjangoPermissionDenied
    back = _url("briefing-detail", access, briefing.pk)

    def act(expected_version: int) -> str:
        briefings.acknowledge(
            briefing, actor=access.user, expected_version=expected_version
        )
        return back

    return confirm_action(
        request,
        version=briefing.version,
        act=act,
        success=_("Thank you: your briefing is acknowledged."),
        title=_("Acknowledge your briefing"),
        submit=_("I have read and understood my roles"),
        cancel_url=back,
        intro=_(
            "Your process owner sees that you acknowledged it, and the reminders stop."
        ),
        nav="briefings",
    )


@org_view
@require_GET
def briefing_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The briefing printed for onboarding."""
    access = _access(request)
    briefing = _briefing(access, pk)
    response = HttpResponse(
        briefings.pdf(briefing, language=get_language() or "en"),
        content_type=PDF_CONTENT_TYPE,
    )
    response["Content-Disposition"] = f'inline; filename="briefing-{briefing.pk}.pdf"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@org_view
@require_POST
def briefing_remind(request: HttpRequest, pk: int) -> HttpResponse:
    """Remind the person to acknowledge their briefing (the process owner or an
    administrator); back to the page the button was on."""
    access = _access(request)
    briefing = _briefing(access, pk)
    default = (
        _url("briefing-version", access, briefing.procedure_version_id)
        if briefing.procedure_version_id
        else _url("briefing-detail", access, briefing.pk)
    )
    if not briefings.may_remind(briefing, access.user):
        raise DjangoPermissionDenied
    try:
        briefings.remind(briefing, actor=access.user)
    except ValidationFailed as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("%(person)s was reminded to acknowledge their briefing.")
            % {"person": briefing.person.full_name},
        )
    return redirect(_next_url(request, default))


# --- a version's acknowledgement ----------------------------------------------------


@dataclass
class StatusRow:
    """One person's briefing on the version's roles: the version's own, or the
    briefing of someone who started holding a position with a role in it later."""

    briefing_id: int
    person_name: str
    has_login: bool
    issued_at: dt.datetime
    acknowledged_at: dt.datetime | None
    reminders: int
    last_reminded_at: dt.datetime | None
    new_holder_of: str = ""  # the position they started holding
    readable: bool = True
    may_remind: bool = False


def new_holder_briefings(version: ProcedureVersion) -> list[Briefing]:
    """The briefings of people who started holding a position with a role in the
    version after it was published: their briefing covers its roles too (the
    version's own briefings went to those who held the positions when it was
    published). One query; the frozen content says which versions it covers."""
    found = (
        Briefing.objects.filter(
            organisation_id=version.organisation_id,
            holding__position_id__in=StepRole.objects.filter(
                step__procedure_version_id=version.pk, position__isnull=False
            ).values("position_id"),
        )
        .select_related("person", "holding__position")
        .order_by("person__full_name", "person_id", "id")
    )
    return [
        briefing
        for briefing in found
        if any(
            role.get("version_id") == version.pk
            for role in (briefing.content or {}).get("roles", [])
        )
    ]


@org_view
@require_http_methods(["GET", "HEAD"])
def version_status(request: HttpRequest, version_pk: int) -> HttpResponse:
    """Who has and who has not acknowledged their briefing on a version's roles:
    those briefed when it was published and those who started holding one of
    its positions since."""
    access = _access(request)
    status = queries.version_briefing_status(access, version_pk)
    rows = [
        StatusRow(
            briefing_id=row.briefing_id,
            person_name=row.person_name,
            has_login=row.has_login,
            issued_at=row.issued_at,
            acknowledged_at=row.acknowledged_at,
            reminders=row.reminders,
            last_reminded_at=row.last_reminded_at,
            may_remind=status.may_remind and not access.is_auditor,
        )
        for row in status.rows
    ]
    later = new_holder_briefings(status.version)
    if later:
        # A new holder's briefing is read and reminded by administrators, auditors
        # (reading only) and the holders of the position's superior.
        held = (
            set() if access.is_admin or access.is_auditor else _held_positions(access)
        )
        for briefing in later:
            assert briefing.holding is not None
            superior = briefing.holding.position.superior_id
            oversees = superior is not None and superior in held
            rows.append(
                StatusRow(
                    briefing_id=briefing.pk,
                    person_name=briefing.person.full_name,
                    has_login=briefing.person.user_id is not None,
                    issued_at=briefing.issued_at,
                    acknowledged_at=briefing.acknowledged_at,
                    reminders=briefing.reminders_sent,
                    last_reminded_at=briefing.last_reminded_at,
                    new_holder_of=briefing.holding.position.title,
                    readable=access.is_admin or access.is_auditor or oversees,
                    may_remind=access.is_admin or (oversees and not access.is_auditor),
                )
            )
    return render_page(
        request,
        "web/briefings/version.html",
        nav="briefings",
        version=status.version,
        waiting=[row for row in rows if row.acknowledged_at is None],
        done=[row for row in rows if row.acknowledged_at is not None],
        total=len(rows),
        next_url=request.path,
    )
