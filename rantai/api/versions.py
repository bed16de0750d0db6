"""Optimistic concurrency over HTTP: every change names the version it was based on.

The version travels as `version` in the body or as `If-Match: "<version>"` (quotes
optional); single objects answer with `ETag: "<version>"`. A stale version is a
409 and writes nothing; a missing one is a 428.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import models
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from rantai.api.problems import PreconditionRequired
from rantai.core.errors import ValidationFailed

_IF_MATCH = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')

IF_MATCH_PARAMETER: dict[str, Any] = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": (
        'The version the change is based on, as an ETag: "3". Alternative to '
        "`version` in the body; one of the two is required."
    ),
}

IF_MATCH = {"parameters": [IF_MATCH_PARAMETER]}


def expected_version(request: HttpRequest, body_version: int | None) -> int:
    """The version the caller based the change on, from the body or If-Match."""
    header = request.headers.get("If-Match", "").strip()
    header_version: int | None = None
    if header:
        match = _IF_MATCH.match(header)
        if match is None:
            raise ValidationFailed(
                {"If-Match": [_('Send the version as If-Match: "<version>".')]}
            )
        header_version = int(match.group(1))
    if (
        body_version is not None
        and header_version is not None
        and body_version != header_version
    ):
        raise ValidationFailed(
            {"version": [_("The version in the body and in If-Match differ.")]}
        )
    version = body_version if body_version is not None else header_version
    if version is None:
        raise PreconditionRequired()
    return version


def etag_of(instance: models.Model) -> str:
    return f'"{instance.version}"'  # type: ignore[attr-defined]


def with_etag(response: HttpResponse, instance: models.Model) -> None:
    response["ETag"] = etag_of(instance)
