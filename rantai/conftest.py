from __future__ import annotations

import pytest

from rantai.testing import SmallOrg, small_org


@pytest.fixture
def acme(db) -> SmallOrg:  # type: ignore[no-untyped-def]
    """A small organisation with every role, built through the services."""
    return small_org("acme")


@pytest.fixture
def other_org(db) -> SmallOrg:  # type: ignore[no-untyped-def]
    """A second, unrelated organisation (for isolation tests)."""
    return small_org("globex", prefix="g-")
