"""Approval routes (versioned), requests that walk them stage by stage, the approvers
each stage resolves to, one decision per slot, delegations of authority, and the
timers that remind and escalate when nobody decides.

The invariants that must survive races live here as database constraints: one
decision per slot and round, one open request per subject, one timer per subject,
deadline and action.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from rantai.chains.models import ConditionOperator, VersionStatus
from rantai.core.models import Versioned


class SubjectKind(models.TextChoices):
    """What a request asks approval for. Each kind has an adapter (subjects.py)."""

    DEVIATION = "deviation", _("deviation from a procedure")
    DUE_DATE_CHANGE = "due_date_change", _("due-date change of a run")
    TASK_COMPLETION = "task_completion", _("completion of a task")
    WORKLOAD_SHEET = "workload_sheet", _("workload entries of a position")
    WORKLOAD_ANALYSIS = "workload_analysis", _("workload analysis")


class ApproverRule(models.TextChoices):
    SUPERIOR = "superior", _("the requester's superior")
    POSITION = "position", _("the holders of a position")
    UNIT_HEAD = "unit_head", _("the head of a unit or party")
    STEP_ACCOUNTABLE = "step_accountable", _("the accountable of the step")
    PERSON = "person", _("a named person")


class StageMode(models.TextChoices):
    ANY = "any", _("one of them")
    ALL = "all", _("all of them")
    QUORUM = "quorum", _("N of them")


class TimeoutAction(models.TextChoices):
    REMIND = "remind", _("remind the approvers")
    ESCALATE = "escalate", _("escalate to the approvers' superior")
    NOTIFY_OWNER = "notify_owner", _("notify the process owner")


class Route(Versioned):
    """A named approval route for one kind of subject, in versions."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    code = models.CharField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=200)
    subject_kind = models.CharField(
        _("applies to"), max_length=20, choices=SubjectKind.choices
    )
    priority = models.PositiveIntegerField(
        _("priority"),
        default=100,
        help_text=_("When several routes match a subject, the lowest number is used."),
    )
    owner_position = models.ForeignKey(
        "org.Position",
        verbose_name=_("process owner position"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("approval route")
        verbose_name_plural = _("approval routes")
        ordering = ["subject_kind", "priority", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "code"],
                name="route_code_unique_per_org",
                violation_error_message=_("Another route already uses this code."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RouteVersion(Versioned):
    """One version of a route: a draft is editable, a published one is frozen; a
    request keeps the version it started on."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    route = models.ForeignKey(
        Route,
        verbose_name=_("route"),
        on_delete=models.PROTECT,
        related_name="versions",
    )
    number = models.PositiveIntegerField(_("version number"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=VersionStatus.choices,
        default=VersionStatus.DRAFT,
    )
    allow_repeat_approver = models.BooleanField(
        _("one person may fill several slots"),
        default=False,
        help_text=_(
            "Off: a person who decided at one stage is not asked again at a later one."
        ),
    )
    notes = models.TextField(_("notes"), blank=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("published by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)

    class Meta:
        verbose_name = _("route version")
        verbose_name_plural = _("route versions")
        ordering = ["route_id", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["route", "number"],
                name="route_version_number_unique",
                violation_error_message=_("This version number is already used."),
            ),
            models.UniqueConstraint(
                fields=["route"],
                condition=Q(status="draft"),
                name="one_draft_per_route",
                violation_error_message=_("The route already has a draft version."),
            ),
            models.UniqueConstraint(
                fields=["route"],
                condition=Q(status="published"),
                name="one_published_version_per_route",
                violation_error_message=_("The route already has a published version."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.route} v{self.number}"

    @property
    def is_draft(self) -> bool:
        return self.status == VersionStatus.DRAFT


class RouteCondition(models.Model):
    """`field operator value` on the subject's fields; a version applies to a
    subject when all its conditions hold (no conditions: always)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    route_version = models.ForeignKey(
        RouteVersion,
        verbose_name=_("route version"),
        on_delete=models.CASCADE,
        related_name="conditions",
    )
    field = models.CharField(
        _("field"),
        max_length=80,
        help_text=_("A subject field, e.g. procedure, kind, or run.value."),
    )
    operator = models.CharField(
        _("operator"), max_length=10, choices=ConditionOperator.choices
    )
    value = models.JSONField(_("value"), null=True, blank=True)

    class Meta:
        verbose_name = _("route condition")
        verbose_name_plural = _("route conditions")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.field} {self.operator} {self.value}"


class RouteStage(Versioned):
    """One stage of a route version: who approves (a rule), how many must, and what
    happens when its time limit in working hours passes."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    route_version = models.ForeignKey(
        RouteVersion,
        verbose_name=_("route version"),
        on_delete=models.CASCADE,
        related_name="stages",
    )
    order = models.PositiveIntegerField(_("order"))
    name = models.CharField(_("name"), max_length=200)
    rule = models.CharField(_("approvers"), max_length=20, choices=ApproverRule.choices)
    levels = models.PositiveSmallIntegerField(
        _("levels up"),
        default=1,
        help_text=_("For the requester's superior: 1 is the direct superior."),
    )
    position = models.ForeignKey(
        "org.Position",
        verbose_name=_("position"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    party = models.ForeignKey(
        "org.Party",
        verbose_name=_("unit or party"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    person = models.ForeignKey(
        "org.Person",
        verbose_name=_("person"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    mode = models.CharField(
        _("mode"), max_length=10, choices=StageMode.choices, default=StageMode.ANY
    )
    quorum = models.PositiveSmallIntegerField(
        _("approvals needed"),
        null=True,
        blank=True,
        help_text=_("For N of them: how many approvals complete the stage."),
    )
    time_limit_hours = models.PositiveIntegerField(
        _("time limit (working hours)"), null=True, blank=True
    )
    on_timeout = models.CharField(
        _("when the time limit passes"),
        max_length=15,
        choices=TimeoutAction.choices,
        default=TimeoutAction.REMIND,
    )

    class Meta:
        verbose_name = _("route stage")
        verbose_name_plural = _("route stages")
        ordering = ["route_version_id", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["route_version", "order"],
                name="stage_order_unique_per_route_version",
                violation_error_message=_("Another stage already has this order."),
            ),
            models.CheckConstraint(
                condition=Q(levels__gte=1),
                name="stage_levels_at_least_one",
                violation_error_message=_("Levels up must be at least 1."),
            ),
            models.CheckConstraint(
                condition=~Q(mode="quorum") | Q(quorum__gte=1),
                name="stage_quorum_needs_n",
                violation_error_message=_(
                    "N of them needs the number of approvals (at least 1)."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(rule="position") | Q(position__isnull=False),
                name="stage_position_rule_names_position",
                violation_error_message=_("Choose the position whose holders approve."),
            ),
            models.CheckConstraint(
                condition=~Q(rule="unit_head") | Q(party__isnull=False),
                name="stage_unit_head_rule_names_party",
                violation_error_message=_(
                    "Choose the unit or party whose head approves."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(rule="person") | Q(person__isnull=False),
                name="stage_person_rule_names_person",
                violation_error_message=_("Choose the person who approves."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.name}"


class RequestStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("approval request", "open")
    RETURNED = "returned", _("returned for revision")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    WITHDRAWN = "withdrawn", _("withdrawn")


FINAL_REQUEST_STATUSES = frozenset(
    {RequestStatus.APPROVED, RequestStatus.REJECTED, RequestStatus.WITHDRAWN}
)


class ApprovalRequest(Versioned):
    """A request for approval of one subject, walking one route version."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    route_version = models.ForeignKey(
        RouteVersion,
        verbose_name=_("route version"),
        on_delete=models.PROTECT,
        related_name="requests",
    )
    subject_kind = models.CharField(
        _("subject"), max_length=20, choices=SubjectKind.choices
    )
    subject_id = models.PositiveBigIntegerField(_("subject id"))
    subject_version = models.PositiveIntegerField(
        _("subject version"),
        help_text=_("The version of the subject the current decisions bind to."),
    )
    run = models.ForeignKey(
        "chains.Run",
        verbose_name=_("run"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    title = models.CharField(pgettext_lazy("approval request", "title"), max_length=300)
    payload = models.JSONField(_("details"), default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    requester = models.ForeignKey(
        "org.Person",
        verbose_name=_("requester"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    requester_position = models.ForeignKey(
        "org.Position",
        verbose_name=_("requested as"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The position the request is made from (for the superior line)."),
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=RequestStatus.choices,
        default=RequestStatus.OPEN,
    )
    current_stage = models.PositiveIntegerField(
        _("current stage"), null=True, blank=True
    )
    submitted_at = models.DateTimeField(_("submitted"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    last_nudged_at = models.DateTimeField(_("last nudged"), null=True, blank=True)

    class Meta:
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        ordering = ["-submitted_at", "-id"]
        indexes = [
            models.Index(fields=["organisation", "status"]),
            models.Index(fields=["subject_kind", "subject_id"]),
            models.Index(fields=["requester", "status"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["subject_kind", "subject_id"],
                condition=Q(status__in=["open", "returned"]),
                name="one_pending_request_per_subject",
                violation_error_message=_(
                    "This already has an approval request in progress."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_REQUEST_STATUSES


class StageStatus(models.TextChoices):
    WAITING = "waiting", _("waiting")
    OPEN = "open", pgettext_lazy("approval stage", "open")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    RETURNED = "returned", _("returned for revision")
    CANCELLED = "cancelled", _("cancelled")


class RequestStage(models.Model):
    """A stage of one request. `round` counts how often it was opened: a return or
    a change of the subject reopens it, and decisions of older rounds stay as history.
    Updated only under the request's lock."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    request = models.ForeignKey(
        ApprovalRequest,
        verbose_name=_("request"),
        on_delete=models.PROTECT,
        related_name="stages",
    )
    stage = models.ForeignKey(
        RouteStage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="+"
    )
    order = models.PositiveIntegerField(_("order"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=StageStatus.choices,
        default=StageStatus.WAITING,
    )
    round = models.PositiveIntegerField(_("round"), default=0)
    required = models.PositiveSmallIntegerField(_("approvals needed"), default=1)
    opened_at = models.DateTimeField(_("opened"), null=True, blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    escalations = models.PositiveSmallIntegerField(_("escalations"), default=0)

    class Meta:
        verbose_name = _("request stage")
        verbose_name_plural = _("request stages")
        ordering = ["request_id", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "order"], name="request_stage_order_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}/{self.order}"


class ResolutionCause(models.TextChoices):
    OPENED = "opened", _("stage opened")
    ORG_CHANGED = "org_changed", _("organisation changed")
    ESCALATED = "escalated", _("escalated")
    REOPENED = "reopened", _("stage reopened")


class StageApprover(models.Model):
    """Who may decide a request stage now (a slot each): the current resolution.

    Replaced when the stage is resolved again; `via` says how the person was found
    (position held, acting holder, vacancy passed up, escalation)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    request_stage = models.ForeignKey(
        RequestStage,
        verbose_name=_("stage"),
        on_delete=models.CASCADE,
        related_name="approvers",
    )
    person = models.ForeignKey(
        "org.Person",
        verbose_name=_("person"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    position = models.ForeignKey(
        "org.Position",
        verbose_name=_("position"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    via = models.CharField(_("found as"), max_length=300)
    is_acting = models.BooleanField(_("acting holder (Plt)"), default=False)
    escalated = models.BooleanField(_("added by escalation"), default=False)

    class Meta:
        verbose_name = _("approver")
        verbose_name_plural = _("approvers")
        constraints = [
            models.UniqueConstraint(
                fields=["request_stage", "person"], name="one_slot_per_person_per_stage"
            ),
        ]
        indexes = [models.Index(fields=["person", "request_stage"])]

    def __str__(self) -> str:
        return f"{self.person_id} @ {self.request_stage_id}"


class Resolution(models.Model):
    """A record of each time a stage's approvers were worked out, and why."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    request_stage = models.ForeignKey(
        RequestStage,
        verbose_name=_("stage"),
        on_delete=models.PROTECT,
        related_name="resolutions",
    )
    round = models.PositiveIntegerField(_("round"))
    at = models.DateTimeField(_("at"))
    cause = models.CharField(_("cause"), max_length=15, choices=ResolutionCause.choices)
    approvers = models.JSONField(
        _("approvers"),
        default=list,
        help_text=_("[{person, position, via, acting}] as resolved."),
    )

    class Meta:
        verbose_name = _("resolution")
        verbose_name_plural = _("resolutions")
        ordering = ["request_stage_id", "at", "id"]

    def __str__(self) -> str:
        return f"{self.request_stage_id} @ {self.at:%Y-%m-%d %H:%M}"


class Outcome(models.TextChoices):
    APPROVE = "approve", _("approved")
    REJECT = "reject", _("rejected")
    RETURN = "return", _("returned for revision")


class Decision(models.Model):
    """One decision in one slot of one stage round. The slot is the approver's
    person (`slot_person`); under a delegation `decided_by_person` is the delegate and
    `slot_person` the person on whose behalf (a.n.) they decided."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    request = models.ForeignKey(
        ApprovalRequest,
        verbose_name=_("request"),
        on_delete=models.PROTECT,
        related_name="decisions",
    )
    request_stage = models.ForeignKey(
        RequestStage,
        verbose_name=_("stage"),
        on_delete=models.PROTECT,
        related_name="decisions",
    )
    round = models.PositiveIntegerField(_("round"))
    slot_person = models.ForeignKey(
        "org.Person",
        verbose_name=_("approver"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_by_person = models.ForeignKey(
        "org.Person",
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("login"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    delegation = models.ForeignKey(
        "approvals.Delegation",
        verbose_name=_("under delegation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    position = models.ForeignKey(
        "org.Position",
        verbose_name=_("authority"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    outcome = models.CharField(_("decision"), max_length=10, choices=Outcome.choices)
    comment = models.TextField(_("comment"), blank=True)
    return_to_stage = models.PositiveIntegerField(
        _("returned to stage"),
        null=True,
        blank=True,
        help_text=_("0 returns the request to the requester."),
    )
    subject_version = models.PositiveIntegerField(_("subject version"))
    decided_at = models.DateTimeField(_("decided"))
    is_current = models.BooleanField(
        _("counts"),
        default=True,
        help_text=_("Off once the stage was reopened (a return or a changed subject)."),
    )

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["decided_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request_stage", "round", "slot_person"],
                name="one_decision_per_slot",
                violation_error_message=_("This approver has already decided."),
            ),
            models.CheckConstraint(
                condition=~Q(outcome="reject") | ~Q(comment=""),
                name="rejection_has_reason",
                violation_error_message=_("A rejection needs a reason."),
            ),
            models.CheckConstraint(
                condition=~Q(outcome="return") | ~Q(comment=""),
                name="return_has_comment",
                violation_error_message=_("A return for revision needs a comment."),
            ),
            models.CheckConstraint(
                condition=~Q(outcome="return") | Q(return_to_stage__isnull=False),
                name="return_names_stage",
                violation_error_message=_("Say where the request goes back to."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} @ {self.request_stage_id}"


class Delegation(Versioned):
    """Pelimpahan wewenang: a person lets another decide approvals on their behalf
    for a period, for every route or only some. Not re-delegable; revocable; stops on
    the minute it ends."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    delegator = models.ForeignKey(
        "org.Person",
        verbose_name=_("on behalf of"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    delegate = models.ForeignKey(
        "org.Person",
        verbose_name=_("delegate"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    routes = models.ManyToManyField(
        Route,
        verbose_name=_("only for these routes"),
        blank=True,
        related_name="+",
    )
    absence = models.OneToOneField(
        "org.Absence",
        verbose_name=_("absence"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="delegation",
    )
    note = models.TextField(_("note"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("delegation")
        verbose_name_plural = _("delegations")
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["delegate", "ends_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(delegate=F("delegator")),
                name="delegation_to_someone_else",
                violation_error_message=_("A person cannot delegate to themselves."),
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="delegation_ends_after_start",
                violation_error_message=_("The end must be after the start."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.delegator_id} → {self.delegate_id}"


class Nudge(models.Model):
    """Someone waiting reminded the current approvers (rate-limited)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    request = models.ForeignKey(
        ApprovalRequest, on_delete=models.PROTECT, related_name="nudges"
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("nudge")
        verbose_name_plural = _("nudges")
        indexes = [models.Index(fields=["request", "by", "at"])]

    def __str__(self) -> str:
        return f"{self.request_id} by {self.by_id} @ {self.at:%Y-%m-%d %H:%M}"


# --- timers ---------------------------------------------------------------------


class TimerKind(models.TextChoices):
    """Subjects that can run late; each has a rule registered in timers.py."""

    APPROVAL_STAGE = "approval_stage", _("approval stage")
    TASK = "task", _("task")
    OBSTACLE = "obstacle", _("obstacle")
    BRIEFING = "briefing", _("briefing")


class TimerStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("timer", "pending")
    FIRED = "fired", _("fired")
    CANCELLED = "cancelled", _("cancelled")


class Timer(models.Model):
    """A deadline of one subject and what to do when it passes. Written in the
    transaction that sets the deadline; fired at most once (unique key) by a worker
    holding a lease on it, and never after the subject is settled."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=TimerKind.choices)
    subject_id = models.PositiveBigIntegerField(_("subject id"))
    deadline = models.DateTimeField(_("deadline"))
    action = models.CharField(_("action"), max_length=15, choices=TimeoutAction.choices)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=TimerStatus.choices,
        default=TimerStatus.PENDING,
    )
    fire_at = models.DateTimeField(_("fires at"))
    fired_at = models.DateTimeField(_("fired"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("timer")
        verbose_name_plural = _("timers")
        indexes = [models.Index(fields=["status", "fire_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_id", "deadline", "action"],
                name="one_timer_per_subject_deadline_action",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.subject_id} {self.action} @ {self.deadline}"
