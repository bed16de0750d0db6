"""Errors as RFC 7807 problem details (application/problem+json), mapped once.

Every error the API answers has `type`, `title`, `status` and `detail`, plus
`code`, `instance` and `request_id`; validation errors add `errors`, a map of
request field names to messages. Messages are in the caller's language.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from rantai.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:rantai:problem:"

# Services name fields after the model (`parent`); the API after the request field
# (`parent_id`). Errors use the names the client sent.
FIELD_NAMES = {
    "parent": "parent_id",
    "party": "party_id",
    "superior": "superior_id",
    "head_position": "head_position_id",
    "position": "position_id",
    "person": "person_id",
    "user": "user_id",
    "owner_position": "owner_position_id",
    "duty": "duty_id",
    "predecessor": "predecessor_id",
    "successor": "successor_id",
    "task": "task_id",
    "responsible_position": "responsible_position_id",
    "responsible_party": "responsible_party_id",
    "accountable_position": "accountable_position_id",
}


class PreconditionRequired(Exception):
    """An update arrived without the version it was based on (HTTP 428)."""


def _titles() -> dict[int, str]:
    return {
        400: _("Request refused"),
        401: _("Authentication required"),
        403: _("Forbidden"),
        404: _("Not found"),
        409: _("Conflict"),
        422: _("Validation failed"),
        428: _("Precondition required"),
        429: _("Too many requests"),
        500: _("Server error"),
    }


def problem(
    request: HttpRequest,
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    errors: Mapping[str, Sequence[str]] | None = None,
) -> HttpResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title or _titles().get(status, _("Error")),
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.path,
        "request_id": getattr(request, "request_id", ""),
    }
    if errors is not None:
        body["errors"] = {field: list(messages) for field, messages in errors.items()}
    return HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def field_errors(errors: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    return {FIELD_NAMES.get(field, field): list(msgs) for field, msgs in errors.items()}


def _loc_to_field(loc: Sequence[Any]) -> str:
    """("body", "payload", "name") -> "name"; ("query", "limit") -> "limit";
    ("body", "payload") -> "body" (the body as a whole)."""
    parts = [str(part) for part in loc[1:]]
    if loc and loc[0] == "body":
        parts = parts[1:] or ["body"]
    return ".".join(parts) or "__all__"


def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        field = _loc_to_field(error.get("loc", ()))
        errors.setdefault(field, []).append(str(error.get("msg", "")))
    return problem(
        request,
        status=422,
        code=ValidationFailed.code,
        detail=str(ValidationFailed.default_message),
        errors=errors,
    )


def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    errors = field_errors(exc.errors) if isinstance(exc, ValidationFailed) else None
    return problem(
        request, status=exc.status, code=exc.code, detail=exc.message, errors=errors
    )


def _precondition_required(
    request: HttpRequest, exc: PreconditionRequired
) -> HttpResponse:
    return problem(
        request,
        status=428,
        code="version_required",
        detail=_(
            "Send the version the change is based on, as `version` in the body or "
            'as an If-Match: "<version>" header.'
        ),
    )


def _authentication_error(
    request: HttpRequest, exc: AuthenticationError
) -> HttpResponse:
    response = problem(
        request,
        status=401,
        code="unauthenticated",
        detail=_(
            "Send a valid personal API token as Authorization: Bearer <token>, "
            "or sign in."
        ),
    )
    response["WWW-Authenticate"] = 'Bearer realm="rantai"'
    return response


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    codes = {400: "bad_request", 403: "forbidden", 404: "not_found", 429: "throttled"}
    return problem(
        request,
        status=exc.status_code,
        code=codes.get(exc.status_code, "error"),
        detail=str(exc),
    )


def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem(
        request, status=404, code=NotFound.code, detail=str(NotFound.default_message)
    )


def _forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem(
        request,
        status=403,
        code=PermissionDenied.code,
        detail=str(PermissionDenied.default_message),
    )


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unhandled error in API request %s", request.path, exc_info=exc)
    return problem(
        request,
        status=500,
        code="server_error",
        detail=_(
            "Something went wrong on our side and nothing was changed. The error was "
            "logged under the request id given here."
        ),
    )


def install(api: NinjaAPI) -> None:
    """Map every error the API can meet to a problem response, once."""
    handlers: list[tuple[type[Exception], Callable[..., HttpResponse]]] = [
        (Exception, _unexpected),
        (Http404, _not_found),
        (DjangoPermissionDenied, _forbidden),
        (HttpError, _http_error),
        (AuthenticationError, _authentication_error),
        (NinjaValidationError, _validation_error),
        (DomainError, _domain_error),
        (PreconditionRequired, _precondition_required),
    ]
    for exception_class, handler in handlers:
        api.add_exception_handler(exception_class, handler)


def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Unknown URLs under /api/v1/ answer a problem too, not an HTML page."""
    return problem(
        request, status=404, code=NotFound.code, detail=str(NotFound.default_message)
    )
