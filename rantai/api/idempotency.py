"""Idempotency-Key on POST: a retried request replays the first answer; and one
transaction per write request.

The first request with a key inserts its record before acting and fills in the
response after, all in the transaction of the action: either both stay or
neither does (a refused action leaves the key free for a corrected retry). A
concurrent retry blocks on the unique key until the first commits, then replays
its answer instead of acting twice.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja.operation import Operation
from ninja.utils import contribute_operation_callback

from rantai.api.auth import SAFE_METHODS
from rantai.api.models import IdempotencyRecord
from rantai.core.errors import Conflict, ValidationFailed

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
STORED_HEADERS = ("Content-Type", "ETag", "Location")
_PENDING = "_rantai_idempotency_record"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": (
        "A unique value (a UUID, say) chosen by the client. A retry with the same "
        "key and the same request replays the first response, with the header "
        "Idempotent-Replayed: true, instead of acting twice."
    ),
}


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Make a POST endpoint honour Idempotency-Key (its transaction, which the
    record shares, is opened by `one_transaction_per_write`)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        raw_key = request.headers.get(HEADER)
        if raw_key is None:
            return view(request, *args, **kwargs)
        key = raw_key.strip()
        if not _KEY.match(key):
            raise ValidationFailed(
                {HEADER: [_("Use 1 to 255 visible ASCII characters, e.g. a UUID.")]}
            )
        user = request.auth  # type: ignore[attr-defined]
        fingerprint = hashlib.sha256(request.body).hexdigest()
        record = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if record is None:
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        user=user,
                        key=key,
                        method=request.method or "",
                        path=request.path[:500],
                        request_sha256=fingerprint,
                    )
            except IntegrityError:
                # A concurrent request with this key committed first: answer as it did.
                record = IdempotencyRecord.objects.get(user=user, key=key)
            else:
                setattr(request, _PENDING, record)
                return view(request, *args, **kwargs)
        return _replay(request, record, fingerprint)

    wrapper.idempotent = True  # type: ignore[attr-defined]
    contribute_operation_callback(wrapper, _document)
    return wrapper


def _replay(
    request: HttpRequest, record: IdempotencyRecord, fingerprint: str
) -> HttpResponse:
    if (
        record.method != request.method
        or record.path != request.path[:500]
        or record.request_sha256 != fingerprint
    ):
        raise ValidationFailed(
            {
                HEADER: [
                    _(
                        "This key was already used for a different request. Use a "
                        "new key for a new request."
                    )
                ]
            }
        )
    if record.response_status is None:
        raise Conflict(_("A request with this key is still being processed."))
    headers = dict(record.response_headers)
    response = HttpResponse(
        record.response_body,
        status=record.response_status,
        content_type=headers.pop("Content-Type", "application/json"),
    )
    for name, value in headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def store_for_replay(
    request: HttpRequest, *, status: int, body: str, headers: dict[str, str]
) -> None:
    """Keep this answer, instead of the response, for a replay of the request's
    Idempotency-Key: for an answer holding a secret shown only once (a calendar
    feed's address), whose replay must not hold it. No key, nothing to do."""
    record: IdempotencyRecord | None = getattr(request, _PENDING, None)
    if record is None:
        return
    delattr(request, _PENDING)
    record.response_status = status
    record.response_body = body
    record.response_headers = {
        name: value for name, value in headers.items() if name in STORED_HEADERS
    }
    record.save(update_fields=["response_status", "response_body", "response_headers"])


def one_transaction_per_write(
    run: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Run every write request (authentication included) in one transaction and
    keep it — with the Idempotency-Key's record — only when the answer is a
    success. Installed once for the whole API."""

    @functools.wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method in SAFE_METHODS:
            return run(request, *args, **kwargs)
        with transaction.atomic():
            response = run(request, *args, **kwargs)
            record: IdempotencyRecord | None = getattr(request, _PENDING, None)
            if not 200 <= response.status_code < 300:
                transaction.set_rollback(True)
            elif record is not None:
                record.response_status = response.status_code
                record.response_body = response.content.decode()
                record.response_headers = {
                    name: response[name] for name in STORED_HEADERS if name in response
                }
                record.save(
                    update_fields=[
                        "response_status",
                        "response_body",
                        "response_headers",
                    ]
                )
        return response

    return wrapper


def _document(operation: Operation) -> None:
    extra = dict(operation.openapi_extra or {})
    extra["parameters"] = [*extra.get("parameters", []), IDEMPOTENCY_PARAMETER]
    operation.openapi_extra = extra
