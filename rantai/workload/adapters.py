"""The approval subjects of workload analysis (`wiring.register()` registers them).

* `workload_sheet` — the entries of one position (`PositionSheet`). Decisions bind
  to the sheet's `entries_version`; the accountable position a `step_accountable`
  stage asks is the position's **superior position** (so the engine resolves its
  holders, acting holders, and passes a vacancy up). Approved: the sheet is
  validated (and when it was the last one, the analyst is told). Rejected or
  returned to the requester: the sheet is returned for revision and its other
  incumbents are told (the engine tells the requester). Withdrawn: a draft again.
  Resubmitted through the approval pages: submitted again (the same checks as
  `services.submit_sheet`).
* `workload_analysis` — an `Analysis`. Decisions bind to its `version`; the
  accountable position is the unit's head position. Approved: approved and
  frozen, `approved_by`/`approved_at`/`approved_by_position` from the decision.
  Rejected, returned or withdrawn: collecting again (the decision's comment stays
  on the request). Resubmitted through the approval pages: in review again —
  without moving its version, which the resubmitted request has just bound to.

Titles hold data only (positions, units, years), as the chains adapters' do.
Every effect is recorded on the subject in the audit trail, as the person who
caused it (the decider; the requester for withdrawals and resubmissions).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from rantai.accounts.models import Organisation, User
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    RequestStatus,
    SubjectKind,
)
from rantai.approvals.subjects import Adapter
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import NotFound, ValidationFailed
from rantai.notifications import events
from rantai.notifications import services as notifications
from rantai.org.models import Person
from rantai.workload import services
from rantai.workload.models import (
    Analysis,
    AnalysisStatus,
    Entry,
    PositionSheet,
    SheetStatus,
)

TITLE_LENGTH = 300


def _clip(title: str) -> str:
    return title if len(title) <= TITLE_LENGTH else title[: TITLE_LENGTH - 1] + "…"


def _last_decision(
    request: ApprovalRequest,
) -> tuple[int | None, int | None, int | None]:
    """(user, person, position) of the request's latest decision."""
    row = (
        Decision.objects.filter(request_id=request.pk)
        .order_by("-decided_at", "-id")
        .values_list("decided_by_id", "decided_by_person_id", "position_id")
        .first()
    )
    return row if row is not None else (None, None, None)


def _user(user_id: int | None) -> User | None:
    return None if user_id is None else User.objects.filter(pk=user_id).first()


def _person_of(organisation_id: int, user: User) -> int | None:
    return (
        Person.objects.filter(organisation_id=organisation_id, user=user)
        .values_list("pk", flat=True)
        .first()
    )


# --- a position's entries -----------------------------------------------------------


def load_sheet(pk: int) -> PositionSheet:
    try:
        return PositionSheet.objects.select_related(
            "analysis__organisation", "analysis__unit", "position"
        ).get(pk=pk)
    except ObjectDoesNotExist as error:
        raise NotFound() from error


def sheet_title(sheet: PositionSheet) -> str:
    analysis = sheet.analysis
    return _clip(
        f"{sheet.position.title} — {analysis.unit.name} {analysis.year}"
        + (f" r{analysis.revision}" if analysis.revision > 1 else "")
    )


def sheet_fields(sheet: PositionSheet) -> dict[str, Any]:
    analysis = sheet.analysis
    return {
        "unit": analysis.unit.code,
        "year": analysis.year,
        "position": sheet.position.code,
    }


def _lock(sheet: PositionSheet) -> PositionSheet:
    return (
        PositionSheet.objects.select_for_update(of=("self",))
        .select_related("analysis__organisation", "analysis__unit", "position")
        .get(pk=sheet.pk)
    )


def _set_status(
    subject: PositionSheet | Analysis,
    *,
    organisation: Organisation,
    label: str,
    version_field: str,
    actor: User | None,
    verb: str,
    status: str,
    at: dt.datetime,
    request: ApprovalRequest,
    extra: dict[str, Any] | None = None,
    keep_version: bool = False,
) -> bool:
    """Move the sheet or analysis to `status` (compare-and-set, or without moving
    its version with `keep_version`; nothing when it is there already) and record
    it with the request and the version decisions bind to (`version_field`).
    Whether it moved."""
    before = subject.status
    if before == status:
        return False
    fields = {"status": status, "updated_at": at, **(extra or {})}
    if keep_version:
        type(subject).objects.filter(pk=subject.pk).update(**fields)
        for name, value in fields.items():
            setattr(subject, name, value)
    else:
        compare_and_set(subject, expected_version=subject.version, fields=fields)
    audit.record(
        organisation,
        actor=actor,
        verb=verb,
        target=subject,
        changes={
            "status": [before, status],
            "request": request.pk,
            version_field: getattr(subject, version_field),
        },
        target_label=label,
    )
    return True


def _set_sheet(sheet: PositionSheet, **change: Any) -> bool:
    """`_set_status` of a sheet (decisions bind to its entries' version)."""
    return _set_status(
        sheet,
        organisation=sheet.analysis.organisation,
        label=sheet_title(sheet),
        version_field="entries_version",
        **change,
    )


def _tell_returned(
    sheet: PositionSheet, request: ApprovalRequest, at: dt.datetime
) -> None:
    """The incumbents (the requester hears from the engine) of a returned sheet."""
    analysis = sheet.analysis
    organisation = analysis.organisation
    services._tell_incumbents(
        analysis,
        organisation=organisation,
        sheets=[sheet],
        day=services._local_date(organisation, at),
        reason="returned",
        key=f"workload:sheet:{sheet.pk}:returned:{sheet.version}",
        title=services._text(
            gettext_noop(
                "Workload entries returned for revision: %(position)s — %(unit)s "
                "%(year)s"
            ),
            position=sheet.position.title,
            unit=analysis.unit.name,
            year=analysis.year,
        ),
        url=services.sheet_path(sheet, organisation.slug),
        now=at,
        leave_out=[request.requester_id],
    )


def sheet_approved(
    sheet: PositionSheet, request: ApprovalRequest, actor: User, at: dt.datetime
) -> None:
    locked = _lock(sheet)
    analysis = locked.analysis
    if analysis.is_frozen:
        raise ValidationFailed(
            _("The analysis is %(status)s; its sheets can no longer be validated.")
            % {"status": analysis.get_status_display()}
        )
    _user_id, person_id, _position = _last_decision(request)
    _set_sheet(
        locked,
        actor=actor,
        verb=AuditVerb.VALIDATED,
        status=SheetStatus.VALIDATED,
        at=at,
        request=request,
        extra={"validated_at": at, "validated_by_id": person_id},
    )
    counts = dict(
        PositionSheet.objects.filter(analysis_id=analysis.pk)
        .values_list("status")
        .annotate(count=Count("id"))
        .order_by()
    )
    if sum(counts.values()) == counts.get(SheetStatus.VALIDATED, 0):
        _tell_all_validated(analysis, locked, at)


def _tell_all_validated(
    analysis: Analysis, sheet: PositionSheet, at: dt.datetime
) -> None:
    organisation = analysis.organisation
    key = f"workload:analysis:{analysis.pk}:validated:{sheet.pk}:{sheet.version}"
    notifications.notify(
        organisation,
        recipients=services._users_of([analysis.analyst_id]),
        event_type=events.WORKLOAD_SHEETS_VALIDATED,
        key=key,
        title=services._text(
            gettext_noop(
                "Every position is validated: %(unit)s %(year)s is ready to compute "
                "and submit"
            ),
            unit=analysis.unit.name,
            year=analysis.year,
        ),
        url=services.analysis_path(analysis, organisation.slug),
        now=at,
    )
    services._publish(
        organisation,
        events.WORKLOAD_SHEETS_VALIDATED,
        key,
        lambda: {"analysis": services._analysis_data(analysis, organisation)},
        at,
    )


def sheet_rejected(
    sheet: PositionSheet, request: ApprovalRequest, actor: User, at: dt.datetime
) -> None:
    locked = _lock(sheet)
    if _set_sheet(
        locked,
        actor=actor,
        verb=AuditVerb.REJECTED,
        status=SheetStatus.RETURNED,
        at=at,
        request=request,
    ):
        _tell_returned(locked, request, at)


def _check_resubmittable(sheet: PositionSheet) -> None:
    analysis = sheet.analysis
    if analysis.status != AnalysisStatus.COLLECTING:
        raise ValidationFailed(
            _("The analysis is %(status)s; its sheets cannot be submitted now.")
            % {"status": analysis.get_status_display()}
        )
    if not Entry.objects.filter(sheet_id=sheet.pk).exists():
        # Its duties may have been taken again since it was returned.
        raise ValidationFailed(
            _(
                "This position has no duties: add them to its job description, "
                "then take the duties from the job description again on this sheet."
            )
        )
    if Entry.objects.filter(sheet_id=sheet.pk, volume__isnull=True).exists() or (
        Entry.objects.filter(sheet_id=sheet.pk, standard_time__isnull=True).exists()
    ):
        raise ValidationFailed(
            _("Fill in the volume and the standard time of every duty first.")
        )


def sheet_status_changed(
    sheet: PositionSheet, request: ApprovalRequest, status: str, at: dt.datetime
) -> None:
    locked = _lock(sheet)
    if status == RequestStatus.RETURNED:
        if _set_sheet(
            locked,
            actor=_user(_last_decision(request)[0]),
            verb=AuditVerb.RETURNED,
            status=SheetStatus.RETURNED,
            at=at,
            request=request,
        ):
            _tell_returned(locked, request, at)
    elif status == RequestStatus.WITHDRAWN:
        _set_sheet(
            locked,
            actor=_user(request.requested_by_id),
            verb=AuditVerb.WITHDRAWN,
            status=SheetStatus.DRAFT,
            at=at,
            request=request,
        )
    elif status == RequestStatus.OPEN and locked.status != SheetStatus.SUBMITTED:
        _check_resubmittable(locked)
        _set_sheet(
            locked,
            actor=_user(request.requested_by_id),
            verb=AuditVerb.SUBMITTED,
            status=SheetStatus.SUBMITTED,
            at=at,
            request=request,
            extra={"submitted_at": at},
        )


WORKLOAD_SHEET = Adapter(
    kind=SubjectKind.WORKLOAD_SHEET,
    load=load_sheet,
    organisation_id=lambda sheet: sheet.organisation_id,
    run_id=lambda sheet: None,
    title=sheet_title,
    fields=sheet_fields,
    version=lambda sheet: sheet.entries_version,
    accountable_position_id=lambda sheet: sheet.position.superior_id,
    on_approved=sheet_approved,
    on_rejected=sheet_rejected,
    field_names=lambda: {
        "unit": _("unit (its code)"),
        "year": _("year"),
        "position": _("position (its code)"),
    },
    on_status_changed=sheet_status_changed,
)


# --- an analysis ---------------------------------------------------------------------


def load_analysis(pk: int) -> Analysis:
    try:
        return Analysis.objects.select_related("organisation", "unit").get(pk=pk)
    except ObjectDoesNotExist as error:
        raise NotFound() from error


def analysis_title(analysis: Analysis) -> str:
    return _clip(f"{analysis.unit.name} {analysis.year} r{analysis.revision}")


def _lock_analysis(analysis: Analysis) -> Analysis:
    return (
        Analysis.objects.select_for_update(of=("self",))
        .select_related("organisation", "unit")
        .get(pk=analysis.pk)
    )


def _set_analysis(analysis: Analysis, **change: Any) -> bool:
    """`_set_status` of an analysis (decisions bind to its version)."""
    return _set_status(
        analysis,
        organisation=analysis.organisation,
        label=analysis_title(analysis),
        version_field="version",
        **change,
    )


def _tell_decided(
    analysis: Analysis,
    request: ApprovalRequest,
    status: str,
    decider_person_id: int | None,
    at: dt.datetime,
) -> None:
    organisation = analysis.organisation
    titles = {
        "approved": gettext_noop("Workload analysis approved: %(unit)s %(year)s"),
        "rejected": gettext_noop(
            "Workload analysis rejected, collecting again: %(unit)s %(year)s"
        ),
        "returned": gettext_noop(
            "Workload analysis returned for revision: %(unit)s %(year)s"
        ),
    }
    key = f"workload:analysis:{analysis.pk}:request:{request.pk}:{status}:{analysis.version}"
    notifications.notify(
        organisation,
        recipients=services._users_of([analysis.analyst_id]),
        event_type=events.WORKLOAD_ANALYSIS_DECIDED,
        key=key,
        title=services._text(
            titles[status], unit=analysis.unit.name, year=analysis.year
        ),
        url=services.analysis_path(analysis, organisation.slug),
        now=at,
    )

    def data() -> dict[str, Any]:
        name = (
            Person.objects.filter(pk=decider_person_id)
            .values_list("full_name", flat=True)
            .first()
            if decider_person_id is not None
            else None
        )
        return {
            "analysis": services._analysis_data(analysis, organisation),
            "status": status,
            "decided_by": {"id": decider_person_id or 0, "name": name or ""},
        }

    services._publish(organisation, events.WORKLOAD_ANALYSIS_DECIDED, key, data, at)


def analysis_approved(
    analysis: Analysis, request: ApprovalRequest, actor: User, at: dt.datetime
) -> None:
    locked = _lock_analysis(analysis)
    _user_id, person_id, position_id = _last_decision(request)
    if person_id is None:
        person_id = _person_of(locked.organisation_id, actor)
    _set_analysis(
        locked,
        actor=actor,
        verb=AuditVerb.APPROVED,
        status=AnalysisStatus.APPROVED,
        at=at,
        request=request,
        extra={
            "approved_at": at,
            "approved_by_id": person_id,
            "approved_by_position_id": position_id,
        },
    )
    _tell_decided(locked, request, "approved", person_id, at)


def analysis_rejected(
    analysis: Analysis, request: ApprovalRequest, actor: User, at: dt.datetime
) -> None:
    locked = _lock_analysis(analysis)
    if _set_analysis(
        locked,
        actor=actor,
        verb=AuditVerb.REJECTED,
        status=AnalysisStatus.COLLECTING,
        at=at,
        request=request,
    ):
        _tell_decided(locked, request, "rejected", _last_decision(request)[1], at)


def analysis_status_changed(
    analysis: Analysis, request: ApprovalRequest, status: str, at: dt.datetime
) -> None:
    locked = _lock_analysis(analysis)
    if status == RequestStatus.RETURNED:
        user_id, person_id, _position = _last_decision(request)
        if _set_analysis(
            locked,
            actor=_user(user_id),
            verb=AuditVerb.RETURNED,
            status=AnalysisStatus.COLLECTING,
            at=at,
            request=request,
        ):
            _tell_decided(locked, request, "returned", person_id, at)
    elif status == RequestStatus.WITHDRAWN:
        _set_analysis(
            locked,
            actor=_user(request.requested_by_id),
            verb=AuditVerb.WITHDRAWN,
            status=AnalysisStatus.COLLECTING,
            at=at,
            request=request,
        )
    elif status == RequestStatus.OPEN and locked.status != AnalysisStatus.IN_REVIEW:
        # Resubmitted from the approval pages: the request has just bound to the
        # analysis's version, so the status moves without moving the version.
        if locked.status != AnalysisStatus.COLLECTING:
            raise services._frozen_error(locked)
        if (
            locked.computed_at is None
            or PositionSheet.objects.filter(analysis_id=locked.pk)
            .exclude(status=SheetStatus.VALIDATED)
            .exists()
        ):
            raise ValidationFailed(
                _(
                    "Every position's entries must be validated and the analysis "
                    "computed first: submit it from the analysis's page."
                )
            )
        _set_analysis(
            locked,
            actor=_user(request.requested_by_id),
            verb=AuditVerb.SUBMITTED,
            status=AnalysisStatus.IN_REVIEW,
            at=at,
            request=request,
            keep_version=True,
        )


WORKLOAD_ANALYSIS = Adapter(
    kind=SubjectKind.WORKLOAD_ANALYSIS,
    load=load_analysis,
    organisation_id=lambda analysis: analysis.organisation_id,
    run_id=lambda analysis: None,
    title=analysis_title,
    fields=lambda analysis: {"unit": analysis.unit.code, "year": analysis.year},
    version=lambda analysis: analysis.version,
    accountable_position_id=lambda analysis: analysis.unit.head_position_id,
    on_approved=analysis_approved,
    on_rejected=analysis_rejected,
    field_names=lambda: {"unit": _("unit (its code)"), "year": _("year")},
    on_status_changed=analysis_status_changed,
)

ADAPTERS = (WORKLOAD_SHEET, WORKLOAD_ANALYSIS)
