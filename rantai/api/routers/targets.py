"""API of issue 8 (targets; docs/design-insight.md)."""

from ninja import Router

router = Router(tags=["targets"])
