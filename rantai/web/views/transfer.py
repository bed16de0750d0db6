"""Import and export of a whole organisation (administrators; auditors may export).

The page only reads the upload and calls `rantai.org.transfer`; the import checks
the whole file first and writes nothing unless every row is right.
"""

from __future__ import annotations

import zoneinfo

from django import forms
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from rantai.accounts.access import Access
from rantai.org import transfer
from rantai.web.access import admin_only, base_context, org_view
from rantai.web.forms import RantaiForm

ERRORS_SHOWN = 500


class ImportForm(RantaiForm):
    file = forms.FileField(
        label=_("Workbook"),
        help_text=_(
            "An Excel workbook (.xlsx) or a zip of CSV files, made from the template."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.zip"}),
    )
    dry_run = forms.BooleanField(
        label=_("Only check the file; import nothing"), required=False
    )


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _may_export(access: Access) -> bool:
    return access.is_admin or access.is_auditor


def _download(data: bytes, content_type: str, file_name: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@org_view
@require_http_methods(["GET", "POST"])
def transfer_page(request: HttpRequest) -> HttpResponse:
    """Upload a workbook (administrators), download the templates and the export."""
    access = _access(request)
    if not _may_export(access):
        raise DjangoPermissionDenied
    form = ImportForm()
    result = rejected = None
    status = 200
    if request.method == "POST":
        admin_only(access)
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                # Refuse an oversized upload before reading it into memory.
                transfer.check_size(upload.size or 0)
                result = transfer.import_organisation(
                    access.organisation,
                    actor=request.user,  # type: ignore[arg-type]
                    file_name=upload.name or "",
                    data=upload.read(),
                    dry_run=form.cleaned_data["dry_run"],
                )
            except transfer.ImportRejected as error:
                rejected = error
                status = 422
            else:
                form = ImportForm()
        else:
            status = 422
    return render(
        request,
        "transfer/page.html",
        base_context(
            request,
            nav="transfer",
            form=form,
            result=result,
            rejected=rejected,
            shown_errors=rejected.row_errors[:ERRORS_SHOWN] if rejected else [],
            hidden_error_count=max(0, len(rejected.row_errors) - ERRORS_SHOWN)
            if rejected
            else 0,
            warnings=result.warnings
            if result
            else rejected.warnings
            if rejected
            else [],
            max_size=transfer.max_size(),
        ),
        status=status,
    )


@org_view
@require_GET
def template_xlsx(request: HttpRequest) -> HttpResponse:
    if not _may_export(_access(request)):
        raise DjangoPermissionDenied
    return _download(
        transfer.template_xlsx(),
        transfer.XLSX_CONTENT_TYPE,
        "rantai-organisation-template.xlsx",
    )


@org_view
@require_GET
def template_zip(request: HttpRequest) -> HttpResponse:
    if not _may_export(_access(request)):
        raise DjangoPermissionDenied
    return _download(
        transfer.template_csv_zip(),
        transfer.ZIP_CONTENT_TYPE,
        "rantai-organisation-template.zip",
    )


@org_view
@require_GET
def export_xlsx(request: HttpRequest) -> HttpResponse:
    access = _access(request)
    if not _may_export(access):
        raise DjangoPermissionDenied
    day = timezone.now().astimezone(zoneinfo.ZoneInfo(access.organisation.time_zone))
    return _download(
        transfer.export_organisation(access.organisation),
        transfer.XLSX_CONTENT_TYPE,
        f"{access.organisation.slug}-{day:%Y-%m-%d}.xlsx",
    )
