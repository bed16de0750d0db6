"""API of issue 8 (feeds; docs/design-insight.md)."""

from ninja import Router

router = Router(tags=["feeds"])
