"""Keeping the search index current (placeholder replaced in this session)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rantai.accounts.models import Organisation
    from rantai.audit.models import AuditEvent


def follow_audit(organisation: Organisation, events: Sequence[AuditEvent]) -> None:
    """Re-index the objects the events are about."""
