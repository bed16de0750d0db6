"""Every request gets an id that correlates its log lines and audit events."""

from __future__ import annotations

import re

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from rantai.core.middleware import RequestIdMiddleware
from rantai.core.request_context import current_request_id


def serve(headers: dict[str, str]) -> tuple[HttpResponse, str]:
    seen: list[str] = []

    def view(request):  # type: ignore[no-untyped-def]
        seen.append(current_request_id())
        assert request.request_id == seen[0]
        return HttpResponse("ok")

    request = RequestFactory().get("/", headers=headers)
    response = RequestIdMiddleware(view)(request)
    return response, seen[0]


def test_a_well_formed_incoming_id_is_kept_and_echoed():
    response, during = serve({"X-Request-ID": "proxy-1234.abcd_EF"})

    assert during == "proxy-1234.abcd_EF"
    assert response["X-Request-ID"] == "proxy-1234.abcd_EF"
    assert current_request_id() == ""


@pytest.mark.parametrize(
    "incoming", ["", "short", "has spaces in it", "x" * 65, "semi;colon-12345"]
)
def test_a_missing_or_malformed_id_is_replaced(incoming):
    response, during = serve({"X-Request-ID": incoming} if incoming else {})

    assert re.fullmatch(r"[0-9a-f]{32}", during)
    assert response["X-Request-ID"] == during
    assert current_request_id() == ""


def test_each_request_gets_its_own_id():
    assert serve({})[1] != serve({})[1]
