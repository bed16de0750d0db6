"""The import and export page: administrators upload a workbook and see either the
counts or every problem (with nothing written); auditors may only export."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from rantai.accounts.models import Organisation, User
from rantai.audit.models import AuditEvent
from rantai.org.models import Duty, Holding, Party, Person, Position
from rantai.testing import SmallOrg

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for values in rows:
            sheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=XLSX)


def written(organisation: Organisation) -> tuple[int, ...]:
    return (
        Party.objects.filter(organisation=organisation).count(),
        Position.objects.filter(organisation=organisation).count(),
        Duty.objects.filter(organisation=organisation).count(),
        Person.objects.filter(organisation=organisation).count(),
        Holding.objects.filter(organisation=organisation).count(),
        AuditEvent.objects.filter(organisation=organisation).count(),
    )


NEW_UNIT = {
    "units": [["code", "name", "parent_code"], ["QA", "Quality", "HO"]],
    "positions": [["code", "title", "unit_code", "superior_code"], ["QA-HEAD", "Head of quality", "QA", "DIR"]],
    "people": [["nip", "nama"], ["42", "Dewi Lestari"]],
    "holders": [["jabatan", "nip", "tanggal_mulai"], ["QA-HEAD", "42", "01/03/2026"]],
}  # fmt: skip


@pytest.fixture
def url(acme: SmallOrg) -> str:
    return reverse("org-transfer", args=[acme.organisation.slug])


def test_an_administrator_sees_the_upload_form_templates_and_export(
    acme: SmallOrg, url
):
    response = logged_in(acme.admin).get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert 'name="file"' in page
    for name in (
        "org-transfer-template-xlsx",
        "org-transfer-template-zip",
        "org-transfer-export",
    ):
        assert reverse(name, args=["acme"]) in page


def test_an_auditor_may_export_but_not_import(acme: SmallOrg, url):
    client = logged_in(acme.auditor)
    before = written(acme.organisation)

    page = client.get(url)
    refused = client.post(url, {"file": upload("org.xlsx", xlsx(NEW_UNIT))})
    export = client.get(reverse("org-transfer-export", args=["acme"]))

    assert page.status_code == 200
    assert 'name="file"' not in page.content.decode()
    assert refused.status_code == 403
    assert written(acme.organisation) == before
    assert export.status_code == 200
    assert export["Content-Type"] == XLSX
    assert export["Content-Disposition"].startswith('attachment; filename="acme-')
    assert load_workbook(io.BytesIO(export.content)).sheetnames == [
        "units", "positions", "duties", "people", "holders",
    ]  # fmt: skip


@pytest.mark.parametrize("who", ["member", "partner"])
def test_members_and_partners_are_refused(acme: SmallOrg, url, who):
    client = logged_in(getattr(acme, who))
    before = written(acme.organisation)

    responses = [
        client.get(url),
        client.post(url, {"file": upload("org.xlsx", xlsx(NEW_UNIT))}),
        client.get(reverse("org-transfer-export", args=["acme"])),
        client.get(reverse("org-transfer-template-xlsx", args=["acme"])),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert written(acme.organisation) == before


def test_another_organisations_administrator_gets_404(
    acme: SmallOrg, other_org: SmallOrg, url
):
    assert logged_in(other_org.admin).get(url).status_code == 404


def test_a_good_upload_imports_and_shows_the_counts(acme: SmallOrg, url):
    response = logged_in(acme.admin).post(
        url, {"file": upload("org.xlsx", xlsx(NEW_UNIT))}
    )

    assert response.status_code == 200
    result = response.context["result"]
    assert {c.sheet: (c.created, c.updated, c.unchanged) for c in result.sheets} == {
        "units": (1, 0, 0), "positions": (1, 0, 0), "people": (1, 0, 0), "holders": (1, 0, 0),
    }  # fmt: skip
    page = response.content.decode()
    assert "The file was imported" in page
    assert '<tr><th scope="row">units</th><td>1</td><td>0</td><td>0</td></tr>' in page
    holding = Holding.objects.get(person__employee_number="42")
    assert (holding.position.code, holding.position.party.parent.code) == (
        "QA-HEAD",
        "HO",
    )


def test_a_dry_run_shows_what_would_change_and_writes_nothing(acme: SmallOrg, url):
    before = written(acme.organisation)

    response = logged_in(acme.admin).post(
        url, {"file": upload("org.xlsx", xlsx(NEW_UNIT)), "dry_run": "on"}
    )

    assert response.status_code == 200
    assert "The file is correct" in response.content.decode()
    assert written(acme.organisation) == before


def test_a_bad_upload_shows_every_problem_and_writes_nothing(acme: SmallOrg, url):
    sheets = {
        **NEW_UNIT,
        "units": [["code", "name", "parent_code"], ["QA", "Quality", "NOPE"]],
        "holders": [
            ["jabatan", "nip", "tanggal_mulai"],
            ["QA-HEAD", "42", "31/02/2026"],
        ],
    }
    before = written(acme.organisation)

    response = logged_in(acme.admin).post(
        url, {"file": upload("org.xlsx", xlsx(sheets))}
    )

    assert response.status_code == 422
    assert written(acme.organisation) == before
    page = response.content.decode()
    assert "Nothing was written." in page
    rows = [
        (e.sheet, e.row, e.column, e.message)
        for e in response.context["rejected"].row_errors
    ]
    assert rows == [
        ("units", 2, "parent_code", "No unit has the code “NOPE” in this file or in Rantai."),
        (
            "holders", 2, "tanggal_mulai",
            "“31/02/2026” is not a date. Write dates as dd/mm/yyyy, for example 17/08/2026.",
        ),
    ]  # fmt: skip
    assert (
        '<td>units</td>\n      <td>2</td>\n      <td><span class="code">parent_code</span></td>'
        in page
    )
    assert "“31/02/2026” is not a date." in page


@override_settings(RANTAI_IMPORT_MAX_BYTES=1024)
def test_an_oversized_upload_is_refused_before_it_is_read(acme: SmallOrg, url):
    before = written(acme.organisation)

    response = logged_in(acme.admin).post(
        url, {"file": upload("big.xlsx", b"x" * 2048)}
    )

    assert response.status_code == 422
    assert written(acme.organisation) == before
    assert (
        "The file is too large (2.0 KB); the limit is 1.0 KB."
        in response.content.decode()
    )


def test_an_upload_without_a_file_is_asked_for_again(acme: SmallOrg, url):
    response = logged_in(acme.admin).post(url, {})

    assert response.status_code == 422
    assert response.context["form"].errors == {"file": ["This field is required."]}


@pytest.mark.parametrize(
    ("name", "content_type", "file_name"),
    [
        ("org-transfer-template-xlsx", XLSX, "rantai-organisation-template.xlsx"),
        (
            "org-transfer-template-zip",
            "application/zip",
            "rantai-organisation-template.zip",
        ),
    ],
)
def test_the_templates_download(acme: SmallOrg, name, content_type, file_name):
    response = logged_in(acme.admin).get(reverse(name, args=["acme"]))

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="{file_name}"'
    assert response.content[:2] == b"PK"
