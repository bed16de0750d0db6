"""Every user-facing string has an Indonesian translation, and the compiled
catalogue matches the source catalogue."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib

PACKAGE = Path(__file__).resolve().parents[2]
PO_FILE = PACKAGE / "locale" / "id" / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")


def _entries(po: polib.POFile) -> dict[tuple[str, str], polib.POEntry]:
    return {(e.msgctxt or "", e.msgid): e for e in po if not e.obsolete}


def test_every_entry_of_the_indonesian_catalogue_is_translated():
    po = polib.pofile(str(PO_FILE))
    untranslated = [
        e.msgid for e in po if not e.obsolete and (not e.translated() or e.fuzzy)
    ]
    assert untranslated == [], f"untranslated Indonesian strings: {untranslated[:20]}"


def test_compiled_catalogue_matches_the_source():
    po = _entries(polib.pofile(str(PO_FILE)))
    mo = _entries(polib.mofile(str(MO_FILE)))
    stale = sorted(
        key[1]
        for key, entry in po.items()
        if key[1]
        and (
            key not in mo
            or mo[key].msgstr != entry.msgstr
            or mo[key].msgstr_plural != entry.msgstr_plural
        )
    )
    assert stale == [], (
        f"django.mo is out of date for {stale[:10]}: run `make messages`"
    )


def test_no_string_in_the_code_is_missing_from_the_catalogue(tmp_path):
    assert shutil.which("xgettext"), (
        "GNU gettext is needed: run scripts/setup.sh --with-browser"
    )
    # Extract the strings from a copy of the code, so the working tree is untouched.
    copy = tmp_path / "rantai"
    shutil.copytree(
        PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "tests", "*.pyc")
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "RANTAI_DATA_DIR": str(tmp_path / "var"),
    }
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "makemessages",
            "-l",
            "id",
            "--no-obsolete",
            "--settings",
            "rantai.settings",
            "--ignore",
            "tests/*",
        ],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    extracted = _entries(polib.pofile(str(copy / "locale/id/LC_MESSAGES/django.po")))
    committed = _entries(polib.pofile(str(PO_FILE)))
    missing = sorted(key[1] for key in extracted if key[1] and key not in committed)
    assert missing == [], (
        f"{len(missing)} strings are not in the Indonesian catalogue, e.g. "
        f"{missing[:10]}: run `make messages` and translate them"
    )
