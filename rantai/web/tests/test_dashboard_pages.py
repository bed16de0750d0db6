"""The owner's dashboard pages: the chooser, a procedure's and a party's dashboard,
the runs behind every figure, the Excel and PDF exports.

The history is the domain's own (`rantai.insight.tests.test_dashboard.make_history`):
the procedure SHIP with three runs completed in March 2026 — A (on time, 8 h),
B (late, 20.5 h), C (on time, 6 h) —, a run D of another procedure, a run E still
active, and obstacles on A (a partner, 60 min) and B (transport, 120 min). The
pages must show exactly the domain's figures, link every figure to exactly the
domain's runs, refuse partners as the domain does (404) and keep a fixed number
of queries however many runs there are.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from rantai.accounts import services as accounts
from rantai.accounts.access import access_for
from rantai.insight import dashboard as board
from rantai.insight.tests.test_dashboard import (
    History,
    _complete,
    _run,
    make_history,
)
from rantai.org import queries as org_queries
from rantai.testing import SmallOrg
from rantai.web.tests.test_procedure_pages import assert_csp_clean
from rantai.web.views import dashboard as views

pytestmark = pytest.mark.django_db

MARCH = "?period=custom&from=2026-03-01&to=2026-03-31"
START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
RUN_LINK = re.compile(r'<a href="/o/acme/runs/(\d+)/">')
FIGURE_LINK = re.compile(
    r'href="(/o/acme/dashboard/(?:procedures|parties)/\d+/runs/[^"]*)"'
)


@pytest.fixture
def history(acme: SmallOrg) -> History:
    return make_history(acme)


def url(name: str, *args: object) -> str:
    return reverse(name, args=["acme", *args])


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def figures_of(history: History, kind: str = "procedure", pk: int | None = None):  # type: ignore[no-untyped-def]
    scope = history.scope(kind, pk)
    return scope, board.dashboard(history.access(), scope, start=START, end=END)


def links(html: str) -> list[str]:
    """The runs-behind links of a page, unescaped, in order, without repeats."""
    seen: dict[str, None] = {}
    for link in FIGURE_LINK.findall(html):
        seen.setdefault(unescape(link), None)
    return list(seen)


def figure_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["figure"][0]


def run_ids(html: str) -> list[int]:
    return [int(pk) for pk in RUN_LINK.findall(html)]


def in_english(function, *args):  # type: ignore[no-untyped-def]
    with translation.override("en"):
        return function(*args)


# --- the page shows the domain's figures ---------------------------------------------


def test_a_procedure_dashboard_shows_the_domains_figures(client, history):
    _scope, figures = figures_of(history)
    client.force_login(history.o.member)

    response = client.get(url("dashboard-procedure", history.ship.procedure_id) + MARCH)

    assert response.status_code == 200
    html = text(response)
    assert "Dashboard: Procedure SHIP (SHIP)" in html
    assert "Runs finished from 1 Mar 2026 to 31 Mar 2026" in html
    # The headline figures: 3 finished, 2 on time (66.7 %), 1 late, lead time
    # median 8 h (A, of 6, 8 and 20.5 h) and p90 20.5 h.
    headlines = re.findall(
        r"<dt>([^<]+)</dt>\s*<dd><a href=\"[^\"]+\">([^<]+)</a></dd>", html
    )
    waiting = in_english(views.percent_text, figures.waiting_hours
                         / (figures.waiting_hours + figures.working_hours))  # fmt: skip
    working = in_english(views.percent_text, figures.working_hours
                         / (figures.waiting_hours + figures.working_hours))  # fmt: skip
    assert headlines == [
        ("Runs finished", "3"),
        ("On time", "66.7 %"),
        ("Late", "1"),
        ("Lead time, median", "8 h"),
        ("Waiting against working", f"{waiting} / {working}"),
    ]
    assert (figures.finished, figures.on_time) == (3, 2)
    assert (figures.lead.median_hours, figures.lead.p90_hours) == (8.0, 20.5)
    assert "90th percentile: 20.5 h" in html
    # Every step of the domain, in its order, with its figures.
    rows = re.findall(
        r'<tr>\s*<th scope="row"><a href="[^"]*figure=step%3A(\w+)[^"]*">([^<]+)</a></th>'
        r'\s*<td class="numeric"><a href="[^"]+">(\d+)</a></td>',
        html,
    )
    assert rows == [(step.key, step.name, str(step.runs)) for step in figures.steps]
    assert [key for key, _name, _runs in rows] == ["pack", "ship", "store", "invoice"]
    # The handovers as "Party A → Party B", the causes with their labels.
    for handover in figures.handovers:
        assert f"{handover.from_party} → {handover.to_party}" in unescape(html)
    assert [cause.label for cause in figures.causes] == ["transport", "a partner"]
    causes = re.findall(
        r'<th scope="row"><a href="[^"]*figure=cause%3A(\w+)[^"]*">([^<]+)</a></th>'
        r'\s*<td class="numeric"><a href="[^"]+">(\d+)</a></td>'
        r'\s*<td class="numeric">([^<]+)</td>',
        html,
    )
    assert causes == [
        ("transport", "Transport", "1", "2 h"),
        ("partner", "A partner", "1", "1 h"),
    ]
    # A period of 31 days trends by week, each week a link.
    assert "Trend by week" in html
    assert [point.start for point in figures.trend] == [
        dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 9),
        dt.date(2026, 3, 16), dt.date(2026, 3, 23), dt.date(2026, 3, 30),
    ]  # fmt: skip
    assert_csp_clean(response)


def test_the_drawings_are_accessible_svg_with_the_tables_beside_them(client, history):
    client.force_login(history.o.member)

    html = text(
        client.get(url("dashboard-procedure", history.ship.procedure_id) + MARCH)
    )

    drawings = re.findall(r"<svg [^>]*>", html)
    assert len(drawings) == 3  # the trend, the steps, the handovers
    for opening in drawings:
        assert 'aria-labelledby="' in opening
        assert 'role="group"' in opening  # they hold links
    for title in (
        "Runs finished, on time, and lead time",
        "Cycle time per step",
        "Waits at handovers between parties",
    ):
        assert re.search(rf'<title id="[\w-]+-title">{title}</title>', html)
    # The tables are the text alternative of the drawings.
    for table in ("dashboard-trend", "dashboard-steps", "dashboard-handovers"):
        assert f'class="table {table}"' in html
    assert " style=" not in html


def test_a_party_dashboard_counts_the_runs_in_which_the_party_had_a_task(
    client, history
):
    forwarder = history.o.forwarder
    _scope, figures = figures_of(history, "party", forwarder.pk)
    client.force_login(history.o.auditor)

    response = client.get(url("dashboard-party", forwarder.pk) + MARCH)

    assert response.status_code == 200
    html = text(response)
    assert "Dashboard: Fast Forwarding (FWD)" in html
    assert "Party (the runs in which it had a task)" in html
    assert re.search(r"<dt>Runs finished</dt>\s*<dd><a [^>]+>3</a>", html)
    assert figures.finished == 3
    assert [step.name for step in figures.steps] == ["Ship"]


# --- every figure links to the runs behind it --------------------------------------


def test_every_figure_links_to_exactly_the_runs_behind_it(client, history):
    scope, figures = figures_of(history)
    access = history.access()
    client.force_login(history.o.member)
    html = text(
        client.get(url("dashboard-procedure", history.ship.procedure_id) + MARCH)
    )

    found = links(html)
    named = {figure_of(link) for link in found}
    expected = {"finished", "on_time", "late"}
    for step in figures.steps:
        expected |= {f"step:{step.key}", f"critical:{step.key}", f"delay:{step.key}"}
    for handover in figures.handovers:
        expected.add(
            views.handover_figure(handover.from_party_id, handover.to_party_id)
        )
    expected |= {f"position:{item.position_id}" for item in figures.positions}
    expected |= {f"cause:{item.cause}" for item in figures.causes}
    expected |= {f"period:{point.start.isoformat()}" for point in figures.trend}
    assert named == expected
    for link in found:
        figure = figure_of(link)
        response = client.get(link)
        assert response.status_code == 200, figure
        behind = board.runs_behind(access, scope, start=START, end=END, figure=figure)
        assert run_ids(text(response)) == behind, figure


def test_the_runs_behind_a_figure_are_a_run_list(client, history):
    client.force_login(history.o.member)
    address = url("dashboard-runs", "procedures", history.ship.procedure_id)

    html = text(client.get(address + "?figure=late&from=2026-03-01&to=2026-03-31"))

    assert "<h1>Runs finished late</h1>" in html
    assert run_ids(html) == [history.b.pk]
    assert "1 run<" in html
    assert '<span class="badge badge-result-missed">target missed</span>' in html
    assert ">20.5 h<" in html  # B's lead time
    back = url("dashboard-procedure", history.ship.procedure_id)
    assert f'href="{back}?period=custom&amp;from=2026-03-01&amp;to=2026-03-31"' in html

    html = text(
        client.get(address + "?figure=step%3Aship&from=2026-03-01&to=2026-03-31")
    )
    assert "<h1>Runs through the step Ship</h1>" in html
    assert run_ids(html) == [history.c.pk, history.b.pk, history.a.pk]


def test_a_malformed_figure_is_explained_not_a_500(client, history):
    client.force_login(history.o.member)
    address = url("dashboard-runs", "procedures", history.ship.procedure_id)

    for figure in ("", "lateness", "cause:weather", "period:2026-03-05", "x" * 500):
        response = client.get(
            address + "?" + f"figure={figure}&from=2026-03-01&to=2026-03-31"
        )
        assert response.status_code == 400, figure
        assert 'role="alert"' in text(response)
    html = text(client.get(address + "?figure=lateness&from=2026-03-01&to=2026-03-31"))
    assert "“lateness” is not a figure of the dashboard." in html
    assert run_ids(html) == []
    assert (
        client.get(
            url("dashboard-runs", "positions", history.ship.procedure_id)
            + "?figure=late"
        ).status_code
        == 404
    )


# --- the exports -------------------------------------------------------------------


def test_the_exports_download_the_figures(client, history):
    client.force_login(history.o.member)
    pk = history.ship.procedure_id

    response = client.get(
        url("dashboard-export", "procedures", pk, "xlsx")
        + "?from=2026-03-01&to=2026-03-31"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == views.XLSX_CONTENT_TYPE
    assert response["Content-Disposition"] == (
        f'attachment; filename="dashboard-procedure-{pk}-2026-03-01-2026-03-31.xlsx"'
    )
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    cells = {
        str(cell.value)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None
    }
    assert {"Pack", "Ship", "Store", "Invoice"} <= cells

    response = client.get(
        url("dashboard-export", "parties", history.o.forwarder.pk, "pdf")
        + "?from=2026-03-01&to=2026-03-31"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response.content.startswith(b"%PDF")

    # The page links to both, for the same period.
    html = text(client.get(url("dashboard-procedure", pk) + MARCH))
    assert (
        f'href="{url("dashboard-export", "procedures", pk, "xlsx")}?from=2026-03-01&amp;to=2026-03-31"'
        in html
    )
    assert (
        f'href="{url("dashboard-export", "procedures", pk, "pdf")}?from=2026-03-01&amp;to=2026-03-31"'
        in html
    )
    assert (
        client.get(url("dashboard-export", "procedures", pk, "csv")).status_code == 404
    )


# --- the period --------------------------------------------------------------------


def test_the_period_defaults_to_the_last_three_months(client, history):
    client.force_login(history.o.member)
    today = org_queries.today_for(history.access())
    start, end = views.preset_dates("last_3_months", today)

    html = text(client.get(url("dashboard-procedure", history.ship.procedure_id)))

    assert f'name="from" value="{start.isoformat()}"' in html
    assert f'name="to" value="{end.isoformat()}"' in html
    assert '<option value="last_3_months" selected>' in html
    assert (
        start.day == 1
        and (end.year * 12 + end.month) - (start.year * 12 + start.month) == 2
    )


@pytest.mark.parametrize(
    ("preset", "today", "start", "end"),
    [
        ("this_month", dt.date(2026, 3, 20), dt.date(2026, 3, 1), dt.date(2026, 3, 20)),
        (
            "last_3_months",
            dt.date(2026, 3, 20),
            dt.date(2026, 1, 1),
            dt.date(2026, 3, 20),
        ),
        (
            "last_3_months",
            dt.date(2026, 1, 5),
            dt.date(2025, 11, 1),
            dt.date(2026, 1, 5),
        ),
        ("this_year", dt.date(2026, 3, 20), dt.date(2026, 1, 1), dt.date(2026, 3, 20)),
    ],
)
def test_the_presets_end_today(preset, today, start, end):
    assert views.preset_dates(preset, today) == (start, end)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "period=custom&from=2026-03-31&to=2026-03-01",
            "The period ends before it starts.",
        ),
        (
            "period=custom&from=2020-01-01&to=2026-03-01",
            "A dashboard covers at most three years.",
        ),
        ("period=custom&from=2026-13-01&to=2026-03-01", "Enter a valid date."),
        ("period=custom&to=2026-03-01", "Give the first day of the period."),
        ("period=custom&from=2026-03-01", "Give the last day of the period."),
        (
            "period=decade",
            "Select a valid choice. decade is not one of the available choices.",
        ),
    ],
)
def test_a_bad_period_is_explained_on_the_form(client, history, query, message):
    client.force_login(history.o.member)

    response = client.get(
        url("dashboard-procedure", history.ship.procedure_id) + "?" + query
    )

    assert response.status_code == 400
    html = text(response)
    assert message in html
    assert '<dl class="stats' not in html  # no figures
    assert links(html) == []


def test_the_chooser_lists_procedures_and_parties_and_goes_to_the_choice(
    client, history
):
    client.force_login(history.o.member)

    response = client.get(url("dashboard"))
    assert response.status_code == 200
    html = text(response)
    assert (
        f'<option value="procedure:{history.ship.procedure_id}">Procedure SHIP</option>'
        in html
    )
    assert (
        f'<option value="party:{history.o.forwarder.pk}">Fast Forwarding</option>'
        in html
    )
    today = org_queries.today_for(history.access())
    start, end = views.preset_dates("last_3_months", today)
    assert (
        f'href="{url("dashboard-procedure", history.other.procedure_id)}'
        f'?period=last_3_months&amp;from={start.isoformat()}&amp;to={end.isoformat()}"'
    ) in html

    response = client.get(
        url("dashboard") + f"?scope=party:{history.o.forwarder.pk}&period=this_year"
    )
    assert response.status_code == 302
    assert response["Location"] == (
        url("dashboard-party", history.o.forwarder.pk)
        + f"?period=this_year&from={today.year}-01-01&to={today.isoformat()}"
    )

    response = client.get(url("dashboard") + "?scope=position:1")
    assert response.status_code == 400
    assert "Choose a procedure or a party from the list." in text(response)


# --- who may ------------------------------------------------------------------------


def test_partners_get_no_dashboard(client, history, other_org):
    client.force_login(history.o.partner)
    forwarder = history.o.forwarder.pk
    ship = history.ship.procedure_id
    for address in (
        url("dashboard"),
        url("dashboard-procedure", ship) + MARCH,
        url("dashboard-party", forwarder) + MARCH,
        url("dashboard-runs", "parties", forwarder) + "?figure=finished&" + MARCH[1:],
        url("dashboard-export", "parties", forwarder, "xlsx") + MARCH,
        url("dashboard-export", "procedures", ship, "pdf") + MARCH,
    ):
        assert client.get(address).status_code == 404, address
    # Nor does anyone see another organisation's procedure or party.
    client.force_login(history.o.admin)
    assert client.get(url("dashboard-party", other_org.forwarder.pk)).status_code == 404
    assert client.get(url("dashboard-procedure", 999_999)).status_code == 404


def test_the_dashboard_needs_a_login(client, history):
    response = client.get(url("dashboard-procedure", history.ship.procedure_id))
    assert response.status_code == 302
    assert "/login" in response["Location"]


# --- cost ---------------------------------------------------------------------------


def _queries(client, address: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        response = client.get(address)
    assert response.status_code == 200
    return len(captured)


def test_the_number_of_queries_does_not_grow_with_the_runs(client, history):
    client.force_login(history.o.member)
    page = url("dashboard-procedure", history.ship.procedure_id) + MARCH
    runs = (
        url("dashboard-runs", "procedures", history.ship.procedure_id)
        + "?figure=finished&from=2026-03-01&to=2026-03-31"
    )
    before = (_queries(client, page), _queries(client, runs))

    o = history.o
    for day in (10, 11, 12, 13):
        origin = dt.datetime(2026, 3, day, 1, 0, tzinfo=dt.UTC)
        run = _run(history.other, o, origin, due=dt.timedelta(days=2), billable=None,
                   title=f"More {day}")  # fmt: skip
        _complete(run, "pack", o.member, origin + dt.timedelta(hours=2))
        run = _run(history.ship, o, origin, due=dt.timedelta(days=2), billable=False,
                   title=f"Ship {day}")  # fmt: skip
        for key in ("pack", "ship", "store"):
            _complete(run, key, o.partner if key == "ship" else o.member,
                      origin + dt.timedelta(hours={"pack": 1, "ship": 2, "store": 3}[key]))  # fmt: skip

    after = (_queries(client, page), _queries(client, runs))
    assert after == before
    scope = history.scope()
    assert board.dashboard(history.access(), scope, start=START, end=END).finished == 7


# --- Indonesian ---------------------------------------------------------------------


def test_the_dashboard_speaks_indonesian(client, history):
    accounts.set_language(history.o.member, language="id")
    client.force_login(history.o.member)

    response = client.get(url("dashboard-procedure", history.ship.procedure_id) + MARCH)

    html = text(response)
    assert '<html lang="id">' in html
    assert ">66,7 %<" in html  # the on-time rate, the Indonesian way
    assert "90th percentile" not in html
    assert ">Langkah<" in html  # the steps' heading
    assert "Dasbor: Procedure SHIP (SHIP)" in html
    assert "Pelaksanaan selesai" in html  # runs finished
    assert "Tepat waktu" in html  # on time
    runs = text(
        client.get(
            url("dashboard-runs", "procedures", history.ship.procedure_id)
            + "?figure=late&from=2026-03-01&to=2026-03-31"
        )
    )
    assert "Pelaksanaan yang selesai terlambat" in runs


def test_access_is_resolved_for_the_caller(history):
    # The domain answers the same as the pages for an auditor and an admin.
    for user in (history.o.auditor, history.o.admin):
        access = access_for(user, "acme")
        scope = board.scope_for(access, "procedure", history.ship.procedure_id)
        assert board.dashboard(access, scope, start=START, end=END).finished == 3
