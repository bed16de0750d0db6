"""What the procedures' and the approval routes' routers share: both are
versioned definitions (a draft is edited, then published, which retires the
published version; a published one is retired; a new draft copies one), changed
by their administrators and owners only, each change based on a version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.db import models
from django.db.models import QuerySet, Subquery
from django.http import HttpRequest, HttpResponse

from rantai.accounts.access import Access
from rantai.accounts.models import Role, User
from rantai.api.common import org_access, single
from rantai.api.routers.approvals import location
from rantai.api.versions import expected_version, with_etag
from rantai.chains.models import VersionStatus
from rantai.core.errors import PermissionDenied


def editor_access(request: HttpRequest, org_slug: str, refusal: str) -> Access:
    """Auditors and partners never change definitions (403, `refusal`, before
    anything is looked up); the services decide the rest (administrators, the
    owner's holders)."""
    access = org_access(request, org_slug)
    if access.role not in (Role.ADMIN, Role.MEMBER):
        raise PermissionDenied(refusal)
    return access


def with_version_ids[M: models.Model](
    definitions: QuerySet[M], versions: QuerySet[Any]
) -> QuerySet[M]:
    """The definitions with the ids of their published and draft versions
    (`versions`: their versions, filtered by `OuterRef("pk")`)."""
    annotated = definitions.annotate(
        published_version_id=Subquery(
            versions.filter(status=VersionStatus.PUBLISHED).values("pk")[:1]
        ),
        draft_version_id=Subquery(
            versions.filter(status=VersionStatus.DRAFT).values("pk")[:1]
        ),
    )
    return cast(QuerySet[M], annotated)


def created_elsewhere[M: models.Model](
    request: HttpRequest, response: HttpResponse, org_slug: str, path: str, obj: M
) -> M:
    """Answer an object created under another path than the one posted to: its
    Location (`path/id`) and, when versioned, its ETag."""
    response["Location"] = location(request, org_slug, f"{path}/{obj.pk}")
    if hasattr(obj, "version"):
        with_etag(response, obj)
    return obj


def change[M: models.Model](
    request: HttpRequest,
    response: HttpResponse,
    service: Callable[..., Any],
    obj: M,
    *,
    actor: User,
    version: int | None,
    answer: Callable[[], M] | None = None,
    **changes: Any,
) -> M:
    """Call `service(obj, actor=..., expected_version=..., **changes)` with the
    version from the body or If-Match, and answer the object changed (or what
    `answer` reads back) with its ETag."""
    changed = service(
        obj,
        actor=actor,
        expected_version=expected_version(request, version),
        **changes,
    )
    return single(response, answer() if answer is not None else changed)
