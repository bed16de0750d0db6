"""Small pieces every router shares: the caller's access, ids in request bodies,
and the answers for single objects (ETag, Location)."""

from __future__ import annotations

from typing import Annotated

from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Path, Schema
from ninja.pagination import LimitOffsetPagination

from rantai.accounts.access import Access, access_for
from rantai.api.versions import with_etag
from rantai.core.errors import PermissionDenied, ValidationFailed

Pagination = LimitOffsetPagination

# The organisation's short name in /orgs/{org_slug}/ (a path parameter of the
# router's prefix, so it must be declared as one).
OrgSlug = Annotated[str, Path(description="The organisation's short name (slug).")]


def org_access(request: HttpRequest, org_slug: str) -> Access:
    """The caller's access to the organisation in the URL (404 if none).

    Through the browser session, an administrator of an organisation that requires
    two-factor login must have completed it, as on the web pages.
    """
    access = access_for(request.auth, org_slug)  # type: ignore[attr-defined]
    if (
        getattr(request, "authenticated_by_session", False)
        and access.is_admin
        and access.organisation.requires_admin_two_factor
        and not request.user.is_verified()  # type: ignore[union-attr]
    ):
        raise PermissionDenied(
            _("This organisation requires two-factor login for administrators.")
        )
    return access


def admin_access(request: HttpRequest, org_slug: str) -> Access:
    """Access for changing the organisation structure: administrators only (403)."""
    access = org_access(request, org_slug)
    access.require_admin()
    return access


def resolve[M: models.Model](
    queryset: QuerySet[M], pk: int | None, field: str
) -> M | None:
    """The object a request body names by id, within the caller's organisation."""
    if pk is None:
        return None
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise ValidationFailed({field: [_("There is no such record here.")]})
    return found


def require[M: models.Model](queryset: QuerySet[M], pk: int, field: str) -> M:
    found = resolve(queryset, pk, field)
    assert found is not None
    return found


def single[M: models.Model](response: HttpResponse, instance: M) -> M:
    """Answer one object, with its version as ETag."""
    with_etag(response, instance)
    return instance


def created[M: models.Model](
    request: HttpRequest, response: HttpResponse, instance: M
) -> M:
    """Answer a new object: 201 (declared on the route), Location and ETag."""
    response["Location"] = f"{request.path.rstrip('/')}/{instance.pk}"
    return single(response, instance)


class VersionIn(Schema):
    """The version the action is based on (or send If-Match)."""

    version: int | None = None


# The body of an action sent without one (the version then comes in If-Match).
NO_VERSION = VersionIn()


def oversight_access(request: HttpRequest, org_slug: str) -> Access:
    """Access for reading who belongs to the organisation and its audit trail:
    administrators and auditors (403 for others)."""
    access = org_access(request, org_slug)
    if not access.may_verify_audit:
        raise PermissionDenied(
            _("Only administrators and auditors of the organisation can see this.")
        )
    return access
