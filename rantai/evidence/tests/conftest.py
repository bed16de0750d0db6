from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Every evidence test stores its files in a folder of its own."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root
