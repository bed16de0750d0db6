"""How insight takes part in the rest of Rantai, registered in one place."""

from __future__ import annotations


def register() -> None:
    from rantai.audit import observers
    from rantai.insight import indexing

    observers.register("search-index", indexing.follow_audit)
