"""Compare-and-set: an update names the version it read; a lost race writes nothing."""

from __future__ import annotations

import pytest

from rantai.accounts.models import Organisation
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import Conflict
from rantai.testing import make_user


@pytest.fixture
def organisation(db) -> Organisation:
    make_user("founder")
    return Organisation.objects.create(name="Sinar", slug="sinar")


def stored(organisation: Organisation) -> tuple[str, int]:
    return Organisation.objects.values_list("name", "version").get(pk=organisation.pk)


def test_a_matching_version_updates_the_row_and_the_copy(organisation):
    new_version = compare_and_set(
        organisation, expected_version=1, fields={"name": "Jaya"}
    )

    assert new_version == 2
    assert stored(organisation) == ("Jaya", 2)
    assert (organisation.name, organisation.version) == ("Jaya", 2)


def test_a_stale_version_raises_conflict_and_writes_nothing(organisation):
    other_copy = Organisation.objects.get(pk=organisation.pk)
    compare_and_set(other_copy, expected_version=1, fields={"name": "First"})

    with pytest.raises(Conflict) as conflict:
        compare_and_set(organisation, expected_version=1, fields={"name": "Second"})

    assert conflict.value.status == 409
    assert conflict.value.message == (
        "This record was changed by someone else in the meantime. Reload it and try again."
    )
    assert stored(organisation) == ("First", 2)
    assert (organisation.name, organisation.version) == ("Sinar", 1)


def test_without_an_expected_version_the_copys_version_is_used(organisation):
    compare_and_set(organisation, expected_version=None, fields={"name": "Jaya"})
    stale = Organisation.objects.get(pk=organisation.pk)
    compare_and_set(organisation, expected_version=None, fields={"name": "Raya"})

    with pytest.raises(Conflict):
        compare_and_set(stale, expected_version=None, fields={"name": "Lost"})

    assert stored(organisation) == ("Raya", 3)


def test_a_future_version_conflicts_too(organisation):
    with pytest.raises(Conflict):
        compare_and_set(organisation, expected_version=7, fields={"name": "Jaya"})

    assert stored(organisation) == ("Sinar", 1)
