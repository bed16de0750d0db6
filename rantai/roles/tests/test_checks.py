"""Role checks: every rule (found and not found), publishing refused on an error
and allowed with warnings, acknowledging and withdrawing a warning, and the
query counts (docs/design-roles.md, "Role checks").

The organisation is acme (`rantai.testing.SmallOrg`): Rina holds Head of export
(the procedures' owner), Budi alone holds Export clerk, the Director is vacant,
Joko holds Forwarder operations of the outside partner Fast Forwarding. `T0` is
Monday 2 March 2026, 08:00 in Jakarta; a working day is 480 minutes, the load
window 10 working days (4,800 minutes).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.accounts.access import access_for
from rantai.audit.models import AuditVerb
from rantai.chains import extensions
from rantai.chains import services as chains
from rantai.chains.calendar import CalendarSpec
from rantai.chains.models import ProcedureVersion, RaciRole, Step, StepRole, TaskStatus
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.org import services as org
from rantai.roles import checks, policy, raci
from rantai.roles.checks import Finding, Severity
from rantai.roles.models import CheckAcknowledgement, CheckRule
from rantai.roles.tests import factories as f
from rantai.roles.tests.factories import T0
from rantai.testing import SmallOrg

pytestmark = pytest.mark.django_db

JAKARTA = zoneinfo.ZoneInfo("Asia/Jakarta")


@pytest.fixture(autouse=True)
def only_the_publish_guard() -> Iterator[extensions.Registry]:
    """A clean chains registry with only the role checks' publish guard: the
    engine assigns the sole holder of a position, nothing else takes part."""
    with extensions.isolated_registry() as registry:
        extensions.register_publish_guard(checks.publish_guard)
        yield registry


@pytest.fixture
def o() -> SmallOrg:
    o = f.organisation()
    f.duty(o, o.export_staff, "Prepare the quotation")
    f.duty(o, o.export_staff, "Pack the goods")
    return o


def found(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return [(x.rule, x.severity, x.subject) for x in findings]


def of_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [x for x in findings if x.rule == rule]


def quote_row(o: SmallOrg, **changes) -> f.StepRow:  # type: ignore[no-untyped-def]
    """The clerk prepares the quotation (a duty of the clerk), the head answers."""
    values = {
        "responsible": o.export_staff,
        "accountable": o.export_head,
        "duty": f.duty_of(o.export_staff, "Prepare the quotation"),
    }
    values.update(changes)
    return f.StepRow("quote", **values)


def step(version: ProcedureVersion, key: str) -> Step:
    return version.steps.get(key=key)


# --- accountable_count ---------------------------------------------------------------


def test_a_step_without_accountable_is_an_error(o: SmallOrg):
    draft = f.procedure(o, [quote_row(o)], publish=False)
    quote = step(draft, "quote")
    raci.set_cell(quote, actor=o.admin, position=o.export_head, roles=set())

    findings = checks.check_version(draft, now=T0)

    assert findings == [
        Finding(
            rule=CheckRule.ACCOUNTABLE_COUNT,
            severity=Severity.ERROR,
            subject=f"v{draft.pk}:step:{quote.pk}",
            message="Step “Quote” of Procedure SHIP, version 1 has no accountable "
            "position.",
            explanation=str(checks.EXPLANATIONS[CheckRule.ACCOUNTABLE_COUNT]),
            fix=("step", quote.pk),
            procedure_id=draft.procedure_id,
            version_id=draft.pk,
            step_id=quote.pk,
            owner_position_id=o.export_head.pk,
        )
    ]


def test_a_step_with_two_accountables_is_an_error(o: SmallOrg):
    draft = f.procedure(o, [quote_row(o)], publish=False)
    quote = step(draft, "quote")
    # Written past the services (which refuse it), as older data might be.
    StepRole.objects.create(
        organisation=o.organisation,
        step=quote,
        role=RaciRole.ACCOUNTABLE,
        position=o.director,
    )
    f.hold(o, o.director, f.person(o, "dedi"))

    findings = checks.check_version(draft, now=T0)

    assert [(x.rule, x.message) for x in findings] == [
        (
            CheckRule.ACCOUNTABLE_COUNT,
            "Step “Quote” of Procedure SHIP, version 1 has 2 accountable positions "
            "(Head of export, Director).",
        )
    ]


def test_a_step_with_one_accountable_passes(o: SmallOrg):
    version = f.procedure(o, [quote_row(o)])

    assert checks.check_version(version, now=T0) == []


# --- external_accountable -------------------------------------------------------------


def test_an_outside_partner_accountable_for_internal_work_is_an_error(o: SmallOrg):
    draft = f.procedure(o, [quote_row(o, accountable=o.forwarder_ops)], publish=False)
    quote = step(draft, "quote")

    findings = checks.check_version(draft, now=T0)

    assert found(findings) == [
        (CheckRule.EXTERNAL_ACCOUNTABLE, "error", f"v{draft.pk}:step:{quote.pk}")
    ]
    assert findings[0].message == (
        "Step “Quote” of Procedure SHIP, version 1 is done by Export clerk, an "
        "internal position, but Forwarder operations of the outside partner Fast "
        "Forwarding is accountable for it."
    )
    assert findings[0].fix == ("step", quote.pk)


def test_an_outside_partner_may_be_accountable_for_its_own_work(o: SmallOrg):
    draft = f.procedure(
        o,
        [
            f.StepRow("pickup", responsible=o.forwarder, accountable=o.forwarder_ops),
            f.StepRow(
                "deliver", responsible=o.forwarder_ops, accountable=o.forwarder_ops
            ),
        ],
        publish=False,
    )

    findings = checks.check_version(draft, now=T0)

    # The partner's own steps: no error (and a party's duty is its own business;
    # the partner's position names no duty of its job description).
    assert [x.rule for x in findings] == [CheckRule.DUTY_NOT_COVERED]
    assert findings[0].subject.endswith(f":position:{o.forwarder_ops.pk}")


# --- publishing ---------------------------------------------------------------------------


def test_publishing_a_version_with_an_error_is_refused(o: SmallOrg, audit_trail):
    draft = f.procedure(o, [quote_row(o, accountable=o.forwarder_ops)], publish=False)
    trail = audit_trail(o.organisation)

    with pytest.raises(ValidationFailed) as refused:
        chains.publish(draft, actor=o.admin, expected_version=None, now=T0)

    assert refused.value.errors == {
        "__all__": [
            "Step “Quote” of Procedure SHIP, version 1 is done by Export clerk, an "
            "internal position, but Forwarder operations of the outside partner "
            "Fast Forwarding is accountable for it."
        ]
    }
    draft.refresh_from_db()
    assert draft.status == "draft"
    trail.assert_nothing_new()


def test_publishing_with_warnings_only_is_allowed(o: SmallOrg):
    draft = f.procedure(
        o,
        [
            quote_row(o, duty=None),
            f.StepRow("sign", responsible=o.director, accountable=o.export_head),
        ],
        publish=False,
    )
    assert {x.severity for x in checks.check_version(draft, now=T0)} == {"warning"}

    chains.publish(draft, actor=o.admin, expected_version=None, now=T0)

    draft.refresh_from_db()
    assert draft.status == "published"


def test_the_publish_guard_leaves_the_accountable_count_to_chains(o: SmallOrg):
    draft = f.procedure(o, [quote_row(o)], publish=False)
    raci.set_cell(
        step(draft, "quote"), actor=o.admin, position=o.export_head, roles=set()
    )

    assert checks.publish_guard(draft.pk) == []
    with pytest.raises(ValidationFailed) as refused:
        chains.publish(draft, actor=o.admin, expected_version=None, now=T0)
    # Said once, by chains.
    assert refused.value.errors["__all__"] == [
        "Step “Quote” needs exactly one accountable position (it has 0)."
    ]
    assert checks.publish_guard(0) == []


# --- duty_not_covered -----------------------------------------------------------------


def test_a_responsible_whose_job_description_lacks_the_duty_is_warned(o: SmallOrg):
    pack = f.duty_of(o.export_staff, "Pack the goods")
    draft = f.procedure(
        o,
        [
            quote_row(o),  # the clerk's own duty: fine
            f.StepRow("price", responsible=o.export_staff, accountable=o.export_head),
            f.StepRow(
                "approve",
                responsible=o.export_staff,
                accountable=o.export_head,
                duty=f.duty_of(o.export_head, "Price shipping"),
            ),
            f.StepRow(
                "pack", responsible=o.export_staff, accountable=o.export_head, duty=pack
            ),
            f.StepRow("pickup", responsible=o.forwarder, accountable=o.export_head),
        ],
        publish=False,
    )
    org.deactivate_duty(pack, actor=o.admin, expected_version=None)
    clerk = o.export_staff.pk

    findings = checks.check_version(draft, now=T0)

    assert [(x.rule, x.severity, x.subject, x.fix) for x in findings] == [
        (
            CheckRule.DUTY_NOT_COVERED,
            "warning",
            f"v{draft.pk}:step:{step(draft, key).pk}:position:{clerk}",
            ("step", step(draft, key).pk),
        )
        for key in ("price", "approve", "pack")
    ]
    assert [x.message for x in findings] == [
        "Step “Price” of Procedure SHIP, version 1 names no duty, so it is not part "
        "of the job description of Export clerk, its responsible.",
        "Step “Approve” of Procedure SHIP, version 1 is the duty “Price shipping” of "
        "Head of export, which is not in the job description of Export clerk, its "
        "responsible.",
        "Step “Pack” of Procedure SHIP, version 1 is the duty “Pack the goods”, which "
        "is no longer in the job description of Export clerk.",
    ]


# --- vacant_position ----------------------------------------------------------------------


def vacant_director_version(
    o: SmallOrg, *, publish: bool = True, code: str = "SHIP"
) -> ProcedureVersion:
    """The Director is accountable for the quote and responsible for the sign-off
    (and only consulted on the pickup)."""
    return f.procedure(
        o,
        [
            quote_row(o, accountable=o.director),
            f.StepRow(
                "pickup",
                responsible=o.forwarder,
                accountable=o.export_head,
                consulted=[o.director],
            ),
            f.StepRow(
                "sign",
                responsible=o.director,
                accountable=o.export_head,
                duty=f.duty(o, o.director, "Sign the contract"),
            ),
        ],
        code=code,
        publish=publish,
    )


def test_a_vacant_responsible_or_accountable_position_is_warned(o: SmallOrg):
    version = vacant_director_version(o)

    findings = checks.check_version(version, now=T0)

    assert [(x.rule, x.subject, x.fix, x.step_id) for x in findings] == [
        (
            CheckRule.VACANT_POSITION,
            f"v{version.pk}:position:{o.director.pk}",
            ("position", o.director.pk),
            step(version, "quote").pk,
        )
    ]
    assert findings[0].message == (
        "Director has no holder, and it is responsible or accountable for 2 steps of "
        "Procedure SHIP, version 1 (Quote, Sign)."
    )


def test_a_position_with_a_holder_or_an_acting_holder_is_not_vacant(o: SmallOrg):
    version = vacant_director_version(o)
    f.hold(o, o.director, f.person(o, "ani"), acting=True)

    assert checks.check_version(version, now=T0) == []


def test_a_holder_whose_holding_ended_leaves_the_position_vacant(o: SmallOrg):
    version = vacant_director_version(o)
    f.hold(o, o.director, f.person(o, "ani"), end=dt.date(2026, 2, 28))

    assert [x.rule for x in checks.check_version(version, now=T0)] == [
        CheckRule.VACANT_POSITION
    ]


def test_only_consulted_is_not_a_vacancy_finding(o: SmallOrg):
    version = f.procedure(
        o,
        [
            f.StepRow(
                "pickup",
                responsible=o.forwarder,
                accountable=o.export_head,
                consulted=[o.director],
            )
        ],
    )

    assert checks.check_version(version, now=T0) == []


def test_a_retired_version_with_runs_under_way_is_checked_for_vacancies_only(
    o: SmallOrg,
):
    first = vacant_director_version(o)
    run = f.start_run(first, actor=o.admin)
    draft = chains.new_draft(first.procedure, actor=o.admin)
    raci.set_cell(step(draft, "quote"), actor=o.admin, position=o.director, roles=set())
    raci.set_cell(
        step(draft, "quote"), actor=o.admin, position=o.export_head, roles={"A"}
    )
    raci.set_cell(step(draft, "sign"), actor=o.admin, position=o.director, roles=set())
    raci.set_cell(
        step(draft, "sign"), actor=o.admin, position=o.export_head, roles={"R", "A"}
    )
    chains.publish(draft, actor=o.admin, expected_version=None, now=T0)

    findings = checks.check_organisation(o.organisation, now=T0)

    # Version 1 (retired, its run still active): the vacancy. Version 2 (published):
    # Head of export signs without "Sign the contract" in its job description.
    assert found(findings) == [
        (CheckRule.VACANT_POSITION, "warning", f"v{first.pk}:position:{o.director.pk}"),
        (
            CheckRule.DUTY_NOT_COVERED,
            "warning",
            f"v{draft.pk}:step:{step(draft, 'sign').pk}:position:{o.export_head.pk}",
        ),
    ]

    chains.cancel_run(
        run, actor=o.admin, expected_version=None, reason="Order cancelled"
    )
    assert [
        x.version_id for x in checks.check_organisation(o.organisation, now=T0)
    ] == [draft.pk]


# --- over_capacity ------------------------------------------------------------------------


def clerk_version(
    o: SmallOrg, *, days: str = "6", then_days: str | None = None
) -> ProcedureVersion:
    rows = [quote_row(o, days=days)]
    if then_days is not None:
        rows.append(
            f.StepRow(
                "pack",
                responsible=o.export_staff,
                accountable=o.export_head,
                duty=f.duty_of(o.export_staff, "Pack the goods"),
                days=then_days,
                after=["quote"],
            )
        )
    return f.procedure(o, rows)


def test_a_person_with_more_work_than_time_in_the_window_is_warned(o: SmallOrg):
    version = clerk_version(o)
    for number in range(2):
        f.start_run(version, actor=o.admin, title=f"Order {number}")

    findings = checks.check_organisation(o.organisation, now=T0)

    # Two open tasks of 6 working days assigned to Budi: 5,760 minutes in 4,800.
    assert [(x.rule, x.severity, x.subject, x.fix) for x in findings] == [
        (
            CheckRule.OVER_CAPACITY,
            "warning",
            f"person:{o.budi.pk}",
            ("person", o.budi.pk),
        )
    ]
    assert findings[0].message == (
        "Budi Santoso has 96.0 h of estimated work in the next 10 working days, but "
        "can work 80.0 h in them."
    )
    assert (findings[0].version_id, findings[0].procedure_id) == (None, None)


def test_work_within_capacity_is_not_warned(o: SmallOrg):
    f.start_run(clerk_version(o), actor=o.admin)

    assert checks.check_organisation(o.organisation, now=T0) == []


def test_absences_in_the_window_lower_the_capacity(o: SmallOrg):
    f.start_run(clerk_version(o), actor=o.admin)
    # The whole second week away (Monday 9 to Saturday 14 March): 5 working days.
    f.away(
        o,
        o.budi,
        starts_at=dt.datetime(2026, 3, 9, tzinfo=JAKARTA),
        ends_at=dt.datetime(2026, 3, 14, tzinfo=JAKARTA),
    )

    findings = checks.check_organisation(o.organisation, now=T0)

    assert [x.message for x in findings] == [
        "Budi Santoso has 48.0 h of estimated work in the next 10 working days, but "
        "can work 40.0 h in them."
    ]


def test_tasks_to_come_of_a_position_held_alone_count(o: SmallOrg):
    # quote (1 day, ready, assigned) then pack (10 days, pending, nobody yet).
    f.start_run(clerk_version(o, days="1", then_days="10"), actor=o.admin)

    findings = checks.check_organisation(o.organisation, now=T0)

    assert [(x.subject, x.message) for x in findings] == [
        (
            f"person:{o.budi.pk}",
            "Budi Santoso has 88.0 h of estimated work in the next 10 working days, "
            "but can work 80.0 h in them.",
        )
    ]


def test_tasks_to_come_of_a_shared_position_count_for_nobody(o: SmallOrg):
    f.hold(o, o.export_staff, f.person(o, "dina"))
    f.start_run(clerk_version(o, days="1", then_days="10"), actor=o.admin)

    assert checks.check_organisation(o.organisation, now=T0) == []


def test_finished_and_cancelled_work_does_not_count(o: SmallOrg):
    version = clerk_version(o)
    runs = [f.start_run(version, actor=o.admin, title=f"Order {n}") for n in range(2)]
    chains.cancel_run(runs[0], actor=o.admin, expected_version=None, reason="Cancelled")

    assert checks.check_organisation(o.organisation, now=T0) == []
    assert f.task(runs[0], "quote").status == TaskStatus.CANCELLED


def test_capacity_is_working_time_outside_absences():
    calendar = CalendarSpec(
        time_zone="Asia/Jakarta",
        working_weekdays=frozenset(range(5)),
        day_start=dt.time(8),
        day_end=dt.time(16),
        holidays=frozenset({dt.date(2026, 3, 3)}),
    )
    start = dt.datetime(2026, 3, 2, 8, tzinfo=JAKARTA)
    end = dt.datetime(2026, 3, 7, tzinfo=JAKARTA)  # Monday .. Friday, Tuesday off
    wednesday = dt.datetime(2026, 3, 4, 8, tzinfo=JAKARTA)

    assert checks.capacity_minutes(calendar, start, end) == 4 * 480
    # Overlapping absences count once; the holiday inside one is not taken twice.
    assert (
        checks.capacity_minutes(
            calendar,
            start,
            end,
            [
                (start, wednesday + dt.timedelta(hours=4)),
                (wednesday, wednesday + dt.timedelta(hours=2)),
            ],
        )
        == 4 * 480 - 480 - 240
    )
    assert checks.capacity_minutes(calendar, start, end, [(start, end)]) == 0


def test_estimated_work_counts_assigned_tasks_and_unassigned_ones_of_sole_holders():
    rows = [
        checks.WorkRow(assignee_id=1, position_id=10, pending=False, minutes=100),
        checks.WorkRow(assignee_id=2, position_id=10, pending=True, minutes=30),
        checks.WorkRow(assignee_id=None, position_id=10, pending=True, minutes=50),
        checks.WorkRow(assignee_id=None, position_id=20, pending=False, minutes=7),
        checks.WorkRow(assignee_id=None, position_id=30, pending=True, minutes=1000),
        checks.WorkRow(assignee_id=None, position_id=None, pending=True, minutes=9),
    ]

    assert checks.estimated_work(rows, {10: 1, 20: 3}) == {1: 150, 2: 30, 3: 7}


# --- consulted_bottleneck -----------------------------------------------------------------


def consulting_director(
    o: SmallOrg, steps: int, *, publish: bool = True, code: str = "SHIP"
) -> ProcedureVersion:
    return f.procedure(
        o,
        [
            quote_row(o, consulted=[o.director])
            if n == 0
            else f.StepRow(
                f"step-{n}",
                responsible=o.export_head,
                accountable=o.export_head,
                duty=f.duty_of(o.export_head, "Price shipping"),
                consulted=[o.director],
            )
            for n in range(steps)
        ],
        code=code,
        publish=publish,
    )


def test_a_position_consulted_on_too_many_published_steps_is_warned(o: SmallOrg):
    policy.update_settings(
        o.organisation,
        actor=o.admin,
        expected_version=None,
        consulted_bottleneck_steps=2,
    )
    consulting_director(o, 2)
    consulting_director(o, 1, code="OTHER")

    findings = checks.check_organisation(o.organisation, now=T0)

    assert [(x.rule, x.subject, x.fix, x.message) for x in findings] == [
        (
            CheckRule.CONSULTED_BOTTLENECK,
            f"position:{o.director.pk}",
            ("position", o.director.pk),
            "Director is consulted on 3 steps of the published procedures (more "
            "than 2).",
        )
    ]


def test_consultations_up_to_the_threshold_and_in_drafts_are_not_warned(o: SmallOrg):
    policy.update_settings(
        o.organisation,
        actor=o.admin,
        expected_version=None,
        consulted_bottleneck_steps=2,
    )
    consulting_director(o, 2)
    consulting_director(o, 3, code="DRAFT", publish=False)

    assert checks.check_organisation(o.organisation, now=T0) == []


# --- acknowledging ------------------------------------------------------------------------


def duty_warning(o: SmallOrg) -> tuple[ProcedureVersion, Finding]:
    version = f.procedure(o, [quote_row(o, duty=None)])
    (finding,) = checks.check_version(version, now=T0)
    return version, finding


def test_acknowledging_a_warning_covers_it_and_is_audited(o: SmallOrg, audit_trail):
    version, finding = duty_warning(o)
    trail = audit_trail(o.organisation)

    acknowledgement = checks.acknowledge(
        o.organisation,
        actor=o.member,  # Rina holds the owner position
        rule=finding.rule,
        subject=finding.subject,
        reason="  The clerk's duties are being rewritten this quarter.  ",
        procedure_version=version,
        now=T0,
    )

    assert (
        acknowledgement.rule,
        acknowledgement.subject,
        acknowledgement.procedure_version_id,
        acknowledgement.reason,
        acknowledgement.acknowledged_by,
        acknowledgement.acknowledged_at,
        acknowledgement.withdrawn_at,
    ) == (
        CheckRule.DUTY_NOT_COVERED,
        finding.subject,
        version.pk,
        "The clerk's duties are being rewritten this quarter.",
        o.member,
        T0,
        None,
    )
    event = trail.only_new_event()
    assert (event.verb, event.target_id, event.changes) == (
        AuditVerb.ACKNOWLEDGED,
        str(acknowledgement.pk),
        {
            "rule": "duty_not_covered",
            "subject": finding.subject,
            "procedure_version": version.pk,
        },
    )
    assert event.personal.changes == {
        "reason": "The clerk's duties are being rewritten this quarter."
    }
    for findings in (
        checks.check_version(version, now=T0),
        checks.check_organisation(o.organisation, now=T0),
    ):
        assert [(x.subject, x.acknowledged) for x in findings] == [
            (finding.subject, acknowledgement)
        ]
        assert not findings[0].is_open


def test_warnings_about_the_organisation_are_acknowledged_by_administrators(
    o: SmallOrg, audit_trail
):
    f.start_run(clerk_version(o, days="11"), actor=o.admin)
    subject = f"person:{o.budi.pk}"
    trail = audit_trail(o.organisation)

    with pytest.raises(PermissionDenied):
        checks.acknowledge(
            o.organisation,
            actor=o.member,
            rule=CheckRule.OVER_CAPACITY,
            subject=subject,
            reason="Peak season",
            now=T0,
        )
    trail.assert_nothing_new()

    checks.acknowledge(
        o.organisation,
        actor=o.admin,
        rule=CheckRule.OVER_CAPACITY,
        subject=subject,
        reason="Peak season",
        now=T0,
    )
    (finding,) = checks.check_organisation(o.organisation, now=T0)
    assert finding.acknowledged is not None
    assert finding.acknowledged.procedure_version_id is None


def test_only_administrators_and_owners_acknowledge_a_versions_warning(
    o: SmallOrg, other_org: SmallOrg, audit_trail
):
    version, finding = duty_warning(o)
    refusals = [
        (f.user_of(f.person(o, "dina")), PermissionDenied),  # a member, no position
        (o.auditor, PermissionDenied),
        (o.partner, PermissionDenied),
        (other_org.admin, NotFound),
    ]
    trail = audit_trail(o.organisation)

    for user, error in refusals:
        with pytest.raises(error):
            checks.acknowledge(
                o.organisation,
                actor=user,
                rule=finding.rule,
                subject=finding.subject,
                reason="Fine",
                procedure_version=version,
                now=T0,
            )
    trail.assert_nothing_new()
    assert not CheckAcknowledgement.objects.exists()

    checks.acknowledge(
        o.organisation,
        actor=o.admin,
        rule=finding.rule,
        subject=finding.subject,
        reason="Fine",
        procedure_version=version,
        now=T0,
    )
    assert CheckAcknowledgement.objects.count() == 1


def test_errors_cannot_be_acknowledged(o: SmallOrg, audit_trail):
    draft = f.procedure(o, [quote_row(o, accountable=o.forwarder_ops)], publish=False)
    (finding,) = checks.check_version(draft, now=T0)
    trail = audit_trail(o.organisation)

    with pytest.raises(ValidationFailed) as refused:
        checks.acknowledge(
            o.organisation,
            actor=o.admin,
            rule=finding.rule,
            subject=finding.subject,
            reason="We trust them",
            procedure_version=draft,
            now=T0,
        )

    assert refused.value.errors == {
        "rule": ["Only warnings can be acknowledged: an error must be fixed."]
    }
    trail.assert_nothing_new()


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"reason": "   "},
            {"reason": ["Give the reason for accepting this warning."]},
        ),
        (
            {"subject": "v0:step:0:position:0"},
            {"subject": ["There is no such warning now; it may have been resolved."]},
        ),
        ({"rule": "made_up"}, {"rule": ["Unknown check."]}),
        (
            {"procedure_version": None},
            {"procedure_version": ["Name the procedure version of this warning."]},
        ),
    ],
)
def test_an_acknowledgement_needs_a_reason_and_a_current_warning(
    o: SmallOrg, audit_trail, changes, errors
):
    version, finding = duty_warning(o)
    values = {
        "rule": finding.rule,
        "subject": finding.subject,
        "reason": "Being rewritten",
        "procedure_version": version,
    }
    values.update(changes)
    trail = audit_trail(o.organisation)

    with pytest.raises(ValidationFailed) as refused:
        checks.acknowledge(o.organisation, actor=o.admin, now=T0, **values)

    assert refused.value.errors == errors
    trail.assert_nothing_new()


def test_a_warning_is_acknowledged_once(o: SmallOrg):
    version, finding = duty_warning(o)
    values = {
        "rule": finding.rule,
        "subject": finding.subject,
        "procedure_version": version,
        "now": T0,
    }
    checks.acknowledge(o.organisation, actor=o.admin, reason="First", **values)

    with pytest.raises(ValidationFailed) as refused:
        checks.acknowledge(o.organisation, actor=o.member, reason="Again", **values)

    assert refused.value.errors == {
        "subject": ["This warning is already acknowledged."]
    }
    assert CheckAcknowledgement.objects.count() == 1


def test_withdrawing_opens_the_warning_again_and_is_audited(o: SmallOrg, audit_trail):
    version, finding = duty_warning(o)
    acknowledgement = checks.acknowledge(
        o.organisation,
        actor=o.admin,
        rule=finding.rule,
        subject=finding.subject,
        reason="Being rewritten",
        procedure_version=version,
        now=T0,
    )
    outsider = f.user_of(f.person(o, "dina"))
    trail = audit_trail(o.organisation)

    with pytest.raises(PermissionDenied):
        checks.withdraw(acknowledgement, actor=outsider, now=T0)
    trail.assert_nothing_new()

    later = T0 + dt.timedelta(days=3)
    withdrawn = checks.withdraw(acknowledgement, actor=o.member, now=later)

    assert (withdrawn.withdrawn_at, withdrawn.withdrawn_by) == (later, o.member)
    acknowledgement.refresh_from_db()
    assert acknowledgement.withdrawn_at == later
    event = trail.only_new_event()
    assert (event.verb, event.target_id, event.changes["subject"]) == (
        AuditVerb.ACKNOWLEDGEMENT_WITHDRAWN,
        str(acknowledgement.pk),
        finding.subject,
    )
    (again,) = checks.check_version(version, now=T0)
    assert again.acknowledged is None
    with pytest.raises(ValidationFailed):
        checks.withdraw(acknowledgement, actor=o.admin, now=later)
    # Acknowledged anew after a withdrawal: a second row.
    checks.acknowledge(
        o.organisation,
        actor=o.admin,
        rule=finding.rule,
        subject=finding.subject,
        reason="Still being rewritten",
        procedure_version=version,
        now=later,
    )
    assert CheckAcknowledgement.objects.count() == 2


# --- who sees the checks ------------------------------------------------------------------


def test_partners_do_not_see_role_checks(o: SmallOrg):
    assert [
        checks.may_view(access_for(user, "acme"))
        for user in (o.admin, o.member, o.auditor, o.partner)
    ] == [True, True, True, False]


def test_who_may_acknowledge_which_finding(o: SmallOrg):
    _version, version_warning = duty_warning(o)
    person_warning = Finding(
        rule=CheckRule.OVER_CAPACITY,
        severity=Severity.WARNING,
        subject="person:1",
        message="",
        explanation="",
        fix=("person", 1),
    )
    error = Finding(
        rule=CheckRule.ACCOUNTABLE_COUNT,
        severity=Severity.ERROR,
        subject="v1:step:1",
        message="",
        explanation="",
        fix=("step", 1),
        version_id=1,
        owner_position_id=o.export_head.pk,
    )
    dina = f.user_of(f.person(o, "dina"))

    def may(user, finding):  # type: ignore[no-untyped-def]
        return checks.may_acknowledge(
            chains.actor(o.organisation, user, now=T0), finding
        )

    assert [may(u, version_warning) for u in (o.admin, o.member, dina, o.auditor)] == [
        True,
        True,
        False,
        False,
    ]
    assert [may(u, person_warning) for u in (o.admin, o.member)] == [True, False]
    assert [may(u, error) for u in (o.admin, o.member)] == [False, False]


# --- how many queries ---------------------------------------------------------------------


def queries_of_organisation_check(o: SmallOrg) -> int:
    with CaptureQueriesContext(connection) as captured:
        checks.check_organisation(o.organisation, now=T0)
    return len(captured.captured_queries)


def test_checking_the_organisation_reads_a_fixed_number_of_queries(o: SmallOrg):
    version = clerk_version(o)
    for number in range(2):
        f.start_run(version, actor=o.admin, title=f"Order {number}")
    checks.check_organisation(o.organisation, now=T0)  # settings, calendar cache

    small = queries_of_organisation_check(o)

    for number in range(6):
        extra = vacant_director_version(o, code=f"P{number}")
        f.start_run(extra, actor=o.admin, title=f"Extra {number}")
    ani = f.person(o, "ani", login=False)
    f.hold(o, o.export_head, ani, acting=True)
    f.away(
        o,
        o.budi,
        starts_at=dt.datetime(2026, 3, 9, tzinfo=JAKARTA),
        ends_at=dt.datetime(2026, 3, 10, tzinfo=JAKARTA),
    )
    (warning,) = [
        x
        for x in checks.check_organisation(o.organisation, now=T0)
        if x.rule == CheckRule.VACANT_POSITION
    ][:1]
    checks.acknowledge(
        o.organisation,
        actor=o.admin,
        rule=warning.rule,
        subject=warning.subject,
        reason="Recruiting",
        procedure_version=ProcedureVersion.objects.get(pk=warning.version_id),
        now=T0,
    )
    findings = checks.check_organisation(o.organisation, now=T0)
    assert {x.rule for x in findings} == {
        CheckRule.OVER_CAPACITY,
        CheckRule.VACANT_POSITION,
    }

    big = queries_of_organisation_check(o)

    # settings, versions, holders, steps, roles, positions, work, calendar,
    # absences, names, acknowledgements
    assert (small, big) == (11, 11)


def test_checking_a_version_reads_seven_queries(o: SmallOrg, django_assert_num_queries):
    small = f.procedure(o, [quote_row(o)])
    big = vacant_director_version(o, publish=False, code="BIG")

    for version in (small, big):
        with django_assert_num_queries(7):
            checks.check_version(version, now=T0)
