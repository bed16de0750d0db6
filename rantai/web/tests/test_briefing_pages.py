"""The briefing pages and the two Focus sections of issue 6: everyone with a role
in a published procedure gets a briefing in plain language, acknowledges it, and
the process owner sees who has not and reminds them; consulted holders see the
input asked of them on their Focus page and give it there — who sees and does
what, and that a refused or stale action writes nothing.

The people are those of test_assignment_pages.py (`team`): Rina owns the
procedure (Head of export, accountable); Ani and Beni are clerks (responsible for
booking); Sari is the Director (consulted); Budi holds Export clerk (no role in
the procedure); Dewi holds nothing.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from rantai.audit.models import AuditEvent
from rantai.chains.models import TaskStatus
from rantai.roles.models import Briefing, Consultation, ConsultationStatus
from rantai.roles.tests import factories as f
from rantai.web.tests.test_assignment_pages import (  # noqa: F401 - the fixture
    CONFLICT,
    Team,
    assert_csp_clean,
    book,
    count_queries,
    section,
    start,
    team,
    text,
    url,
)


def briefing_of(team: Team, person: Any) -> Briefing:  # noqa: F811
    return Briefing.objects.get(person=person, procedure_version=team.version)


def snapshot() -> dict[str, list[Any]]:
    return {
        "briefings": list(Briefing.objects.order_by("pk").values_list()),
        "consultations": list(Consultation.objects.order_by("pk").values_list()),
        "events": list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)),
    }


# --- the list and one briefing ------------------------------------------------------


def test_publishing_briefs_everyone_with_a_role(client, team):  # noqa: F811
    briefed = sorted(
        Briefing.objects.filter(procedure_version=team.version).values_list(
            "person__full_name", flat=True
        )
    )
    assert briefed == ["Ani", "Beni", "Rina Kusuma", "Sari"]

    client.force_login(team.user(team.ani))
    response = client.get(url("briefing-list"))

    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    mine = section(html, "mine-title")
    # (holding Clerk before any procedure gave it a role briefed her on nothing)
    assert "1 briefing waits for your acknowledgement." in mine
    assert "Your roles in Procedure SHIP (version 1)" in mine
    assert mine.count("to acknowledge") == 1
    assert 'id="versions"' not in html  # Ani follows no version


def test_a_briefing_reads_as_plain_sentences_with_the_job_description(client, team):  # noqa: F811
    briefing = briefing_of(team, team.ani)
    client.force_login(team.user(team.ani))

    response = client.get(url("briefing-detail", briefing.pk))

    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    assert "<h1>Your roles in Procedure SHIP (version 1)</h1>" in html
    assert "<li>You hold the position Clerk.</li>" in html
    assert "<li>As Clerk: Book freight.</li>" in html
    assert "You are responsible for “Book” (as Clerk)." in html
    assert "You hand over to “Ship” (Fast Forwarding)." in html
    assert "Head of export approves." in html
    assert "Ask Director for their input before you complete it." in html
    assert f'action="{url("briefing-acknowledge", briefing.pk)}"' in html
    assert url("briefing-pdf", briefing.pk) in html


def test_who_reads_a_briefing(client, team):  # noqa: F811
    briefing = briefing_of(team, team.ani)
    page = url("briefing-detail", briefing.pk)
    other = f.organisation("other", prefix="other-")
    for user, status in (
        (team.o.admin, 200),
        (team.o.auditor, 200),
        (team.rina, 200),  # the process owner
        (team.user(team.beni), 404),  # another clerk's briefing is not hers
        (team.user(team.dewi), 404),
        (team.o.partner, 404),
        (other.admin, 404),
    ):
        client.force_login(user)
        assert client.get(page).status_code == status, user
        assert client.get(url("briefing-pdf", briefing.pk)).status_code == status
    # only the person sees the acknowledge button
    client.force_login(team.rina)
    html = text(client.get(page))
    assert "briefing-acknowledge" not in html and "/acknowledge/" not in html
    assert "Ani has not acknowledged this briefing yet." in html


def test_the_briefing_prints_as_a_pdf(client, team):  # noqa: F811
    briefing = briefing_of(team, team.ani)
    client.force_login(team.user(team.ani))

    response = client.get(url("briefing-pdf", briefing.pk))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


# --- acknowledging ------------------------------------------------------------------


def test_the_person_acknowledges_their_briefing(client, team):  # noqa: F811
    briefing = briefing_of(team, team.ani)
    client.force_login(team.user(team.ani))

    response = client.post(
        url("briefing-acknowledge", briefing.pk), {"version": briefing.version}
    )

    assert response.status_code == 302
    assert response["Location"] == url("briefing-detail", briefing.pk)
    briefing.refresh_from_db()
    assert briefing.acknowledged_at is not None
    assert briefing.acknowledged_by == team.user(team.ani)
    html = text(client.get(response["Location"]))
    assert "Thank you: your briefing is acknowledged." in html
    assert "You acknowledged this briefing on" in html
    assert "/acknowledge/" not in html


def test_acknowledging_refused_or_stale_writes_nothing(client, team):  # noqa: F811
    briefing = briefing_of(team, team.ani)
    before = snapshot()

    client.force_login(team.rina)  # reads it, but it is not hers
    response = client.post(
        url("briefing-acknowledge", briefing.pk), {"version": briefing.version}
    )
    assert response.status_code == 403
    client.force_login(team.user(team.beni))
    response = client.post(
        url("briefing-acknowledge", briefing.pk), {"version": briefing.version}
    )
    assert response.status_code == 404
    client.force_login(team.user(team.ani))
    response = client.post(
        url("briefing-acknowledge", briefing.pk), {"version": briefing.version + 1}
    )
    assert response.status_code == 409
    assert CONFLICT in text(response)
    assert snapshot() == before


# --- the process owner's view -------------------------------------------------------


def test_the_process_owner_sees_who_has_not_acknowledged_and_reminds(client, team):  # noqa: F811
    client.force_login(team.user(team.ani))
    ani = briefing_of(team, team.ani)
    client.post(url("briefing-acknowledge", ani.pk), {"version": ani.version})
    client.force_login(team.rina)

    listing = text(client.get(url("briefing-list")))
    versions = section(listing, "versions-title")
    assert url("briefing-version", team.version.pk) in versions
    assert "Procedure SHIP" in versions

    response = client.get(url("briefing-version", team.version.pk))
    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    assert "1 of 4 people briefed have acknowledged." in html
    waiting = section(html, "waiting-title")
    done = section(html, "acknowledged-title")
    assert "Ani" in done and "Ani" not in waiting
    for name in ("Beni", "Rina Kusuma", "Sari"):
        assert name in waiting
    beni = briefing_of(team, team.beni)
    assert f'action="{url("briefing-remind", beni.pk)}"' in waiting

    response = client.post(
        url("briefing-remind", beni.pk),
        {"next": url("briefing-version", team.version.pk)},
    )

    assert response.status_code == 302
    assert response["Location"] == url("briefing-version", team.version.pk)
    beni.refresh_from_db()
    assert beni.reminders_sent == 1
    html = text(client.get(response["Location"]))
    assert "Beni was reminded to acknowledge their briefing." in html


def test_who_follows_a_versions_acknowledgement(client, team):  # noqa: F811
    page = url("briefing-version", team.version.pk)
    beni = briefing_of(team, team.beni)
    other = f.organisation("other", prefix="other-")
    before = snapshot()
    for user, status in (
        (team.o.admin, 200),
        (team.o.auditor, 200),
        (team.user(team.ani), 403),
        (team.o.partner, 404),
        (other.admin, 404),
    ):
        client.force_login(user)
        assert client.get(page).status_code == status
    # the auditor reads, without the remind buttons
    client.force_login(team.o.auditor)
    assert "briefing-remind" not in text(client.get(page))
    assert "/remind/" not in text(client.get(page))
    # those who may not remind write nothing
    for user, status in (
        (team.o.auditor, 403),
        (team.user(team.ani), 404),  # not hers to read
        (team.user(team.sari), 404),
    ):
        client.force_login(user)
        assert client.post(url("briefing-remind", beni.pk)).status_code == status
    assert snapshot() == before


# --- the Focus page -----------------------------------------------------------------


def test_focus_lists_the_briefings_to_acknowledge(client, team):  # noqa: F811
    client.force_login(team.user(team.ani))

    html = text(client.get(reverse("focus", args=["acme"])))

    briefings = section(html, "briefings-title")
    ani = briefing_of(team, team.ani)
    assert f'href="{url("briefing-detail", ani.pk)}"' in briefings
    assert "Your roles in Procedure SHIP (version 1)" in briefings

    for briefing in Briefing.objects.filter(person=team.ani):
        client.post(
            url("briefing-acknowledge", briefing.pk), {"version": briefing.version}
        )
    html = text(client.get(reverse("focus", args=["acme"])))
    assert 'id="briefings"' not in html


def test_focus_asks_for_input_and_takes_it(client, team):  # noqa: F811
    task = book(start(team))
    consultation = Consultation.objects.get(task=task)
    client.force_login(team.user(team.sari))

    html = text(client.get(reverse("focus", args=["acme"])))

    asked = section(html, "input-title")
    assert "Book" in asked and "Consulted as Director" in asked
    assert f'action="{url("consultation-answer", consultation.pk)}"' in asked
    assert 'name="next" value="/o/acme/focus/#input"' in asked
    # the clerk sees no such section: nothing is asked of her
    client.force_login(team.user(team.ani))
    assert 'id="input"' not in text(client.get(reverse("focus", args=["acme"])))

    client.force_login(team.user(team.sari))
    response = client.post(
        url("consultation-answer", consultation.pk),
        {
            "answer": "Agreed.",
            "version": consultation.version,
            "next": "/o/acme/focus/#input",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/o/acme/focus/#input"
    consultation.refresh_from_db()
    assert consultation.status == ConsultationStatus.ANSWERED
    task.refresh_from_db()
    assert task.status == TaskStatus.READY  # nothing else changed for the task
    html = text(client.get(reverse("focus", args=["acme"])))
    assert 'id="input"' not in html


def test_focus_keeps_its_query_count_with_consultations_and_briefings(client, team):  # noqa: F811
    """The two sections cost one query each, whatever their length."""
    client.force_login(team.user(team.sari))
    start(team, "First")
    count_queries(client, reverse("focus", args=["acme"]))
    few = count_queries(client, reverse("focus", args=["acme"]))
    for n in range(4):
        start(team, f"More {n}")
    many = count_queries(client, reverse("focus", args=["acme"]))
    html = text(client.get(reverse("focus", args=["acme"])))
    assert section(html, "input-title").count("<li ") == 5
    assert few == many
