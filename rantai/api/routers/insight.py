"""API of issue 8 (insight; docs/design-insight.md)."""

from ninja import Router

router = Router(tags=["insight"])
