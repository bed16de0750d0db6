"""Workload analysis through the API: the method settings, opening an analysis,
filling in entries (one, many, an Excel file), the sheet and analysis flow,
revisions and their differences, reports — every role, exact decimals as
strings, field errors named after the request, stale versions answered 409, and
refusals that write nothing.

The team (rantai/workload/tests/conftest.py): Hana (HR analyst) analyses Export;
Rina heads it, Dina and Budi (no login) are its clerks, the planner's position is
vacant, Eko is the acting documents officer; Sari, the director, is Rina's and
Hana's superior.
"""

from __future__ import annotations

import io
import json
from typing import Any

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.accounts.models import User
from rantai.api.tests.conftest import Api, api_for, audit_head, problem_of
from rantai.approvals import services as approvals
from rantai.approvals.models import ApprovalRequest, Outcome, SubjectKind
from rantai.org import services as org
from rantai.workload import services
from rantai.workload.models import (
    Analysis,
    AnalysisStatus,
    Entry,
    PositionSheet,
    SheetStatus,
    WorkloadSettings,
)
from rantai.workload.tests.conftest import START, Team, build_team

BASE = "/orgs/acme/workload"
KEY = {"Idempotency-Key": "5b1f0c3e-8a2d-4e6f-9c1b-2d3e4f5a6b7c"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

CLERK = {
    "Prepare documents": ("1200", "year", "30", "minute"),
    "Book containers": ("4", "day", "15", "minute"),
}
HEAD = {
    "Price shipping": ("10", "week", "45", "minute"),
    "Approve shipments": ("300", "year", "1", "hour"),
}
PLANNER = {"Plan loadings": ("20", "month", "2", "hour")}
DOCUMENTS = {"Check certificates": ("2500", "year", "20", "minute")}

DEFAULT_METHOD = {
    "preset": "permenpan_rb_1_2020",
    "effective": {"day": "300", "week": "1500", "month": "6250", "year": "75000"},
    "calendar": {"days_per_year": 250, "weeks_per_year": 50, "months_per_year": 12},
    "custom": None,
    "rounding": "half_up_at_least_one",
    "acting_holders_count": False,
    "grades": [
        {"grade": "A", "lower": "1.00", "lower_inclusive": False},
        {"grade": "B", "lower": "0.90", "lower_inclusive": True},
        {"grade": "C", "lower": "0.70", "lower_inclusive": True},
        {"grade": "D", "lower": "0.50", "lower_inclusive": True},
        {"grade": "E", "lower": None, "lower_inclusive": False},
    ],
    "fte_allowance_percent": "15",
    "fte_convention": "allowance_added",
    "fte_underload_below": "1.00",
    "fte_overload_above": "1.28",
}


@pytest.fixture
def team(acme) -> Team:
    return build_team(acme)


@pytest.fixture
def analysis(team: Team) -> Analysis:
    """Export 2026, opened by Hana."""
    return services.open_analysis(team.acme.export, actor=team.hana, year=2026)


def _api(user: User) -> Any:
    """An API client with a token of the user (its answers have `.json()`)."""
    return api_for(user)


def _put(api: Api, path: str, body: Any, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return api.request("put", path, body, headers=headers)


def _sheet(analysis: Analysis, position) -> PositionSheet:  # type: ignore[no-untyped-def]
    return PositionSheet.objects.get(analysis=analysis, position=position)


def _entry(analysis: Analysis, title: str) -> Entry:
    return Entry.objects.get(sheet__analysis=analysis, title=title)


def _state() -> list[Any]:
    """Everything a workload write could have changed."""
    return [
        sorted(WorkloadSettings.objects.values_list("pk", "version", "method")),
        sorted(
            Analysis.objects.values_list(
                "pk", "version", "status", "required_total", "computed_at"
            )
        ),
        sorted(
            PositionSheet.objects.values_list(
                "pk", "version", "status", "entries_version", "required_staff"
            )
        ),
        sorted(
            Entry.objects.values_list(
                "pk", "version", "volume", "volume_period", "standard_time", "time_unit"
            )
        ),
        ApprovalRequest.objects.count(),
    ]


def _no_floats(value: Any) -> bool:
    """Figures travel as exact strings: no float anywhere in a JSON answer."""
    if isinstance(value, dict):
        return all(_no_floats(item) for item in value.values())
    if isinstance(value, list):
        return all(_no_floats(item) for item in value)
    return not isinstance(value, float)


class Unchanged:
    """Asserts that nothing was written between start and check."""

    def __init__(self, team: Team) -> None:
        self.organisation = team.organisation
        self.state = _state()
        self.head = audit_head(self.organisation)

    def check(self) -> None:
        assert _state() == self.state
        assert audit_head(self.organisation) == self.head


def _figures(volume, period, standard_time, unit) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "volume": volume,
        "volume_period": period,
        "standard_time": standard_time,
        "time_unit": unit,
    }


def _fill(api: Api, analysis: Analysis, figures: dict[str, tuple]) -> None:  # type: ignore[type-arg]
    for title, values in figures.items():
        entry = _entry(analysis, title)
        response = api.patch(
            f"{BASE}/analyses/{analysis.pk}/entries/{entry.pk}",
            {**_figures(*values), "version": entry.version},
        )
        assert response.status_code == 200, response.content


def _request(kind: str, subject_id: int) -> ApprovalRequest:
    return ApprovalRequest.objects.filter(
        subject_kind=kind, subject_id=subject_id
    ).latest("id")


def _submit_sheet(api: Api, sheet: PositionSheet) -> dict[str, Any]:
    sheet.refresh_from_db()
    response = api.post(
        f"{BASE}/analyses/{sheet.analysis_id}/sheets/{sheet.pk}/submit",
        {"version": sheet.version},
    )
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def _validate(sheet: PositionSheet, approver) -> None:  # type: ignore[no-untyped-def]
    approvals.decide(
        _request(SubjectKind.WORKLOAD_SHEET, sheet.pk),
        actor=approver,
        outcome=Outcome.APPROVE,
    )


def _validate_all(team: Team, analysis: Analysis) -> None:
    """Every sheet filled in by its incumbents (the vacant one by Hana),
    submitted and validated by the superior."""
    acme = team.acme
    for position, user, figures, approver in (
        (acme.export_staff, team.dina, CLERK, team.rina),
        (acme.export_head, team.rina, HEAD, team.sari),
        (team.planner, team.hana, PLANNER, team.rina),
        (team.documents_officer, team.eko, DOCUMENTS, team.rina),
    ):
        api = _api(user)
        _fill(api, analysis, figures)
        sheet = _sheet(analysis, position)
        _submit_sheet(api, sheet)
        _validate(sheet, approver)
        sheet.refresh_from_db()
        assert sheet.status == SheetStatus.VALIDATED


def _approved(team: Team, analysis: Analysis) -> Analysis:
    _validate_all(team, analysis)
    analysis.refresh_from_db()
    response = _api(team.hana).post(
        f"{BASE}/analyses/{analysis.pk}/submit", {"version": analysis.version}
    )
    assert response.status_code == 200, response.content
    approvals.decide(
        _request(SubjectKind.WORKLOAD_ANALYSIS, analysis.pk),
        actor=team.sari,
        outcome=Outcome.APPROVE,
    )
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.APPROVED
    return analysis


# --- settings -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "auditor"])
def test_everyone_inside_reads_the_default_method_as_version_0(team, api_as, role):
    response = api_as(role).get(f"{BASE}/settings")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "method": DEFAULT_METHOD,
        "is_default": True,
        "version": 0,
    }
    assert response["ETag"] == '"0"'


def test_an_admin_changes_the_method_from_the_defaults_with_version_0(
    team, api_as, audit_trail
):
    trail = audit_trail(team.organisation)

    response = _put(
        api_as("admin"),
        f"{BASE}/settings",
        {
            "method": {
                "preset": "permendagri_12_2008",
                "acting_holders_count": True,
                "fte_allowance_percent": "12.5",
            },
            "version": 0,
        },
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["version"], body["is_default"]) == (1, False)
    assert response["ETag"] == '"1"'
    assert body["method"]["preset"] == "permendagri_12_2008"
    assert body["method"]["effective"] == {
        "day": "300",
        "week": "1500",
        "month": "6500",
        "year": "78000",
    }
    assert body["method"]["acting_holders_count"] is True
    assert body["method"]["fte_allowance_percent"] == "12.5"
    stored = WorkloadSettings.objects.get(organisation=team.organisation)
    assert stored.method == body["method"]
    assert [event.verb for event in trail.new_events()] == ["settings_changed"]

    again = _put(
        api_as("admin"),
        f"{BASE}/settings",
        {"method": {"preset": "permenpan_rb_1_2020"}},
        headers={"If-Match": '"1"'},
    )
    assert again.status_code == 200, again.content
    assert again.json()["version"] == 2
    assert again.json()["method"] == DEFAULT_METHOD


@pytest.mark.parametrize("role", ["member", "auditor", "partner"])
def test_only_admins_change_the_method(team, api_as, role):
    unchanged = Unchanged(team)

    response = _put(
        api_as(role), f"{BASE}/settings", {"method": {"preset": "custom"}, "version": 0}
    )

    assert response.status_code == 403
    assert problem_of(response)["code"] == "forbidden"
    unchanged.check()


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        ({"method": {}, "version": 3}, {}, 409, None),
        ({"method": {}}, {}, 428, None),
        (
            {"method": {"fte_overload_above": "0.5"}, "version": 0},
            {},
            422,
            "method.fte_overload_above",
        ),
        (
            {"method": {"fte_allowance_percent": "abc"}, "version": 0},
            {},
            422,
            "method.fte_allowance_percent",
        ),
        (
            {"method": {"fte_allowance_percent": 12.5}, "version": 0},
            {},
            422,
            "method.fte_allowance_percent",
        ),
        ({"method": {"preset": "sometime"}, "version": 0}, {}, 422, "method.preset"),
        (
            {
                "method": {"preset": "custom", "custom": {"hours_per_day": "-8"}},
                "version": 0,
            },
            {},
            422,
            "method.custom.hours_per_day",
        ),
    ],
)
def test_a_bad_or_stale_method_change_writes_nothing(
    team, api_as, body, headers, status, field
):
    unchanged = Unchanged(team)

    response = _put(api_as("admin"), f"{BASE}/settings", body, headers=headers)

    assert response.status_code == status, response.content
    problem = problem_of(response)
    if field is not None:
        # the field named first (a bad custom day also makes its WKE unusable)
        assert next(iter(problem["errors"])) == field, problem
    unchanged.check()


def test_partners_and_outsiders_see_no_workload(team, api_as, other_org):
    for api in (api_as("partner"), api_for(other_org.admin)):
        response = api.get(f"{BASE}/settings")
        assert response.status_code == 404
        assert problem_of(response)["code"] == "not_found"


# --- opening and reading analyses ---------------------------------------------------


def test_the_analyst_opens_an_analysis(team, audit_trail):
    acme = team.acme
    trail = audit_trail(team.organisation)

    response = _api(team.hana).post(
        f"{BASE}/analyses",
        {"unit_id": acme.export.pk, "year": 2026},
        headers=KEY,
    )

    assert response.status_code == 201, response.content
    body = response.json()
    opened = Analysis.objects.get()
    assert response["Location"] == f"/api/v1{BASE}/analyses/{opened.pk}"
    assert response["ETag"] == '"1"'
    assert {k: v for k, v in body.items() if k not in ("created_at", "updated_at")} == {
        "id": opened.pk,
        "unit_id": acme.export.pk,
        "unit_code": "EXP",
        "unit_name": "Export",
        "year": 2026,
        "revision": 1,
        "previous_id": None,
        "status": "collecting",
        "analyst_id": team.hana_person.pk,
        "analyst_name": "Hana Putri",
        "analyst_position_id": team.analyst_position.pk,
        "working_days": opened.working_days,
        "minutes_per_day": 480,
        "computed_at": None,
        "required_total": None,
        "required_count": None,
        "current_count": None,
        "shortage": None,
        "approved_at": None,
        "approved_by_id": None,
        "approved_by_position_id": None,
        "is_frozen": False,
        "version": 1,
        "method": DEFAULT_METHOD,
    }
    assert opened.sheets.count() == 4
    assert "created" in [event.verb for event in trail.new_events()]

    replayed = _api(team.hana).post(
        f"{BASE}/analyses", {"unit_id": acme.export.pk, "year": 2026}, headers=KEY
    )
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.content == response.content
    assert Analysis.objects.count() == 1


@pytest.mark.parametrize("role", ["auditor", "partner"])
def test_auditors_and_partners_open_nothing(team, api_as, role):
    unchanged = Unchanged(team)

    response = api_as(role).post(
        f"{BASE}/analyses", {"unit_id": team.acme.export.pk, "year": 2026}
    )

    assert response.status_code == 403
    assert problem_of(response)["code"] == "forbidden"
    unchanged.check()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"unit_id": "forwarder", "year": 2026}, "unit_id"),
        ({"unit_id": "other", "year": 2026}, "unit_id"),
        ({"unit_id": "export", "year": 1999}, "year"),
        ({"unit_id": "export", "year": "next"}, "year"),
        ({"unit_id": "export"}, "year"),
        (
            {"unit_id": "export", "year": 2026, "analyst_position_id": "other"},
            "analyst_position_id",
        ),
    ],
)
def test_opening_with_bad_input_writes_nothing(team, other_org, body, field):
    units = {
        "export": team.acme.export.pk,
        "forwarder": team.acme.forwarder.pk,
        "other": other_org.export.pk,
    }
    positions = {"other": other_org.export_head.pk}
    sent = dict(body)
    sent["unit_id"] = units[sent["unit_id"]]
    if "analyst_position_id" in sent:
        sent["analyst_position_id"] = positions[sent["analyst_position_id"]]
    unchanged = Unchanged(team)

    response = _api(team.hana).post(f"{BASE}/analyses", sent)

    assert response.status_code == 422, response.content
    assert list(problem_of(response)["errors"]) == [field]
    unchanged.check()


def test_a_second_open_analysis_of_the_unit_and_year_is_refused(team, analysis):
    unchanged = Unchanged(team)

    response = _api(team.hana).post(
        f"{BASE}/analyses", {"unit_id": team.acme.export.pk, "year": 2026}
    )

    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["code"] == "already_open"
    assert problem["errors"] == {
        "year": ["An analysis of this unit for this year is already in progress."]
    }
    unchanged.check()


@pytest.mark.parametrize("role", ["admin", "member", "auditor"])
def test_everyone_inside_lists_and_reads_analyses(team, api_as, analysis, role):
    api = api_as(role)

    listed = api.get(f"{BASE}/analyses")
    read = api.get(f"{BASE}/analyses/{analysis.pk}")

    assert listed.status_code == read.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [analysis.pk]
    assert listed.json()["count"] == 1
    assert read.json()["method"] == DEFAULT_METHOD
    assert read["ETag"] == '"1"'


def test_analyses_filter_by_year_unit_and_status(team, analysis):
    acme = team.acme
    warehouse = services.open_analysis(acme.warehouse, actor=team.hana, year=2027)
    api = _api(team.hana)

    def ids(**params: Any) -> list[int]:
        response = api.get(f"{BASE}/analyses", **params)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [warehouse.pk, analysis.pk]  # newest year first
    assert ids(year=2026) == [analysis.pk]
    assert ids(unit_id=acme.warehouse.pk) == [warehouse.pk]
    assert ids(status="collecting", year=2027) == [warehouse.pk]
    assert ids(status="approved") == []
    assert api.get(f"{BASE}/analyses", status="lost").status_code == 422


def test_partners_and_outsiders_get_404_for_analyses(team, api_as, analysis, other_org):
    for api in (api_as("partner"), api_for(other_org.admin)):
        for path in (
            f"{BASE}/analyses",
            f"{BASE}/analyses/{analysis.pk}",
            f"{BASE}/analyses/{analysis.pk}/sheets",
            f"{BASE}/analyses/{analysis.pk}/report",
        ):
            response = api.get(path)
            assert response.status_code == 404, path
            assert problem_of(response)["code"] == "not_found"
    # and another organisation's analysis is not found from inside acme either
    theirs = api_for(other_org.admin).get(
        f"/orgs/globex/workload/analyses/{analysis.pk}"
    )
    assert theirs.status_code == 404


# --- sheets and entries -------------------------------------------------------------


def test_sheets_list_their_holders_progress_and_results(team, analysis):
    acme = team.acme
    _fill(_api(team.dina), analysis, {"Prepare documents": CLERK["Prepare documents"]})

    response = _api(team.acme.auditor).get(f"{BASE}/analyses/{analysis.pk}/sheets")

    assert response.status_code == 200, response.content
    items = response.json()["items"]
    assert [
        (
            item["position_code"],
            item["unit_code"],
            [(h["name"], h["acting"]) for h in item["holders"]],
            item["entries_filled"],
            item["entries_total"],
            item["missing_duties"],
            item["status"],
            item["required_staff"],
        )
        for item in items
    ] == [
        (
            "EXP-CLERK",
            "EXP",
            [("Budi Santoso", False), ("Dina Lestari", False)],
            1,
            2,
            False,
            "draft",
            None,
        ),
        ("EXP-PLAN", "EXP", [], 0, 1, False, "draft", None),
        ("EXP-HEAD", "EXP", [("Rina Kusuma", False)], 0, 2, False, "draft", None),
        ("EXP-DOC", "EXP-DOCS", [("Eko Prasetyo", True)], 0, 1, False, "draft", None),
    ]
    assert items[0]["position_id"] == acme.export_staff.pk
    assert response.json()["count"] == 4


def test_an_incumbent_fills_in_an_entry_and_reads_its_figures(team, analysis):
    entry = _entry(analysis, "Prepare documents")
    sheet = entry.sheet

    response = _api(team.dina).patch(
        f"{BASE}/analyses/{analysis.pk}/entries/{entry.pk}",
        {**_figures("1200", "year", "30", "minute"), "version": 1},
    )

    assert response.status_code == 200, response.content
    assert response["ETag"] == '"2"'
    body = response.json()
    assert {k: body[k] for k in body if k != "trace"} == {
        "id": entry.pk,
        "sheet_id": sheet.pk,
        "duty_id": team.prepare.pk,
        "title": "Prepare documents",
        "output_unit": "document set",
        "sort_order": entry.sort_order,
        "volume": "1200.0000",
        "volume_period": "year",
        "standard_time": "30.0000",
        "time_unit": "minute",
        "is_filled": True,
        "duty_active": True,
        "version": 2,
        "standard_minutes": "30.0000",
        "effective_minutes": "75000",
        "required_staff": "0.48000000",
        "yearly_minutes": "36000.00000000",
    }
    assert body["trace"] == "1,200 × 30 min ÷ 75,000 min = 0.4800"
    entry.refresh_from_db()
    assert (entry.volume, entry.standard_time) == (1200, 30)

    # a PATCH changes only what it sends
    again = _api(team.dina).patch(
        f"{BASE}/analyses/{analysis.pk}/entries/{entry.pk}",
        {"volume_period": "month"},
        headers={"If-Match": '"2"'},
    )
    assert again.status_code == 200, again.content
    assert (again.json()["volume"], again.json()["volume_period"]) == (
        "1200.0000",
        "month",
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (_figures("-1", "year", "30", "minute"), 422, "volume"),
        (_figures("1000001", "day", "30", "minute"), 422, "volume"),
        (_figures("12", "year", "0", "minute"), 422, "standard_time"),
        (_figures("12", "day", "5.5", "hour"), 422, "standard_time"),
        (_figures("1,5", "year", "30", "minute"), 422, "volume"),
        (_figures("1.250,5", "year", "30", "minute"), 422, "volume"),
        (_figures("1e3", "year", "30", "minute"), 422, "volume"),
        (_figures("NaN", "year", "30", "minute"), 422, "volume"),
        (_figures("", "year", "30", "minute"), 422, "volume"),
        (_figures("12", "year", "30.12345", "minute"), 422, "standard_time"),
        ({**_figures("12", "year", "30", "minute"), "volume": 12.5}, 422, "volume"),
        (_figures("12", "fortnight", "30", "minute"), 422, "volume_period"),
        (_figures("12", "year", "30", "seconds"), 422, "time_unit"),
    ],
)
def test_bad_figures_are_refused_and_write_nothing(team, analysis, body, status, field):
    entry = _entry(analysis, "Prepare documents")
    unchanged = Unchanged(team)

    response = _api(team.dina).patch(
        f"{BASE}/analyses/{analysis.pk}/entries/{entry.pk}", {**body, "version": 1}
    )

    assert response.status_code == status, response.content
    assert list(problem_of(response)["errors"]) == [field]
    unchanged.check()


def test_a_stale_or_missing_version_writes_nothing(team, analysis):
    entry = _entry(analysis, "Prepare documents")
    api = _api(team.dina)
    path = f"{BASE}/analyses/{analysis.pk}/entries/{entry.pk}"
    assert api.patch(path, {"volume": "5", "version": 1}).status_code == 200
    unchanged = Unchanged(team)

    stale = api.patch(path, {"volume": "6", "version": 1})
    missing = api.patch(path, {"volume": "6"})

    assert stale.status_code == 409
    assert problem_of(stale)["code"] == "conflict"
    assert missing.status_code == 428
    assert problem_of(missing)["code"] == "version_required"
    unchanged.check()


@pytest.mark.parametrize("who", ["rina", "hana", "admin", "auditor", "partner"])
def test_only_the_incumbents_fill_in_a_sheet(team, analysis, who):
    users = {
        "rina": team.rina,  # the superior
        "hana": team.hana,  # the analyst (the position is not vacant)
        "admin": team.admin,
        "auditor": team.acme.auditor,
        "partner": team.acme.partner,
    }
    entry = _entry(analysis, "Prepare documents")
    unchanged = Unchanged(team)

    response = _api(users[who]).patch(
        f"{BASE}/analyses/{analysis.pk}/entries/{entry.pk}",
        {"volume": "5", "version": 1},
    )

    assert response.status_code == 403, response.content
    assert problem_of(response)["code"] == "forbidden"
    unchanged.check()


def test_an_entry_of_another_analysis_is_not_found(team, analysis):
    other = services.open_analysis(team.acme.warehouse, actor=team.hana, year=2026)
    entry = _entry(analysis, "Prepare documents")

    response = _api(team.dina).patch(
        f"{BASE}/analyses/{other.pk}/entries/{entry.pk}", {"volume": "5", "version": 1}
    )

    assert response.status_code == 404


def test_entries_are_set_in_bulk_all_or_nothing(team, analysis, audit_trail):
    prepare = _entry(analysis, "Prepare documents")
    book = _entry(analysis, "Book containers")
    api = _api(team.dina)
    path = f"{BASE}/analyses/{analysis.pk}/entries"
    unchanged = Unchanged(team)

    refused = api.post(
        path,
        {
            "rows": [
                {"entry_id": prepare.pk, **_figures("1200", "year", "30", "minute")},
                {"entry_id": book.pk, **_figures("-4", "day", "15", "minute")},
                {"entry_id": book.pk + 999, **_figures("1", "day", "1", "minute")},
            ]
        },
    )

    assert refused.status_code == 422
    assert problem_of(refused)["errors"] == {
        "rows.1.volume": ["The volume of work cannot be negative."],
        "rows.2.entry_id": ["There is no such entry in this analysis."],
    }
    unchanged.check()

    malformed = api.post(
        path,
        {"rows": [{"entry_id": book.pk, **_figures("4", "day", "1,5", "minute")}]},
    )
    assert malformed.status_code == 422
    assert list(problem_of(malformed)["errors"]) == ["rows.0.standard_time"]
    unchanged.check()

    trail = audit_trail(team.organisation)
    done = api.post(
        path,
        {
            "rows": [
                {"entry_id": prepare.pk, **_figures("1200", "year", "30", "minute")},
                {"entry_id": book.pk, **_figures("4", "day", "15", "minute")},
            ]
        },
        headers=KEY,
    )
    assert done.status_code == 200, done.content
    assert done.json() == {"changed": 2}
    assert len(trail.new_events()) == 2
    book.refresh_from_db()
    assert (book.volume, book.volume_period, book.standard_time) == (4, "day", 15)


def test_a_sheet_reads_with_its_entries_and_traces(team, analysis):
    _fill(_api(team.dina), analysis, CLERK)
    sheet = _sheet(analysis, team.acme.export_staff)

    response = _api(team.hana).get(f"{BASE}/analyses/{analysis.pk}/sheets/{sheet.pk}")

    assert response.status_code == 200, response.content
    assert response["ETag"] == f'"{sheet.version}"'
    body = response.json()
    assert (body["position_code"], body["entries_filled"], body["status"]) == (
        "EXP-CLERK",
        2,
        "draft",
    )
    assert [
        (entry["title"], entry["required_staff"], entry["trace"])
        for entry in body["entries"]
    ] == [
        ("Prepare documents", "0.48000000", "1,200 × 30 min ÷ 75,000 min = 0.4800"),
        ("Book containers", "0.20000000", "4 × 15 min ÷ 300 min = 0.2000"),
    ]
    # not computed yet: worked out with today's two clerks
    assert body["traces"]["required_staff"] == "0.4800 + 0.2000 = 0.6800"
    assert body["traces"]["effectiveness"] == "0.6800 ÷ 2 = 0.3400"
    assert body["required_staff"] is None


def test_the_sheet_flow_submit_and_withdraw(team, analysis):
    acme = team.acme
    sheet = _sheet(analysis, acme.export_staff)
    api = _api(team.dina)
    path = f"{BASE}/analyses/{analysis.pk}/sheets/{sheet.pk}"

    unfilled = api.post(f"{path}/submit", {"version": sheet.version})
    assert unfilled.status_code == 422, unfilled.content
    assert problem_of(unfilled)["status"] == 422

    _fill(api, analysis, CLERK)
    submitted = _submit_sheet(api, sheet)
    assert submitted["status"] == "submitted"
    request = _request(SubjectKind.WORKLOAD_SHEET, sheet.pk)
    assert request.status == "open"

    sheet.refresh_from_db()
    stale = api.post(f"{path}/withdraw", {"version": sheet.version - 1})
    assert stale.status_code == 409

    for role in ("auditor", "partner"):
        refused = api_for(getattr(acme, role)).post(
            f"{path}/withdraw", {"version": sheet.version}
        )
        assert refused.status_code == 403

    withdrawn = api.post(
        f"{path}/withdraw", headers={"If-Match": f'"{sheet.version}"', **KEY}
    )
    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["status"] == "draft"
    sheet.refresh_from_db()
    assert withdrawn["ETag"] == f'"{sheet.version}"'
    assert sheet.status == SheetStatus.DRAFT


def test_a_submitted_sheet_cannot_be_edited(team, analysis):
    api = _api(team.dina)
    _fill(api, analysis, CLERK)
    _submit_sheet(api, _sheet(analysis, team.acme.export_staff))
    entry = _entry(analysis, "Prepare documents")
    unchanged = Unchanged(team)

    response = api.patch(
        f"{BASE}/analyses/{analysis.pk}/entries/{entry.pk}",
        {"volume": "1", "version": entry.version},
    )

    assert response.status_code == 422
    assert problem_of(response)["code"] == "submitted"
    unchanged.check()


# --- the analysis flow --------------------------------------------------------------


def test_the_analyst_computes_while_collecting(team, analysis, audit_trail):
    _fill(_api(team.dina), analysis, CLERK)
    _fill(_api(team.rina), analysis, HEAD)
    trail = audit_trail(team.organisation)

    response = _api(team.hana).post(f"{BASE}/analyses/{analysis.pk}/compute")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (
        body["required_total"],
        body["required_count"],
        body["current_count"],
        body["shortage"],
        body["version"],
    ) == ("1.220000", 2, 3, -1, 2)
    assert body["computed_at"] is not None
    assert [event.verb for event in trail.new_events()] == ["computed"]
    sheets = _api(team.hana).get(f"{BASE}/analyses/{analysis.pk}/sheets").json()
    assert [
        (
            s["position_code"],
            s["required_staff"],
            s["required_count"],
            s["effectiveness"],
            s["grade"],
            s["current_holders"],
            s["acting_holders"],
        )
        for s in sheets["items"]
    ] == [
        ("EXP-CLERK", "0.680000", 1, "0.340000", "E", 2, 0),
        ("EXP-PLAN", "0.000000", 0, None, "", 0, 0),
        ("EXP-HEAD", "0.540000", 1, "0.540000", "D", 1, 0),
        ("EXP-DOC", "0.000000", 0, None, "", 0, 1),
    ]


@pytest.mark.parametrize("who", ["rina", "auditor", "partner"])
def test_only_the_analyst_computes(team, analysis, who):
    users = {
        "rina": team.rina,
        "auditor": team.acme.auditor,
        "partner": team.acme.partner,
    }
    unchanged = Unchanged(team)

    response = _api(users[who]).post(f"{BASE}/analyses/{analysis.pk}/compute")

    assert response.status_code == 403
    unchanged.check()


def test_submitting_needs_every_sheet_validated(team, analysis):
    unchanged = Unchanged(team)
    api = _api(team.hana)

    early = api.post(f"{BASE}/analyses/{analysis.pk}/submit", {"version": 1})
    stale = api.post(f"{BASE}/analyses/{analysis.pk}/submit", {"version": 7})
    missing = api.post(f"{BASE}/analyses/{analysis.pk}/submit")

    assert early.status_code == 422, early.content
    assert stale.status_code == 409
    assert missing.status_code == 428
    unchanged.check()


def test_submit_withdraw_approve_revise_and_diff(team, analysis):
    _validate_all(team, analysis)
    api = _api(team.hana)
    path = f"{BASE}/analyses/{analysis.pk}"
    analysis.refresh_from_db()

    submitted = api.post(f"{path}/submit", {"version": analysis.version}, headers=KEY)
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["status"] == "in_review"
    assert submitted.json()["required_total"] == "2.270667"
    version = submitted.json()["version"]

    withdrawn = api.post(f"{path}/withdraw", {"version": version})
    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["status"] == "collecting"

    again = api.post(f"{path}/submit", {"version": withdrawn.json()["version"]})
    assert again.status_code == 200, again.content
    approvals.decide(
        _request(SubjectKind.WORKLOAD_ANALYSIS, analysis.pk),
        actor=team.sari,
        outcome=Outcome.APPROVE,
    )
    approved = api.get(path).json()
    assert (approved["status"], approved["is_frozen"]) == ("approved", True)
    assert approved["approved_by_id"] == team.sari_person.pk

    # frozen: no more changes to its entries
    entry = _entry(analysis, "Prepare documents")
    frozen = _api(team.dina).patch(
        f"{path}/entries/{entry.pk}", {"volume": "1", "version": entry.version}
    )
    assert frozen.status_code == 422

    revised = api.post(f"{path}/revisions", headers={"Idempotency-Key": "revise-1"})
    assert revised.status_code == 201, revised.content
    revision = revised.json()
    assert (revision["revision"], revision["previous_id"], revision["status"]) == (
        2,
        analysis.pk,
        "collecting",
    )
    assert revised["Location"] == f"/api/v1{BASE}/analyses/{revision['id']}"
    assert api.get(f"{path}/diff").json() == []

    new = Analysis.objects.get(pk=revision["id"])
    _fill(_api(team.dina), new, {"Prepare documents": ("2400", "year", "30", "minute")})
    assert api.post(f"{BASE}/analyses/{new.pk}/compute").status_code == 200
    changes = api.get(f"{BASE}/analyses/{new.pk}/diff")
    assert changes.status_code == 200, changes.content
    assert changes.json() == [
        {
            "kind": "entry_changed",
            "position_code": "EXP-CLERK",
            "position_title": "Export clerk",
            "duty": "Prepare documents",
            "changes": {"volume": ["1200.0000", "2400.0000"]},
            "before": None,
            "after": None,
        },
        {
            "kind": "required_changed",
            "position_code": "EXP-CLERK",
            "position_title": "Export clerk",
            "duty": "",
            "changes": {},
            "before": "0.680000",
            "after": "1.160000",
        },
        {
            "kind": "required_changed",
            "position_code": "",
            "position_title": "",
            "duty": "",
            "changes": {},
            "before": "2.270667",
            "after": "2.750667",
        },
    ]


def test_cancelling_needs_a_reason_and_freezes_the_analysis(team, analysis):
    api = _api(team.hana)
    path = f"{BASE}/analyses/{analysis.pk}/cancel"
    unchanged = Unchanged(team)

    for role in ("auditor", "partner"):
        assert (
            api_for(getattr(team.acme, role))
            .post(path, {"reason": "No", "version": 1})
            .status_code
            == 403
        )
    assert api.post(path, {"version": 1}).status_code == 422
    assert api.post(path, {"reason": "Merged", "version": 9}).status_code == 409
    unchanged.check()

    response = api.post(path, {"reason": "Merged into Logistics", "version": 1})

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["is_frozen"]) == (
        "cancelled",
        True,
    )


# --- the template, the import and reports --------------------------------------------


def _filled_template(api: Api, analysis: Analysis, cells: dict[str, Any]) -> bytes:
    response = api.get(f"{BASE}/analyses/{analysis.pk}/template")
    assert response.status_code == 200, response.content
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = workbook.worksheets[0]
    for cell, value in cells.items():
        sheet[cell] = value
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _upload(api: Api, analysis: Analysis, data: bytes, **headers: str):  # type: ignore[no-untyped-def]
    """POST the file as multipart/form-data, as a browser or curl -F does."""
    upload = io.BytesIO(data)
    upload.name = "entries.xlsx"
    all_headers = {"Authorization": f"Bearer {api.token}", **headers}
    return api.client.post(
        f"/api/v1{BASE}/analyses/{analysis.pk}/import",
        {"file": upload},
        headers=all_headers,
    )


def test_the_template_downloads_as_an_excel_file(team, analysis):
    response = _api(team.dina).get(f"{BASE}/analyses/{analysis.pk}/template")

    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert response["Content-Disposition"] == (
        'attachment; filename="workload-template-EXP-2026-r1.xlsx"'
    )
    rows = list(
        openpyxl.load_workbook(io.BytesIO(response.content))
        .worksheets[0]
        .iter_rows(min_row=2, max_col=4, values_only=True)
    )
    assert [(code, duty) for code, _title, _id, duty in rows] == [
        ("EXP-CLERK", "Prepare documents"),
        ("EXP-CLERK", "Book containers"),
        ("EXP-PLAN", "Plan loadings"),
        ("EXP-HEAD", "Price shipping"),
        ("EXP-HEAD", "Approve shipments"),
        ("EXP-DOC", "Check certificates"),
    ]


def test_a_filled_in_template_imports_all_or_nothing(team, analysis):
    api = _api(team.dina)
    bad = _filled_template(api, analysis, {"F2": -5, "H2": 10, "F3": 2, "H3": 0})
    unchanged = Unchanged(team)

    refused = _upload(api, analysis, bad)

    assert refused.status_code == 422, refused.content
    problem = problem_of(refused)
    assert problem["code"] == "import_rejected"
    assert problem["detail"] == (
        "The file was not imported: 2 problems were found. Nothing was written."
    )
    assert problem["errors"] == {
        "file": [
            "Row 2, volume of work: The volume of work cannot be negative.",
            "Row 3, standard time: The standard time must be more than zero.",
        ]
    }
    unchanged.check()

    good = _filled_template(api, analysis, {"F2": 1200, "H2": 30, "F3": 4, "H3": 15})
    imported = _upload(api, analysis, good, **{"Idempotency-Key": "import-1"})
    replayed = _upload(api, analysis, good, **{"Idempotency-Key": "import-1"})

    assert imported.status_code == 200, imported.content
    assert imported.json() == {"changed": 2}
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == {"changed": 2}
    entry = _entry(analysis, "Prepare documents")
    assert (entry.volume, entry.standard_time, entry.version) == (1200, 30, 2)


@pytest.mark.parametrize("role", ["auditor", "partner"])
def test_auditors_and_partners_import_nothing(team, api_as, analysis, role):
    data = _filled_template(_api(team.dina), analysis, {"F2": 1, "H2": 1})
    unchanged = Unchanged(team)

    response = _upload(api_as(role), analysis, data)

    assert response.status_code == 403
    unchanged.check()


def test_an_upload_that_is_not_a_workbook_or_is_missing_is_refused(team, analysis):
    api = _api(team.dina)
    unchanged = Unchanged(team)

    garbage = _upload(api, analysis, b"not a spreadsheet")
    missing = api.post(f"{BASE}/analyses/{analysis.pk}/import", {})

    assert garbage.status_code == 422
    assert list(problem_of(garbage)["errors"]) == ["file"]
    assert missing.status_code == 422
    assert list(problem_of(missing)["errors"]) == ["file"]
    unchanged.check()


def test_the_report_as_json_with_exact_decimals(team, analysis):
    _fill(_api(team.dina), analysis, CLERK)
    compute = _api(team.hana).post(f"{BASE}/analyses/{analysis.pk}/compute")
    assert compute.status_code == 200

    response = _api(team.acme.auditor).get(f"{BASE}/analyses/{analysis.pk}/report")

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["analysis_id"] == analysis.pk
    assert body["totals"]["required_staff"] == "0.680000"
    clerk = body["positions"][0]
    assert (clerk["code"], clerk["required_staff"], clerk["effectiveness"]) == (
        "EXP-CLERK",
        "0.680000",
        "0.340000",
    )
    assert _no_floats(body)
    assert (
        response.json()
        == _api(team.hana)
        .get(f"{BASE}/analyses/{analysis.pk}/report", format="json")
        .json()
    )


@pytest.mark.parametrize(
    ("format", "content_type", "magic"),
    [("xlsx", XLSX, b"PK"), ("pdf", "application/pdf", b"%PDF")],
)
def test_the_report_as_a_file(team, analysis, format, content_type, magic):
    response = _api(team.acme.auditor).get(
        f"{BASE}/analyses/{analysis.pk}/report", format=format
    )

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == (
        f'attachment; filename="workload-EXP-2026-r1.{format}"'
    )
    assert response.content.startswith(magic)


def test_an_unknown_report_format_is_422(team, analysis):
    response = _api(team.hana).get(
        f"{BASE}/analyses/{analysis.pk}/report", format="docx"
    )

    assert response.status_code == 422
    assert list(problem_of(response)["errors"]) == ["format"]


# --- query counts -------------------------------------------------------------------


def _count(api: Api, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path, limit=100)
    assert response.status_code == 200, response.content
    assert _no_floats(json.loads(response.content))
    return len(captured)


def test_list_query_counts_do_not_grow_with_the_data(team, analysis):
    acme = team.acme
    api = _api(team.hana)
    api.get("/me")  # a token's first use records its last-used time
    small = {
        "analyses": _count(api, f"{BASE}/analyses"),
        "sheets": _count(api, f"{BASE}/analyses/{analysis.pk}/sheets"),
    }

    # more analyses, and one with many more sheets, holders and entries
    for index in range(6):
        position = org.create_position(
            acme.organisation,
            actor=acme.admin,
            party=acme.warehouse,
            title=f"Picker {index}",
            code=f"WH-P{index}",
            superior=acme.director,
        )
        org.create_duty(position, actor=acme.admin, title="Pick", output_unit="order")
        person = org.create_person(
            acme.organisation, actor=acme.admin, full_name=f"Picker {index}"
        )
        org.assign_holder(position, actor=acme.admin, person=person, start_date=START)
    for year in (2027, 2028, 2029):
        services.open_analysis(acme.warehouse, actor=team.hana, year=year)
    whole = services.open_analysis(acme.head_office, actor=team.hana, year=2026)
    assert whole.sheets.count() > 2 * analysis.sheets.count()
    large = {
        "analyses": _count(api, f"{BASE}/analyses"),
        "sheets": _count(api, f"{BASE}/analyses/{whole.pk}/sheets"),
    }

    assert large == small
    # token, membership, the reader check, then count and page; or the analysis,
    # its sheets and their holders
    assert small == {"analyses": 5, "sheets": 6}


# --- every endpoint, every role -----------------------------------------------------


def _reads(analysis: Analysis) -> list[str]:
    sheet = analysis.sheets.first()
    assert sheet is not None
    path = f"{BASE}/analyses/{analysis.pk}"
    return [
        f"{BASE}/settings",
        f"{BASE}/analyses",
        path,
        f"{path}/sheets",
        f"{path}/sheets/{sheet.pk}",
        f"{path}/diff",
        f"{path}/report",
        f"{path}/template",
    ]


def _writes(analysis: Analysis) -> list[tuple[str, str, Any]]:
    sheet = analysis.sheets.first()
    entry = Entry.objects.filter(sheet__analysis=analysis).first()
    assert sheet is not None and entry is not None
    path = f"{BASE}/analyses/{analysis.pk}"
    version = {"version": 1}
    return [
        ("put", f"{BASE}/settings", {"method": {}, "version": 0}),
        ("post", f"{BASE}/analyses", {"unit_id": analysis.unit_id, "year": 2027}),
        ("post", f"{path}/compute", {}),
        ("post", f"{path}/submit", version),
        ("post", f"{path}/withdraw", version),
        ("post", f"{path}/cancel", {"reason": "No", "version": 1}),
        ("post", f"{path}/revisions", {}),
        ("post", f"{path}/sheets/{sheet.pk}/submit", version),
        ("post", f"{path}/sheets/{sheet.pk}/withdraw", version),
        ("post", f"{path}/sheets/{sheet.pk}/refresh-duties", version),
        ("patch", f"{path}/entries/{entry.pk}", {"volume": "1", "version": 1}),
        (
            "post",
            f"{path}/entries",
            {"rows": [{"entry_id": entry.pk, "volume": "1", "standard_time": "1"}]},
        ),
        ("upload", f"{path}/import", b"an xlsx file"),
    ]


def _send(api: Api, method: str, path: str, body: Any) -> int:
    if method == "upload":
        upload = io.BytesIO(body)
        upload.name = "entries.xlsx"
        return api.client.post(
            f"/api/v1{path}",
            {"file": upload},
            headers={"Authorization": f"Bearer {api.token}"},
        ).status_code
    return api.request(method, path, body).status_code


@pytest.mark.parametrize("role", ["admin", "member", "auditor", "partner"])
def test_who_reads_what(team, api_as, analysis, role):
    api = api_as(role)

    statuses = {path: api.get(path).status_code for path in _reads(analysis)}

    expected = 404 if role == "partner" else 200
    assert set(statuses.values()) == {expected}, statuses


@pytest.mark.parametrize("role", ["auditor", "partner"])
def test_auditors_and_partners_change_nothing(team, api_as, analysis, role):
    api = api_as(role)
    unchanged = Unchanged(team)

    statuses = {
        (method, path): _send(api, method, path, body)
        for method, path, body in _writes(analysis)
    }

    assert set(statuses.values()) == {403}, statuses
    unchanged.check()


def test_another_organisation_finds_nothing_to_change(team, analysis, other_org):
    api = api_for(other_org.admin)
    unchanged = Unchanged(team)

    statuses = {
        (method, path): _send(api, method, path, body)
        for method, path, body in _writes(analysis)
    }

    assert set(statuses.values()) == {404}, statuses
    unchanged.check()


def test_an_upload_above_the_size_limit_is_refused(team, analysis, settings):
    api = _api(team.dina)
    data = _filled_template(api, analysis, {"F2": 1200, "H2": 30})
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    unchanged = Unchanged(team)

    plain = _upload(api, analysis, data)
    keyed = _upload(api, analysis, data, **{"Idempotency-Key": "big-1"})

    for response in (plain, keyed):
        assert response.status_code == 422, response.content
        assert problem_of(response)["errors"] == {
            "file": ["The file is too large (at most 1.0\xa0KB)."]
        }
    unchanged.check()


# --- duties that change, staff without logins ---------------------------------------


def test_the_duties_are_taken_from_the_job_description_again(team, analysis):
    acme = team.acme
    sheet = _sheet(analysis, acme.export_staff)
    api = _api(team.dina)
    path = f"{BASE}/analyses/{analysis.pk}/sheets/{sheet.pk}"
    _fill(api, analysis, {"Prepare documents": CLERK["Prepare documents"]})
    org.create_duty(
        acme.export_staff, actor=acme.admin, title="Weigh crates", output_unit="crate"
    )
    org.deactivate_duty(team.prepare, actor=acme.admin, expected_version=None)
    org.deactivate_duty(team.book, actor=acme.admin, expected_version=None)

    before = api.get(path).json()
    assert before["duty_changes"] == {
        "changes_anything": True,
        "added": ["Weigh crates"],
        "removed": ["Book containers"],
        "updated": [],
        "kept": ["Prepare documents"],
        "reordered": True,  # the kept entry goes after the new duty
    }
    assert [(e["title"], e["duty_active"]) for e in before["entries"]] == [
        ("Prepare documents", False),
        ("Book containers", False),
    ]
    sheet.refresh_from_db()
    unchanged = Unchanged(team)
    stale = api.post(f"{path}/refresh-duties", {"version": sheet.version + 1})
    assert stale.status_code == 409
    superior = _api(team.rina).post(f"{path}/refresh-duties", {"version": 1})
    assert superior.status_code == 403
    unchanged.check()

    response = api.post(
        f"{path}/refresh-duties", headers={"If-Match": f'"{sheet.version}"', **KEY}
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert [(e["title"], e["duty_active"]) for e in body["entries"]] == [
        ("Weigh crates", True),
        ("Prepare documents", False),
    ]
    assert body["entries_version"] == 3
    assert body["duty_changes"] == {
        "changes_anything": False,
        "added": [],
        "removed": [],
        "updated": [],
        "kept": ["Prepare documents"],
        "reordered": False,
    }
    # A retry with the same key replays the answer and writes nothing more.
    unchanged = Unchanged(team)
    again = api.post(
        f"{path}/refresh-duties", headers={"If-Match": f'"{sheet.version}"', **KEY}
    )
    assert again.status_code == 200
    assert again.json() == body
    unchanged.check()


def test_the_analyst_fills_in_a_sheet_whose_holders_have_no_login(team):
    acme = team.acme
    driver = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.export,
        title="Export driver",
        code="EXP-DRV",
        superior=acme.export_head,
    )
    org.create_duty(driver, actor=acme.admin, title="Drive", output_unit="trip")
    org.assign_holder(driver, actor=acme.admin, person=acme.budi, start_date=START)
    analysis = services.open_analysis(acme.export, actor=team.hana, year=2026)
    sheet = _sheet(analysis, driver)
    path = f"{BASE}/analyses/{analysis.pk}/sheets/{sheet.pk}"

    read = _api(team.hana).get(path).json()
    assert (read["analyst_fills_in"], read["holders"]) == (
        True,
        [
            {
                "person_id": acme.budi.pk,
                "name": "Budi Santoso",
                "acting": False,
                "fills_in": False,
            }
        ],
    )
    refused = _api(team.dina).patch(
        f"{BASE}/analyses/{analysis.pk}/entries/{_entry(analysis, 'Drive').pk}",
        {**_figures("3", "day", "1", "hour"), "version": 1},
    )
    assert refused.status_code == 403
    _fill(_api(team.hana), analysis, {"Drive": ("3", "day", "1", "hour")})
    assert _submit_sheet(_api(team.hana), sheet)["status"] == "submitted"
    assert _request(SubjectKind.WORKLOAD_SHEET, sheet.pk).requested_by_id == (
        team.hana.pk
    )
    clerk = _sheet(analysis, acme.export_staff)
    listed = _api(team.hana).get(f"{BASE}/analyses/{analysis.pk}/sheets").json()
    assert {
        item["position_code"]: item["analyst_fills_in"] for item in listed["items"]
    } == {
        "EXP-CLERK": False,
        "EXP-DRV": True,
        "EXP-PLAN": True,
        "EXP-HEAD": False,
        "EXP-DOC": False,
    }
    assert clerk.pk in {item["id"] for item in listed["items"]}


def test_a_template_of_an_earlier_revision_is_refused(team, analysis):
    api = _api(team.dina)
    old = _filled_template(api, analysis, {"F2": 5000})
    _approved(team, analysis)
    revision = services.start_revision(analysis, actor=team.hana)
    unchanged = Unchanged(team)

    response = _upload(api, revision, old)

    assert response.status_code == 422, response.content
    assert problem_of(response)["errors"]["file"] == [
        "This file was made for revision 1, not for revision 2 of this analysis. "
        "Download the template of revision 2 and fill that in."
    ]
    unchanged.check()
