"""The working calendar through the API: read it, change it, and its holidays."""

import datetime as dt

import pytest

from rantai.api.tests.conftest import api_for, problem_of
from rantai.chains.models import Holiday, WorkingCalendar

BASE = "/orgs/acme/calendar"


def test_read_the_default_calendar(acme, api_as):
    response = api_as("member").get(BASE)

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert response.json() == {
        "time_zone": "Asia/Jakarta",
        "working_weekdays": [0, 1, 2, 3, 4],
        "day_start": "08:00:00",
        "day_end": "16:00:00",
        "minutes_per_day": 480,
        "version": 1,
    }


def test_an_admin_changes_the_working_days_and_hours(acme, api_as, audit_trail):
    api = api_as("admin")
    trail = audit_trail(acme.organisation)

    changed = api.patch(
        BASE,
        {"working_weekdays": [5, 0, 1, 2, 3, 4], "day_end": "17:00", "version": 1},
    )
    stale = api.patch(BASE, {"day_start": "07:00", "version": 1})
    missing = api.patch(BASE, {"day_start": "07:00"})
    backwards = api.patch(BASE, {"day_start": "18:00", "version": 2})

    assert changed.status_code == 200
    assert changed["ETag"] == '"2"'
    assert {
        k: changed.json()[k] for k in ("working_weekdays", "day_end", "minutes_per_day")
    } == {
        "working_weekdays": [0, 1, 2, 3, 4, 5],
        "day_end": "17:00:00",
        "minutes_per_day": 540,
    }
    assert (stale.status_code, missing.status_code) == (409, 428)
    assert backwards.status_code == 422
    calendar = WorkingCalendar.objects.get(organisation=acme.organisation)
    assert (calendar.day_start, calendar.day_end, calendar.version) == (
        dt.time(8, 0),
        dt.time(17, 0),
        2,
    )
    assert [e.verb for e in trail.new_events()] == ["settings_changed"]


def test_holidays_are_added_listed_and_removed(acme, api_as):
    api = api_as("admin")

    added = api.post(
        f"{BASE}/holidays", {"date": "2026-08-17", "name": "Independence Day"}
    )
    twice = api.post(f"{BASE}/holidays", {"date": "2026-08-17", "name": "Again"})
    api.post(f"{BASE}/holidays", {"date": "2027-01-01", "name": "New Year"})
    of_2026 = api.get(f"{BASE}/holidays", year=2026)
    removed = api.request("delete", f"{BASE}/holidays/{added.json()['id']}")

    assert added.status_code == 201
    assert added["Location"] == f"/api/v1{BASE}/holidays/{added.json()['id']}"
    assert twice.status_code == 422
    assert [(h["date"], h["name"]) for h in of_2026.json()["items"]] == [
        ("2026-08-17", "Independence Day")
    ]
    assert removed.status_code == 204
    assert list(Holiday.objects.values_list("name", flat=True)) == ["New Year"]
    # every holiday change renews the calendar's version (schedules cache by it)
    assert api.get(BASE)["ETag"] == '"4"'


def test_load_indonesian_public_holidays(acme, api_as):
    api = api_as("admin")
    api.post(f"{BASE}/holidays", {"date": "2026-08-17", "name": "Our own name"})

    response = api.post(f"{BASE}/holidays/load-public", {"year": 2026})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(body["items"]) > 10
    assert "2026-08-17" not in [h["date"] for h in body["items"]]  # kept ours
    assert Holiday.objects.get(date=dt.date(2026, 8, 17)).name == "Our own name"
    assert Holiday.objects.filter(date=dt.date(2026, 1, 1)).exists()
    again = api.post(f"{BASE}/holidays/load-public", {"year": 2026})
    assert again.json() == {"count": 0, "items": []}


@pytest.mark.parametrize("role", ["member", "auditor", "partner"])
def test_only_admins_change_the_calendar(acme, role, audit_trail):
    holiday = Holiday.objects.create(
        organisation=acme.organisation, date=dt.date(2026, 12, 25), name="Christmas"
    )
    api = api_for(getattr(acme, role))
    trail = audit_trail(acme.organisation)

    answers = [
        api.patch(BASE, {"day_end": "17:00", "version": 1}),
        api.post(f"{BASE}/holidays", {"date": "2026-08-17", "name": "X"}),
        api.request("delete", f"{BASE}/holidays/{holiday.pk}"),
        api.post(f"{BASE}/holidays/load-public", {"year": 2026}),
    ]

    assert [a.status_code for a in answers] == [403] * 4
    assert problem_of(answers[0])["code"] == "forbidden"
    assert list(Holiday.objects.values_list("name", flat=True)) == ["Christmas"]
    assert not WorkingCalendar.objects.exists()
    trail.assert_nothing_new()


def test_a_partner_does_not_read_the_calendar(acme, api_as):
    api = api_as("partner")

    assert api.get(BASE).status_code == 404
    assert api.get(f"{BASE}/holidays").status_code == 404
