"""The OpenAPI document is committed; a change to the API shows up as a diff."""

import json
import os
import re
from pathlib import Path

from django.test import Client
from django.utils import translation

from rantai.api.main import api
from rantai.api.tests.conftest import BASE

SNAPSHOT = Path(__file__).resolve().parents[1] / "openapi.json"
UPDATE_HINT = (
    "The API's OpenAPI document differs from the committed snapshot "
    f"{SNAPSHOT.relative_to(Path.cwd()) if SNAPSHOT.is_relative_to(Path.cwd()) else SNAPSHOT}."
    " If the change is intended, rewrite it with\n"
    "    UPDATE_OPENAPI_SNAPSHOT=1 RANTAI_TESTING=1 .venv/bin/pytest "
    "rantai/api/tests/test_openapi.py\n"
    "and commit the diff."
)


def live_schema_text() -> str:
    with translation.override("en"):
        schema = api.get_openapi_schema()
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_openapi_document_matches_the_committed_snapshot():
    live = live_schema_text()
    if os.environ.get("UPDATE_OPENAPI_SNAPSHOT") == "1":
        SNAPSHOT.write_text(live, encoding="utf-8")

    assert SNAPSHOT.exists(), UPDATE_HINT
    assert SNAPSHOT.read_text(encoding="utf-8") == live, UPDATE_HINT


def test_openapi_document_is_served(db):
    response = Client().get(f"{BASE}/openapi.json")

    assert response.status_code == 200
    served = response.json()
    assert served["openapi"] == "3.1.0"
    assert served == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_docs_page_works_offline_and_under_the_csp(db):
    response = Client().get(f"{BASE}/docs")

    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    # Executable scripts come from our own static files; the one inline block is
    # JSON data (type=application/json), which CSP does not execute.
    assert [attrs.strip() for attrs, _ in scripts if "src=" in attrs] == [
        'src="/static/ninja/swagger-ui-bundle.js"',
        'src="/static/ninja/swagger-ui-init.js"',
    ]
    assert [attrs.strip() for attrs, body in scripts if "src=" not in attrs] == [
        'type="application/json" id="swagger-settings"'
    ]
    assert "http://" not in html and "https://" not in html
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_docs_static_files_are_served_locally(db):
    client = Client()

    for name in ("swagger-ui-bundle.js", "swagger-ui-init.js", "swagger-ui.css"):
        response = client.get(f"/static/ninja/{name}")
        assert response.status_code == 200, name
