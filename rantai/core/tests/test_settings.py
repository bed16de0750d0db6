"""Settings come from the environment; with DEBUG off unsafe settings refuse to start."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[3]
SETUP = (
    "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'rantai.settings'; "
    "django.setup()"
)
SAFE_KEY = secrets.token_urlsafe(60)[:60]


def python(
    code_or_args: list[str], tmp_path: Path, **env: str
) -> subprocess.CompletedProcess:
    """Run Python in a clean environment holding only the variables given."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DEBUG",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "DATABASE_URL",
            "RANTAI_TESTING",
            "DJANGO_SETTINGS_MODULE",
        }
    }
    clean |= {"RANTAI_DATA_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, *code_or_args],
        env=clean,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DEBUG": "0"},
            "SECRET_KEY is not set. With DEBUG off Rantai refuses to start without a "
            "secret key: set SECRET_KEY to a long random value (see .env.example).",
        ),
        (
            {
                "DEBUG": "0",
                "SECRET_KEY": "short-secret",
                "ALLOWED_HOSTS": "example.com",
            },
            "SECRET_KEY is too short or is the development key. Use at least 50 random "
            "characters in production.",
        ),
        (
            {"DEBUG": "false", "SECRET_KEY": SAFE_KEY},
            "ALLOWED_HOSTS is empty. With DEBUG off set ALLOWED_HOSTS to the host names "
            "Rantai is served under, separated by commas.",
        ),
    ],
    ids=["no-secret-key", "short-secret-key", "no-allowed-hosts"],
)
def test_with_debug_off_unsafe_settings_refuse_to_start(tmp_path, env, message):
    started = python(["-c", SETUP], tmp_path, **env)

    assert started.returncode == 1
    assert f"django.core.exceptions.ImproperlyConfigured: {message}" in started.stderr


def test_production_settings_pass_the_deployment_checks(tmp_path):
    checked = python(
        ["-m", "rantai", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        DEBUG="0",
        SECRET_KEY=SAFE_KEY,
        ALLOWED_HOSTS="example.com",
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues" in checked.stdout
    assert "WARNINGS" not in checked.stdout + checked.stderr


def test_without_environment_it_runs_in_development_mode_on_sqlite_wal(tmp_path):
    shown = python(
        [
            "-c",
            SETUP
            + "; from django.conf import settings as s; import json; print(json.dumps("
            "{'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, "
            "'engine': s.DATABASES['default']['ENGINE'], "
            "'name': str(s.DATABASES['default']['NAME']), "
            "'mode': s.DATABASES['default']['OPTIONS']['transaction_mode'], "
            "'secure_cookies': s.SESSION_COOKIE_SECURE}))",
        ],
        tmp_path,
    )

    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {
        "debug": True,
        "hosts": ["127.0.0.1", "localhost", "testserver"],
        "engine": "django.db.backends.sqlite3",
        "name": str(tmp_path / "rantai.sqlite3"),
        "mode": "IMMEDIATE",
        "secure_cookies": False,
    }
