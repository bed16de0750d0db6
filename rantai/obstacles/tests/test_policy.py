"""The organisation's anticipation thresholds (`AnticipationSettings`): created
with the defaults on the first read, changed by administrators only, by
compare-and-set, audited."""

from __future__ import annotations

import pytest

from rantai.audit.models import AuditVerb
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.obstacles import policy
from rantai.obstacles.models import AnticipationSettings
from rantai.testing import make_user


def test_the_first_read_creates_the_defaults_once(acme):
    first = policy.settings_for(acme.organisation)
    again = policy.settings_for(acme.organisation.pk)

    assert first.pk == again.pk
    assert (
        AnticipationSettings.objects.filter(organisation=acme.organisation).count() == 1
    )
    assert (
        first.obstacle_response_hours,
        first.slack_warning_percent,
        first.approval_warning_hours,
        first.vacancy_horizon_days,
        first.evidence_warning_hours,
        first.version,
    ) == (16, 80, 8, 5, 8, 1)


def test_each_organisation_has_its_own(acme, other_org):
    ours = policy.settings_for(acme.organisation)
    policy.update_settings(
        other_org.organisation,
        actor=other_org.admin,
        expected_version=None,
        obstacle_response_hours=4,
    )

    assert policy.settings_for(acme.organisation).pk == ours.pk
    assert policy.settings_for(acme.organisation).obstacle_response_hours == 16
    assert policy.settings_for(other_org.organisation).obstacle_response_hours == 4


def test_an_administrator_changes_the_thresholds_audited(acme, audit_trail):
    current = policy.settings_for(acme.organisation)
    trail = audit_trail(acme.organisation)

    changed = policy.update_settings(
        acme.organisation,
        actor=acme.admin,
        expected_version=current.version,
        obstacle_response_hours=8,
        slack_warning_percent=60,
        vacancy_horizon_days=5,  # unchanged: not in the audit event
    )

    stored = AnticipationSettings.objects.get(organisation=acme.organisation)
    assert (stored.obstacle_response_hours, stored.slack_warning_percent) == (8, 60)
    assert stored.version == changed.version == current.version + 1
    event = trail.only_new_event()
    assert (event.verb, event.target_id, event.actor_id) == (
        AuditVerb.SETTINGS_CHANGED,
        str(stored.pk),
        acme.admin.pk,
    )
    assert event.changes == {
        "obstacle_response_hours": [16, 8],
        "slack_warning_percent": [80, 60],
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
def test_only_administrators_change_them(acme, audit_trail, who, error):
    actor = make_user("stranger") if who == "stranger" else getattr(acme, who)
    current = policy.settings_for(acme.organisation)
    trail = audit_trail(acme.organisation)

    with pytest.raises(error):
        policy.update_settings(
            acme.organisation,
            actor=actor,
            expected_version=current.version,
            obstacle_response_hours=1,
        )

    stored = AnticipationSettings.objects.get(organisation=acme.organisation)
    assert (stored.obstacle_response_hours, stored.version) == (16, 1)
    trail.assert_nothing_new()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"obstacle_response_hours": 0}, "obstacle_response_hours"),
        ({"obstacle_response_hours": 2001}, "obstacle_response_hours"),
        ({"slack_warning_percent": 0}, "slack_warning_percent"),
        ({"slack_warning_percent": 101}, "slack_warning_percent"),
        ({"approval_warning_hours": 501}, "approval_warning_hours"),
        ({"vacancy_horizon_days": 61}, "vacancy_horizon_days"),
        ({"evidence_warning_hours": 0}, "evidence_warning_hours"),
        ({"organisation_id": 7}, "organisation_id"),
    ],
)
def test_values_out_of_range_are_refused_per_field(acme, audit_trail, changes, field):
    current = policy.settings_for(acme.organisation)
    trail = audit_trail(acme.organisation)

    with pytest.raises(ValidationFailed) as refused:
        policy.update_settings(
            acme.organisation,
            actor=acme.admin,
            expected_version=current.version,
            **changes,
        )

    assert list(refused.value.errors) == [field]
    stored = AnticipationSettings.objects.get(organisation=acme.organisation)
    assert (stored.obstacle_response_hours, stored.slack_warning_percent) == (16, 80)
    assert stored.version == 1
    trail.assert_nothing_new()


def test_a_stale_version_is_a_conflict(acme, audit_trail):
    current = policy.settings_for(acme.organisation)
    policy.update_settings(
        acme.organisation,
        actor=acme.admin,
        expected_version=current.version,
        obstacle_response_hours=8,
    )
    trail = audit_trail(acme.organisation)

    with pytest.raises(Conflict):
        policy.update_settings(
            acme.organisation,
            actor=acme.admin,
            expected_version=current.version,
            obstacle_response_hours=4,
        )

    assert policy.settings_for(acme.organisation).obstacle_response_hours == 8
    trail.assert_nothing_new()
