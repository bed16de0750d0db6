"""Shared plumbing for organisation pages: resolve the caller's access once per
request and turn domain errors into the right response."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse

from rantai.accounts.access import Access, access_for
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.web.two_factor import enforce_two_factor


def org_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required; `request.access` is the caller's access to the organisation in
    the URL. Unknown and forbidden organisations both answer 404."""

    @login_required
    @functools.wraps(view)
    def wrapper(
        request: HttpRequest, org: str, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        try:
            request.access = access_for(request.user, org)  # type: ignore[attr-defined,arg-type]
            if (refusal := enforce_two_factor(request, request.access)) is not None:  # type: ignore[attr-defined]
                return refusal
            return view(request, *args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from error
        except PermissionDenied as error:
            raise DjangoPermissionDenied(error.message) from error

    return wrapper


def admin_only(access: Access) -> None:
    """Raise 403 unless the caller administers the organisation."""
    if not access.is_admin:
        raise DjangoPermissionDenied


def apply_errors(form: Form, error: ValidationFailed) -> None:
    """Show a service's validation errors on the form, on the right fields."""
    for field, messages in error.errors.items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)


def base_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    access: Access = request.access  # type: ignore[attr-defined]
    return {"access": access, "organisation": access.organisation, **extra}
