"""The search page and the search box of the page header.

The world is `rantai.obstacles.tests.factories.world()` (the run "Ship 500 units to
Kota A" of the procedure SHIP — pack, ship by the forwarder, store —, Rina the
member, Joko the forwarder's partner login, Olga a partner whose party takes no
part in the run), plus one object of every kind with a word of its own, so that a
search for that word finds exactly that object:

    run        "Kirim zebra ke Medan"      (of FLAM, a procedure without the forwarder)
    procedure  "Prosedur flamingo"         (FLAM)
    step       "Store"                     (a step of SHIP's current version)
    person     "Wati"
    position   "Director"
    party      "Other Carrier"
    record     "Surat jalan kenari"
    obstacle   "Banjir di gerbang tol"
    review     summary "Pelajaran merpati"
    target     "Target walrus kuartal satu"

Each hit links to its page; a partner finds only what it may open (no hit, no
count, no snippet of anything else); hostile text never fails.
"""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from django.urls import reverse

from rantai.accounts import services as accounts
from rantai.chains import targets as chains_targets
from rantai.chains.models import Step
from rantai.obstacles import reviews
from rantai.obstacles.tests import factories as f
from rantai.org import services as org
from rantai.roles.tests import factories as rf
from rantai.web.tests.test_procedure_pages import assert_csp_clean
from rantai.web.views import search as views

pytestmark = pytest.mark.django_db

HIT = re.compile(
    r'<li class="search-hit search-hit-(\w+)">\s*<div><span class="badge badge-unit">'
    r'([^<]+)</span>\s*(?:<a href="([^"]*)"><strong>([^<]*)</strong></a>'
    r"|<strong>([^<]*)</strong>)"
)
CHIP = re.compile(r'<a href="[^"]*"(?: aria-current="page")? hx-get="[^"]*"[^>]*>'
                  r'([^<]+) <span class="badge badge-unit">(\d+)</span></a>')  # fmt: skip


class Things:
    """The world and one object of every kind (see the module docstring)."""

    def __init__(self) -> None:
        w = f.world()
        self.w = w
        o = w.o
        flam = rf.procedure(
            o,
            [
                rf.StepRow(
                    "count", responsible=o.export_staff, accountable=o.export_head
                )
            ],
            code="FLAM",
            name="Prosedur flamingo",
        )
        self.flam = flam.procedure
        self.zebra = rf.start_run(flam, actor=o.admin, title="Kirim zebra ke Medan")
        self.store = Step.objects.get(
            procedure_version=w.run.procedure_version, key="store"
        )
        self.record = f.record(w, title="Surat jalan kenari")
        self.obstacle = f.make_obstacle(w, title="Banjir di gerbang tol")
        self.review = reviews.open_review(
            w.run, trigger="requested", actor=o.admin, now=f.T0 + dt.timedelta(hours=1)
        )
        reviews.update_review(
            self.review,
            actor=o.admin,
            expected_version=None,
            summary="Pelajaran merpati dari pengiriman ini.",
            learned="Periksa formulir sehari sebelumnya.",
        )
        self.target = chains_targets.create_target(
            w.organisation,
            actor=o.admin,
            name="Target walrus kuartal satu",
            measure_quantity=10000,
            measure_unit="units",
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 3, 31),
            owner_position=o.export_head,
            now=f.T0,
        )


@pytest.fixture
def things() -> Things:
    return Things()


def url(name: str, *args: object) -> str:
    return reverse(name, args=["acme", *args])


def search(client, query: str = "", **params: str) -> str:  # type: ignore[no-untyped-def]
    response = client.get(url("search"), {"q": query, **params})
    assert response.status_code == 200
    return response.content.decode()


def hits(html: str) -> list[tuple[str, str, str]]:
    """(kind, link, title) of each hit, in order."""
    return [
        (kind, unescape(link), unescape(title or plain))
        for kind, _label, link, title, plain in HIT.findall(html)
    ]


def chips(html: str) -> list[tuple[str, int]]:
    return [(label, int(count)) for label, count in CHIP.findall(html)]


# --- every kind links to its page ----------------------------------------------------


@pytest.mark.parametrize(
    ("word", "kind", "page"),
    [
        ("zebra", "run", lambda t: url("run-detail", t.zebra.pk)),
        # (its name is also the subtitle of its run and steps: ask for the kind)
        (
            "flamingo&kind=procedure",
            "procedure",
            lambda t: url("procedure-detail", t.flam.pk),
        ),
        (
            "store",
            "step",
            lambda t: url("procedure-version", t.store.procedure_version_id) + "#steps",
        ),
        ("wati", "person", lambda t: url("person-detail", t.w.wati.pk)),
        ("director", "position", lambda t: url("position-detail", t.w.o.director.pk)),
        ("carrier", "party", lambda t: url("party-detail", t.w.other_carrier.pk)),
        ("kenari", "record", lambda t: url("record-detail", t.record.pk)),
        ("banjir", "obstacle", lambda t: url("obstacle-detail", t.obstacle.pk)),
        ("merpati", "review", lambda t: url("review-detail", t.review.pk)),
        ("walrus", "target", lambda t: url("target-detail", t.target.pk)),
    ],
)
def test_each_kind_of_result_links_to_its_page(client, things, word, kind, page):
    client.force_login(things.w.admin)

    word, _sep, chosen = word.partition("&kind=")
    response = client.get(url("search"), {"q": word, "kind": chosen})

    assert response.status_code == 200
    html = response.content.decode()
    found = hits(html)
    assert [(k, link) for k, link, _title in found] == [(kind, page(things))]
    assert client.get(found[0][1].split("#")[0]).status_code == 200
    assert dict(chips(html))[views.SearchKind(kind).label.capitalize()] == 1
    assert "1 result<" in html
    assert_csp_clean(response)


def test_a_hit_shows_its_kind_subtitle_and_marked_snippet(client, things):
    client.force_login(things.w.o.member)

    html = search(client, "merpati")

    assert '<span class="badge badge-unit">Review</span>' in html
    assert '<div class="muted small">requested · diajukan</div>' in html
    assert "<mark>merpati</mark>" in html.lower()


def test_results_are_grouped_by_kind_with_counts(client, things):
    client.force_login(things.w.o.member)

    # "Ship 500 units to Kota A": the run, its obstacle and review (their subtitle
    # or title), and the procedure's steps (subtitle "Procedure SHIP").
    html = search(client, "ship")
    counts = dict(chips(html))
    assert counts["All"] == sum(n for label, n in counts.items() if label != "All")
    assert counts["Run"] == 1 and counts["Step"] == 3 and counts["Procedure"] == 1
    assert {kind for kind, _link, _title in hits(html)} >= {"run", "step", "procedure"}

    only_steps = search(client, "ship", kind="step")
    assert {kind for kind, _link, _title in hits(only_steps)} == {"step"}
    assert dict(chips(only_steps)) == counts  # the chips keep every kind's count
    assert re.search(r'aria-current="page"[^>]*>Step <span', only_steps)
    assert f'href="{url("search")}?q=ship&amp;kind=run"' in only_steps

    # An unknown kind is said and ignored.
    html = search(client, "ship", kind="secret")
    assert "There is no such kind of result: showing every kind." in html
    assert dict(chips(html)) == counts


def test_results_are_paginated(client, things):
    o = things.w.o
    for number in range(1, 23):
        org.create_person(
            o.organisation, actor=o.admin, full_name=f"Tono Nomor{number}"
        )
    client.force_login(o.member)

    first = search(client, "tono")
    second = search(client, "tono", page="2")

    assert len(hits(first)) == 20 and len(hits(second)) == 2
    assert "22 results<" in first
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert f'href="{url("search")}?q=tono&amp;page=2" rel="next"' in first
    titles = {title for _k, _l, title in hits(first) + hits(second)}
    assert titles == {f"Tono Nomor{number}" for number in range(1, 23)}
    # A page past the end shows the last one's note, never an error.
    assert hits(search(client, "tono", page="9")) == []
    assert hits(search(client, "tono", page="x")) == hits(first)


# --- empty, nothing found, bad input --------------------------------------------------


def test_the_empty_and_the_no_result_states(client, things):
    client.force_login(things.w.o.member)

    assert "Type a word or two to search." in search(client, "")
    assert "Type a word or two to search." in search(client, "   ")
    html = search(client, "okapi")
    assert "Nothing matches “okapi”. Try fewer or shorter words." in unescape(html)
    assert hits(html) == []


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        '"zebra" OR *',
        "zebra*) NEAR(",
        "%_\\",
        "ship:* & !store | (",
        "\u202e\u200bzebra",
        "x" * 300,
        "a b c d e f g h i j k",
    ],
)
def test_hostile_or_odd_text_never_fails(client, things, text):
    client.force_login(things.w.o.member)

    response = client.get(url("search"), {"q": text})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert" not in html
    assert_csp_clean(response)


def test_too_long_a_query_is_explained(client, things):
    client.force_login(things.w.o.member)

    html = search(client, "zebra " * 60)

    assert 'role="alert"' in html
    assert hits(html) == []


def test_htmx_typing_gets_only_the_results(client, things):
    client.force_login(things.w.o.member)

    response = client.get(
        url("search"),
        {"q": "zebra"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="search-results",
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="search-results">')
    assert "<html" not in html
    assert [kind for kind, _l, _t in hits(html)] == ["run"]
    # The page itself is a plain GET form that works without JavaScript.
    page = search(client, "zebra")
    assert re.search(r'<form method="get" action="/o/acme/search/"[^>]*hx-get=', page)


# --- partners see nothing they may not open --------------------------------------------


def test_a_partner_finds_only_what_it_may_open(client, things):
    client.force_login(things.w.o.partner)  # Joko, the forwarder

    # Nothing of what it may not open: no hit, no count, no snippet.
    for word, secret in (
        ("zebra", "Kirim zebra ke Medan"),  # a run without a task of its party
        ("flamingo", "Prosedur flamingo"),  # nor a step of its party
        ("merpati", "Pelajaran merpati"),  # reviews: partners see none
        ("walrus", "Target walrus"),  # a target it does not work toward
        ("store", "Store"),  # the warehouse's step of SHIP
        ("director", "Director"),  # a position of another party
    ):
        html = search(client, word)
        assert hits(html) == [], word
        assert secret not in html.replace(f"“{word}”", ""), word
        assert "<mark>" not in html, word
        assert chips(html) == [("All", 0)], word

    # What it does find, it may open (its step on the procedure's page); the
    # counts are those of what it sees.
    expected = {
        "kenari": [("record", url("record-detail", things.record.pk))],
        "ship": [
            ("step", url("procedure-detail", things.w.run.procedure_id)),
            ("procedure", url("procedure-detail", things.w.run.procedure_id)),
            ("run", url("run-detail", things.w.run.pk)),
            ("obstacle", url("obstacle-detail", things.obstacle.pk)),
        ],
        "fast": [
            ("party", url("party-detail", things.w.o.forwarder.pk)),
            ("position", url("position-detail", things.w.o.forwarder_ops.pk)),
        ],
        "joko": [("person", url("person-detail", things.w.joko.pk))],
    }
    for word, found in expected.items():
        html = search(client, word)
        assert [(kind, link) for kind, link, _t in hits(html)] == found, word
        for _kind, link in found:
            assert client.get(link).status_code == 200, link
        counts = dict(chips(html))
        assert counts["All"] == len(found), word
        assert "Review" not in counts


def test_a_partner_of_a_party_not_in_the_run_finds_nothing_of_it(client, things):
    client.force_login(things.w.user(things.w.olga))

    for word in ("kota", "banjir", "merpati", "kenari", "store"):
        html = search(client, word)
        assert hits(html) == [], word
        assert chips(html) == [("All", 0)], word
        assert "Ship 500 units" not in html


# --- the header box --------------------------------------------------------------------


def test_every_organisation_page_has_the_search_box(client, things):
    client.force_login(things.w.o.member)

    for page in (url("focus"), url("run-list"), url("run-detail", things.w.run.pk)):
        html = client.get(page).content.decode()
        form = re.search(
            r'<form method="get" action="/o/acme/search/" class="site-search" '
            r'role="search" aria-label="Search this organisation">(.*?)</form>',
            html,
            re.S,
        )
        assert form, page
        assert '<label for="site-search-q" class="visually-hidden">Search</label>' in (
            form.group(1)
        )
        assert 'name="q"' in form.group(1) and 'aria-keyshortcuts="/"' in form.group(1)


def test_pages_without_an_organisation_have_no_search_box(client, things):
    client.force_login(things.w.o.member)

    html = client.get(reverse("profile")).content.decode()

    assert "site-search" not in html


def test_search_needs_a_login_and_a_membership(client, things, other_org):
    assert client.get(url("search"), {"q": "zebra"}).status_code == 302
    client.force_login(other_org.member)
    assert client.get(url("search"), {"q": "zebra"}).status_code == 404


# --- the link helper -------------------------------------------------------------------


def test_a_kind_without_a_page_has_no_link(things):
    from rantai.accounts.access import access_for
    from rantai.insight.search import SearchHit

    access = access_for(things.w.admin, "acme")
    step = SearchHit("step", 5, None, "Pack", "", "", 1.0)  # type: ignore[arg-type]
    odd = SearchHit("comet", 5, None, "?", "", "", 1.0)  # type: ignore[arg-type]
    assert views.hit_url(access, step) == ""
    assert views.hit_url(access, odd) == ""


# --- Indonesian ------------------------------------------------------------------------


def test_search_speaks_indonesian(client, things):
    accounts.set_language(things.w.o.member, language="id")
    client.force_login(things.w.o.member)

    html = search(client, "zebra")

    assert '<html lang="id">' in html
    assert "<h1>Cari</h1>" in html
    assert "1 hasil<" in html
    assert "Semua" in html  # the "All" chip
    assert "Tidak ada yang cocok" in search(client, "okapi")
