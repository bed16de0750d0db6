"""Shared plumbing for organisation pages: resolve the caller's access once per
request, render a page (or only its htmx partial) and turn domain errors into the
right response on a form."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers

from rantai.accounts.access import Access, access_for
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.web.forms import ConfirmForm
from rantai.web.two_factor import enforce_two_factor

# One form on a page of its own (`form_page`).
FORM_PAGE_TEMPLATE = "web/forms/page.html"


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


def apply_errors(
    form: Form,
    error: ValidationFailed,
    where: Callable[[str], str | None] | None = None,
) -> None:
    """Show a service's validation errors on the form, on the right fields: the field
    of the same name, or the one `where` names for it; the others on the whole form."""
    for name, problems in error.errors.items():
        target = where(name) if where is not None else name
        if target not in form.fields:
            target = None
        for problem in problems:
            form.add_error(target, problem)


def base_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    access: Access = request.access  # type: ignore[attr-defined]
    return {"access": access, "organisation": access.organisation, **extra}


def wants_partial(request: HttpRequest, target: str) -> bool:
    """An htmx request that replaces only the element `target` (never a boosted
    request or a history restore, which need the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(
        htmx
        and htmx.target == target
        and not htmx.boosted
        and not htmx.history_restore_request
    )


def render_page(
    request: HttpRequest,
    template: str,
    *,
    partial: str | None = None,
    status: int = 200,
    **context: Any,
) -> HttpResponse:
    """An organisation page; an htmx request for the element `partial` gets only
    that template partial (and the answer varies on the htmx headers)."""
    name = (
        f"{template}#{partial}"
        if partial and wants_partial(request, partial)
        else template
    )
    response = render(request, name, base_context(request, **context), status=status)
    if partial:
        patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def handle_form(
    request: HttpRequest,
    form: Form,
    save: Callable[[dict[str, Any]], str],
    *,
    success: str,
    page: Callable[[int], HttpResponse],
    where: Callable[[str], str | None] | None = None,
) -> HttpResponse:
    """GET, or a form with errors, answers `page(status)`. A valid POST calls `save`
    with a copy of the cleaned data (one service call; it returns where to go next),
    then says `success` and redirects there. A refusal is shown on the form and
    nothing is written: a stale version (`Conflict`) answers 409, a
    `ValidationFailed` puts its messages on the fields (`apply_errors`)."""
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            next_url = save(dict(form.cleaned_data))
        except Conflict as error:
            form.add_error(None, error.message)
            status = 409
        except ValidationFailed as error:
            apply_errors(form, error, where)
        else:
            messages.success(request, success)
            return redirect(next_url)
    return page(status)


def form_page(
    request: HttpRequest,
    form: Form,
    *,
    title: str,
    submit: str,
    cancel_url: str,
    save: Callable[[dict[str, Any]], str],
    success: str,
    intro: str = "",
    danger: bool = False,
    **context: Any,
) -> HttpResponse:
    """One form on a page of its own, answered by `handle_form`."""
    return handle_form(
        request,
        form,
        save,
        success=success,
        page=lambda status: render_page(
            request,
            FORM_PAGE_TEMPLATE,
            status=status,
            form=form,
            title=title,
            submit=submit,
            cancel_url=cancel_url,
            intro=intro,
            danger=danger,
            **context,
        ),
    )


def confirm_action(
    request: HttpRequest,
    *,
    version: int,
    act: Callable[[int], str],
    success: str,
    page: Callable[[Form, int], HttpResponse] | None = None,
    shown_by_page: str = "",
    **options: Any,
) -> HttpResponse:
    """A confirm-and-post action on a versioned thing (publish, retire, deactivate,
    rotate a secret): GET asks to confirm; a POST calls `act(expected_version)`
    (one service call, which returns where to go next), says `success` and
    redirects there. A stale version answers 409 and writes nothing.

    Without `page`, the shared one-form page (`form_page`; `options` are its
    title, submit, cancel_url, intro, danger, nav...). With `page(form, status)`,
    a page of its own: a refusal answers 422 with its messages on the form, but
    for a refusal with the code `shown_by_page` (what that page lists itself)."""
    form = ConfirmForm(
        request.POST if request.method == "POST" else None,
        initial={"version": version},
    )
    if page is None:
        return form_page(
            request,
            form,
            save=lambda data: act(data["version"]),
            success=success,
            **options,
        )
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            next_url = act(form.cleaned_data["version"])
        except Conflict as error:
            form.add_error(None, error.message)
            status = 409
        except ValidationFailed as error:
            if not shown_by_page or error.code != shown_by_page:
                apply_errors(form, error)
            status = 422
        else:
            messages.success(request, success)
            return redirect(next_url)
    return page(form, status)
