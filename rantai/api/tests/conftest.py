from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client

from rantai.accounts.models import Organisation, User
from rantai.accounts.tokens import create_token
from rantai.testing import SmallOrg

BASE = "/api/v1"


class Api:
    """A client of the API with one user's personal token."""

    def __init__(self, token: str | None, client: Client | None = None) -> None:
        self.token = token
        self.client = client or Client()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> HttpResponse:
        all_headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        all_headers.update(headers or {})
        kwargs: dict[str, Any] = {"headers": all_headers}
        if method == "get":
            kwargs["data"] = params
        elif body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        return getattr(self.client, method)(BASE + path, **kwargs)

    def get(self, path: str, **params: Any) -> HttpResponse:
        return self.request("get", path, params=params)

    def post(
        self, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        return self.request("post", path, {} if body is None else body, headers=headers)

    def patch(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        return self.request("patch", path, body, headers=headers)


def api_for(user: User) -> Api:
    _token, raw = create_token(user, name="tests")
    return Api(raw)


@pytest.fixture
def api_as(acme: SmallOrg) -> Callable[[str], Api]:
    """`api_as("admin")`: an API client with a token of one of acme's users."""

    def make(role: str) -> Api:
        return api_for(getattr(acme, role))

    return make


def problem_of(response: Any) -> dict[str, Any]:
    """The problem document of an error response (asserting its shape)."""
    assert response["Content-Type"] == "application/problem+json", response.content
    body: dict[str, Any] = json.loads(response.content)
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:rantai:problem:")
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def audit_head(organisation: Organisation) -> int:
    """The organisation's audit sequence (unchanged when nothing was written)."""
    organisation.refresh_from_db(fields=["audit_sequence"])
    return organisation.audit_sequence
