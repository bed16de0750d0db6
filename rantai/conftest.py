from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.utils import translation

from rantai.accounts.models import Organisation
from rantai.audit.models import AuditEvent
from rantai.testing import SmallOrg, small_org


@pytest.fixture(scope="session", autouse=True)
def media_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Uploaded files go to a temporary folder, never to the developer's
    `var/media`: the worker's sweep deletes stored evidence files that no row
    references, and no row of a test database references the demo's files. Set
    for the whole session (before any fixture loads data that stores files)."""
    from django.conf import settings

    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))


@pytest.fixture(autouse=True)
def default_language_after_each_test() -> Iterator[None]:
    """A request made in a test activates its user's language (the user-language
    middleware, the API's authentication) and leaves it active in the thread: put
    the default back after each test, or a later test in the same process (a CLI
    command, a service's text) runs in the language an earlier one left — tests
    that pass alone and fail after an Indonesian user's page."""
    yield
    translation.deactivate()


@pytest.fixture
def acme(db) -> SmallOrg:  # type: ignore[no-untyped-def]
    """A small organisation with every role, built through the services."""
    return small_org("acme")


@pytest.fixture
def other_org(db) -> SmallOrg:  # type: ignore[no-untyped-def]
    """A second, unrelated organisation (for isolation tests)."""
    return small_org("globex", prefix="g-")


class AuditTrail:
    """The events appended to one organisation's chain since the trail was started."""

    def __init__(self, organisation: Organisation) -> None:
        self.organisation = organisation
        self.start = self._head()

    def _head(self) -> int:
        return (
            AuditEvent.objects.filter(organisation=self.organisation)
            .order_by("-sequence")
            .values_list("sequence", flat=True)
            .first()
            or 0
        )

    def new_events(self) -> list[AuditEvent]:
        return list(
            AuditEvent.objects.filter(
                organisation=self.organisation, sequence__gt=self.start
            )
            .select_related("personal")
            .order_by("sequence")
        )

    def only_new_event(self) -> AuditEvent:
        """The single event written since the start (fails if there are more or none)."""
        events = self.new_events()
        assert len(events) == 1, [str(event) for event in events]
        return events[0]

    def assert_nothing_new(self) -> None:
        assert self.new_events() == []
        self.organisation.refresh_from_db(fields=["audit_sequence"])
        assert self.organisation.audit_sequence == self.start


@pytest.fixture
def audit_trail(db) -> Callable[[Organisation], AuditTrail]:  # type: ignore[no-untyped-def]
    """Start watching an organisation's audit chain: `trail = audit_trail(org)`."""
    return AuditTrail
