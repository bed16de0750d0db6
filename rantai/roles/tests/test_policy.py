"""The organisation's assignment policy (`RoleSettings`): created with the
defaults on the first read, changed by administrators only, by compare-and-set,
audited."""

from __future__ import annotations

import pytest

from rantai.audit.models import AuditVerb
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.roles import policy
from rantai.roles.models import AssignmentRule, RoleSettings
from rantai.testing import make_user


def test_the_first_read_creates_the_defaults_once(acme):
    first = policy.settings_for(acme.organisation)
    again = policy.settings_for(acme.organisation.pk)

    assert first.pk == again.pk
    assert RoleSettings.objects.filter(organisation=acme.organisation).count() == 1
    assert (
        first.assignment_rule,
        first.require_duty_coverage,
        first.load_window_days,
        first.consulted_bottleneck_steps,
        first.briefing_reminder_days,
        first.escalate_late_tasks,
        first.version,
    ) == (AssignmentRule.LEAST_LOADED, True, 10, 8, 3, True, 1)


def test_each_organisation_has_its_own(acme, other_org):
    ours = policy.settings_for(acme.organisation)
    policy.update_settings(
        other_org.organisation,
        actor=other_org.admin,
        expected_version=None,
        assignment_rule=AssignmentRule.ROUND_ROBIN,
    )

    assert policy.settings_for(acme.organisation).pk == ours.pk
    assert policy.settings_for(acme.organisation).assignment_rule == (
        AssignmentRule.LEAST_LOADED
    )


def test_an_administrator_changes_the_policy_audited(acme, audit_trail):
    current = policy.settings_for(acme.organisation)
    trail = audit_trail(acme.organisation)

    changed = policy.update_settings(
        acme.organisation,
        actor=acme.admin,
        expected_version=current.version,
        assignment_rule=AssignmentRule.ROUND_ROBIN,
        require_duty_coverage=False,
        load_window_days=15,
    )

    stored = RoleSettings.objects.get(organisation=acme.organisation)
    assert (stored.assignment_rule, stored.require_duty_coverage) == (
        AssignmentRule.ROUND_ROBIN,
        False,
    )
    assert (stored.load_window_days, stored.version) == (15, current.version + 1)
    assert changed.version == stored.version
    event = trail.only_new_event()
    assert (event.verb, event.target_id) == (AuditVerb.UPDATED, str(stored.pk))
    assert event.changes == {
        "assignment_rule": [AssignmentRule.LEAST_LOADED, AssignmentRule.ROUND_ROBIN],
        "require_duty_coverage": [True, False],
        "load_window_days": [10, 15],
    }


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("member", PermissionDenied),
        ("auditor", PermissionDenied),
        ("partner", PermissionDenied),
        ("stranger", NotFound),
    ],
)
def test_only_administrators_change_it_and_a_refusal_writes_nothing(
    acme, audit_trail, who, error
):
    policy.settings_for(acme.organisation)
    actor = make_user("stranger") if who == "stranger" else getattr(acme, who)
    trail = audit_trail(acme.organisation)

    with pytest.raises(error):
        policy.update_settings(
            acme.organisation,
            actor=actor,
            expected_version=None,
            assignment_rule=AssignmentRule.ROUND_ROBIN,
        )

    stored = RoleSettings.objects.get(organisation=acme.organisation)
    assert (stored.assignment_rule, stored.version) == (AssignmentRule.LEAST_LOADED, 1)
    trail.assert_nothing_new()


def test_a_stale_version_is_a_conflict(acme, audit_trail):
    current = policy.settings_for(acme.organisation)
    policy.update_settings(
        acme.organisation,
        actor=acme.admin,
        expected_version=current.version,
        escalate_late_tasks=False,
    )
    trail = audit_trail(acme.organisation)

    with pytest.raises(Conflict):
        policy.update_settings(
            acme.organisation,
            actor=acme.admin,
            expected_version=current.version,
            assignment_rule=AssignmentRule.ROUND_ROBIN,
        )

    stored = RoleSettings.objects.get(organisation=acme.organisation)
    assert (stored.assignment_rule, stored.escalate_late_tasks, stored.version) == (
        AssignmentRule.LEAST_LOADED,
        False,
        2,
    )
    trail.assert_nothing_new()


@pytest.mark.parametrize(
    "changes",
    [
        {"load_window_days": 0},
        {"load_window_days": 121},
        {"briefing_reminder_days": 61},
        {"consulted_bottleneck_steps": 0},
        {"assignment_rule": "by_seniority"},
    ],
)
def test_values_outside_the_rules_are_refused(acme, audit_trail, changes):
    policy.settings_for(acme.organisation)
    trail = audit_trail(acme.organisation)

    with pytest.raises(ValidationFailed) as refused:
        policy.update_settings(
            acme.organisation, actor=acme.admin, expected_version=None, **changes
        )

    assert set(changes) <= set(refused.value.errors)
    stored = RoleSettings.objects.get(organisation=acme.organisation)
    assert stored.version == 1
    trail.assert_nothing_new()


def test_fields_that_are_not_settings_are_refused(acme):
    with pytest.raises(ValidationFailed) as refused:
        policy.update_settings(
            acme.organisation, actor=acme.admin, expected_version=None, version=9
        )

    assert list(refused.value.errors) == ["version"]
