"""Upload rules: defaults on first read, changed by administrators, narrowed only."""

from __future__ import annotations

import pytest

from rantai.audit.models import AuditVerb
from rantai.core.errors import Conflict, PermissionDenied, ValidationFailed
from rantai.evidence import policy, uploads
from rantai.evidence.models import EvidenceSettings

pytestmark = pytest.mark.django_db


def test_the_settings_start_with_the_standard_list_and_20_megabytes(acme):
    settings = policy.settings_for(acme.organisation)

    assert (settings.allowed_types, settings.max_file_megabytes) == ([], 20)
    assert policy.allowed_types(settings) == list(uploads.FILE_TYPES)
    assert policy.max_file_bytes(settings) == 20 * 1024 * 1024
    assert policy.settings_for(acme.organisation.pk) == settings
    assert EvidenceSettings.objects.count() == 1


def test_an_administrator_narrows_the_types_and_it_is_audited(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    settings = policy.update_settings(
        acme.organisation,
        actor=acme.admin,
        expected_version=None,
        allowed_types=["csv", "pdf", "pdf"],
        max_file_megabytes=5,
    )

    assert (settings.allowed_types, settings.max_file_megabytes) == (["pdf", "csv"], 5)
    assert policy.allowed_types(settings) == ["pdf", "csv"]
    event = trail.only_new_event()
    assert event.verb == AuditVerb.SETTINGS_CHANGED
    assert event.changes == {
        "allowed_types": [[], ["pdf", "csv"]],
        "max_file_megabytes": [20, 5],
    }


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"allowed_types": ["pdf", "exe", "html"]},
            {"allowed_types": ["These file types cannot be allowed: exe, html."]},
        ),
        (
            {"allowed_types": "pdf"},
            {"allowed_types": ["Choose file types from the list."]},
        ),
        (
            {"max_file_megabytes": 501},
            {"__all__": ["The largest file is 1 to 500 MB."]},
        ),
        ({"colour": "blue"}, {"colour": ["This field cannot be changed here."]}),
    ],
)
def test_types_beyond_the_standard_list_and_bad_sizes_are_refused(
    acme, changes, errors
):
    with pytest.raises(ValidationFailed) as refused:
        policy.update_settings(
            acme.organisation, actor=acme.admin, expected_version=None, **changes
        )

    assert refused.value.errors == errors
    settings = policy.settings_for(acme.organisation)
    assert (settings.allowed_types, settings.max_file_megabytes, settings.version) == (
        [],
        20,
        1,
    )


def test_only_administrators_change_the_settings_and_a_stale_version_conflicts(acme):
    with pytest.raises(PermissionDenied) as denied:
        policy.update_settings(
            acme.organisation,
            actor=acme.member,
            expected_version=None,
            max_file_megabytes=2,
        )
    assert denied.value.message == "Only organisation administrators can do this."

    policy.update_settings(
        acme.organisation, actor=acme.admin, expected_version=1, max_file_megabytes=2
    )
    with pytest.raises(Conflict):
        policy.update_settings(
            acme.organisation,
            actor=acme.admin,
            expected_version=1,
            max_file_megabytes=3,
        )
    assert policy.settings_for(acme.organisation).max_file_megabytes == 2
