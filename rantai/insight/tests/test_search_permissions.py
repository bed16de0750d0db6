"""Who finds what (docs/design-insight.md, "Search", "Permissions"): decided at
query time by the owning apps' rules. Administrators, members and auditors find
the whole organisation; a partner finds, kind by kind, only what its party may
open; a partner of a party that takes no part finds its own party's things only;
another organisation's users find nothing of it. No hit, no count and no snippet
comes from a document the user may not see.

Every object below carries the word "zebra" (in its title, subtitle or text); the
word "quagga" is only in texts a partner may not read.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

import pytest

from rantai.accounts.access import access_for
from rantai.accounts.models import User
from rantai.chains import services as chains
from rantai.chains import targets as chains_targets
from rantai.chains.models import Run, Step
from rantai.evidence import records
from rantai.insight.models import SearchDocument
from rantai.insight.search import search
from rantai.obstacles import reviews
from rantai.obstacles.tests import factories as f
from rantai.org import services as org
from rantai.org.models import PartyKind
from rantai.roles.tests import factories as rf
from rantai.testing import SmallOrg, small_org

pytestmark = pytest.mark.django_db

Key = tuple[str, int]


@dataclass
class Zebras:
    w: f.World
    other: SmallOrg
    everything: set[Key]  # every acme document with "zebra"
    forwarder: set[Key]  # what the forwarder's partner (Joko) may see
    other_carrier: set[Key]  # what Olga (a partner taking no part) may see
    globex: set[Key]  # the other organisation's


def _record(w: f.World, title: str, statement: str, **where: object) -> Key:
    record = records.record_information(
        w.organisation,
        actor=w.o.member,
        title=title,
        statement=statement,
        source_kind="document",
        source_detail="Catatan lapangan",
        now=f.T0,
        **where,  # type: ignore[arg-type]
    )
    return ("record", record.pk)


def _obstacle(w: f.World, title: str, description: str, **where: object) -> Key:
    obstacle = f.make_obstacle(w, title=title, description=description, **where)  # type: ignore[arg-type]
    return ("obstacle", obstacle.pk)


def _target(w: f.World, name: str, **fields: object) -> Key:
    target = chains_targets.create_target(
        w.organisation,
        actor=w.admin,
        name=name,
        measure_quantity=1000,
        measure_unit="units",
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 12, 31),
        owner_position=w.o.export_head,
        now=f.T0,
        **fields,  # type: ignore[arg-type]
    )
    return ("target", target.pk)


@pytest.fixture
def z() -> Zebras:
    w = f.world()
    o = w.o
    admin = w.admin
    ship = w.run.procedure
    # The forwarder takes part in SHIP (its step "ship"), renamed to carry the word.
    chains.update_procedure(
        ship, actor=admin, expected_version=None, name="Zebra shipping"
    )
    steps = {
        s.key: ("step", s.pk)
        for s in Step.objects.filter(procedure_version=w.run.procedure_version)
    }
    # An internal procedure and run the forwarder has no part in.
    internal = rf.procedure(
        o,
        [rf.StepRow("count", responsible=o.export_staff, accountable=o.export_head)],
        code="ZEB",
        name="Zebra audit",
    )
    internal_run = rf.start_run(internal, actor=admin, title="Zebra stock count")
    internal_step = internal.steps.get()
    # Parties, positions, people.
    zebra_unit = org.create_party(
        o.organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Zebra unit",
        code="ZU",
    )
    org.update_party(
        o.forwarder, actor=admin, expected_version=None, name="Zebra Forwarding"
    )
    org.update_party(
        w.other_carrier, actor=admin, expected_version=None, name="Zebra Carrier"
    )
    zebra_clerk = org.create_position(
        o.organisation, actor=admin, party=o.export, title="Zebra clerk", code="ZC"
    )
    zebra_driver = org.create_position(
        o.organisation, actor=admin, party=o.forwarder, title="Zebra driver", code="ZD"
    )
    zara = org.create_person(o.organisation, actor=admin, full_name="Zara Zebra")
    zed = org.create_person(
        o.organisation, actor=admin, full_name="Zed Zebra", party=o.forwarder
    )
    zoe = org.create_person(
        o.organisation, actor=admin, full_name="Zoe Zebra", party=w.other_carrier
    )
    # Records and obstacles: on the forwarder's task, on another party's task,
    # on the whole run, on the organisation, on the internal run.
    record_ship = _record(
        w,
        "Zebra bill of lading",
        "Sent by the forwarder.",
        run=w.run,
        task=w.task("ship"),
    )
    record_pack = _record(
        w,
        "Zebra packing list",
        "Quagga weights inside.",
        run=w.run,
        task=w.task("pack"),
    )
    record_run = _record(w, "Zebra customs letter", "For the whole run.", run=w.run)
    record_org = _record(w, "Zebra policy memo", "Quagga internal rules.", run=None)
    record_internal = _record(
        w, "Zebra count sheet", "Quagga totals.", run=internal_run
    )
    obstacle_ship = _obstacle(
        w, "Zebra truck broke down", "On the toll road.", task=w.task("ship")
    )
    obstacle_pack = _obstacle(
        w, "Zebra packing machine jammed", "Quagga spare part.", task=w.task("pack")
    )
    obstacle_run = _obstacle(w, "Zebra flood on the road", "The whole run waits.")
    # A review of the run: never shown to partners.
    review = reviews.open_review(w.run, trigger="requested", actor=admin, now=f.T0)
    reviews.update_review(
        review,
        actor=admin,
        expected_version=None,
        summary="Zebra crossing closed; quagga detour.",
        learned="Plan a second route.",
        keep_as_written=True,
    )
    # Targets: the forwarder's own; one the run counts toward; another party's.
    target_forwarder = _target(w, "Zebra forwarder quota", party=o.forwarder)
    target_of_run = _target(w, "Zebra annual export")
    target_export = _target(w, "Zebra export quota", party=o.export)
    from rantai.chains.models import Target

    chains_targets.set_run_target(
        Run.objects.get(pk=w.run.pk),
        actor=admin,
        expected_version=None,
        target=Target.objects.get(pk=target_of_run[1]),
        now=f.T0,
    )
    # Another organisation.
    other = small_org("globex", prefix="g-")
    zebra_globex = org.create_party(
        other.organisation,
        actor=other.admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Zebra Globex",
        code="ZG",
    )

    forwarder = {
        ("procedure", ship.pk),
        ("run", w.run.pk),
        steps["ship"],
        ("party", o.forwarder.pk),
        ("position", o.forwarder_ops.pk),  # subtitle: "Zebra Forwarding"
        ("position", zebra_driver.pk),
        ("person", zed.pk),
        record_ship,
        record_run,
        obstacle_ship,
        obstacle_run,
        target_forwarder,
        target_of_run,
    }
    other_carrier = {("party", w.other_carrier.pk), ("person", zoe.pk)}
    everything = (
        forwarder
        | other_carrier
        | {
            steps["pack"],
            steps["store"],
            ("procedure", internal.procedure_id),
            ("run", internal_run.pk),
            ("step", internal_step.pk),
            ("party", zebra_unit.pk),
            ("position", zebra_clerk.pk),
            ("person", zara.pk),
            record_pack,
            record_org,
            record_internal,
            obstacle_pack,
            ("review", review.pk),
            target_export,
        }
    )
    return Zebras(
        w=w,
        other=other,
        everything=everything,
        forwarder=forwarder,
        other_carrier=other_carrier,
        globex={("party", zebra_globex.pk)},
    )


def _user(z: Zebras, who: str) -> tuple[User, str]:
    o = z.w.o
    return {
        "admin": (o.admin, "acme"),
        "member": (o.member, "acme"),
        "auditor": (o.auditor, "acme"),
        "partner taking part": (o.partner, "acme"),
        "partner taking no part": (z.w.user(z.w.olga), "acme"),
        "member of another organisation": (z.other.member, "globex"),
    }[who]


def _expected(z: Zebras, who: str) -> set[Key]:
    return {
        "admin": z.everything,
        "member": z.everything,
        "auditor": z.everything,
        "partner taking part": z.forwarder,
        "partner taking no part": z.other_carrier,
        "member of another organisation": z.globex,
    }[who]


USERS = [
    "admin",
    "member",
    "auditor",
    "partner taking part",
    "partner taking no part",
    "member of another organisation",
]


def test_the_world_has_a_document_with_the_word_for_every_kind(z: Zebras) -> None:
    assert len(z.everything) == 29
    assert {kind for kind, _pk in z.everything} == {
        "run",
        "procedure",
        "step",
        "person",
        "position",
        "party",
        "record",
        "obstacle",
        "review",
        "target",
    }
    zebra = {
        (d.kind, d.object_id)
        for d in SearchDocument.objects.all()
        if "zebra" in f"{d.title} {d.subtitle} {d.body}".lower()
    }
    assert zebra == z.everything | z.globex


@pytest.mark.parametrize("who", USERS)
def test_each_user_finds_exactly_what_they_may_open(z: Zebras, who: str) -> None:
    user, slug = _user(z, who)
    access = access_for(user, slug)
    expected = _expected(z, who)
    results = search(access, "zebra", limit=100)
    assert {(hit.kind, hit.object_id) for hit in results.hits} == expected
    assert len(results.hits) == len(expected)
    assert results.total == len(expected)
    assert results.counts == dict(Counter(kind for kind, _pk in expected))
    # Each hit's texts are its own document's (nothing borrowed from another).
    for hit in results.hits:
        document = SearchDocument.objects.get(kind=hit.kind, object_id=hit.object_id)
        assert (hit.title, hit.subtitle) == (document.title, document.subtitle)
        plain = str(hit.snippet).replace("<mark>", "").replace("</mark>", "")
        assert "quagga" not in plain.lower() or who in {"admin", "member", "auditor"}


@pytest.mark.parametrize("who", USERS)
def test_kinds_and_pages_keep_to_what_the_user_may_open(z: Zebras, who: str) -> None:
    user, slug = _user(z, who)
    access = access_for(user, slug)
    expected = _expected(z, who)
    for kind in ("run", "step", "record", "obstacle", "review", "target", "person"):
        results = search(access, "zebra", kinds=[kind], limit=100)
        wanted = {key for key in expected if key[0] == kind}
        assert {(h.kind, h.object_id) for h in results.hits} == wanted
        assert results.total == len(wanted)
    seen: set[Key] = set()
    offset = 0
    while True:
        page = search(access, "zebra", limit=3, offset=offset)
        if not page.hits:
            break
        seen.update((h.kind, h.object_id) for h in page.hits)
        offset += 3
    assert seen == expected


@pytest.mark.parametrize(
    ("who", "total"),
    [
        ("admin", 5),
        ("auditor", 5),
        ("partner taking part", 0),
        ("partner taking no part", 0),
        ("member of another organisation", 0),
    ],
)
def test_a_word_only_in_hidden_texts_finds_nothing_and_counts_nothing(
    z: Zebras, who: str, total: int
) -> None:
    user, slug = _user(z, who)
    results = search(access_for(user, slug), "quagga", limit=100)
    assert results.total == total
    assert sum(results.counts.values()) == total
    if total == 0:
        assert results.hits == ()
        assert results.counts == {}


def test_a_partner_sees_the_steps_of_its_party_in_the_published_version_only(
    z: Zebras,
) -> None:
    w = z.w
    access = access_for(w.o.partner, "acme")
    # "Ship" is the forwarder's step: found by its own name, the others not.
    assert [h.title for h in search(access, "pack", kinds=["step"]).hits] == []
    assert [h.title for h in search(access, "ship", kinds=["step"]).hits] == ["Ship"]
    # A new draft of SHIP in which the forwarder also does "pack": still only
    # the published version counts until the draft is published.
    draft = chains.new_draft(w.run.procedure, actor=w.admin)
    from rantai.chains.models import RaciRole

    pack = draft.steps.get(key="pack")
    chains.add_step_role(
        pack, actor=w.admin, role=RaciRole.RESPONSIBLE, party=w.o.forwarder
    )
    assert search(access, "pack", kinds=["step"]).total == 0
