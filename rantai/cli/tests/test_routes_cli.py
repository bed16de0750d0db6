"""`rantai routes list|show|publish`: an organisation's approval routes on the
command line, through the same services and reads as the pages."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rantai.approvals import routes
from rantai.approvals.models import ApproverRule, RouteVersion
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains.models import VersionStatus
from rantai.chains.tests.helpers import at
from rantai.cli.tests.coordination_data import World, build_world
from rantai.testing import SmallOrg, make_user


@pytest.fixture
def world(acme: SmallOrg) -> World:
    return build_world(acme)


def run(*args: str, **options: object) -> str:
    stdout = StringIO()
    call_command("routes", *args, stdout=stdout, stderr=StringIO(), **options)
    return stdout.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as raised:
        run(*args)
    return raised.value


def columns(line: str, header: str) -> dict[str, str]:
    """The cells of `line` by the header's column names (columns line up)."""
    found = [(m.group(), m.start()) for m in re.finditer(r"\S+(?: \S+)*", header)]
    ends = [start for _name, start in found[1:]] + [None]
    return {
        name: line[start:end].strip()
        for (name, start), end in zip(found, ends, strict=True)
    }


# --- list ---------------------------------------------------------------------------


def test_the_list_shows_each_route_with_its_versions(world, other_org):
    lines = run("list", "--org", "acme").splitlines()

    header = lines[0]
    assert [columns(line, header) for line in lines[1:]] == [
        {
            "CODE": "DUE",
            "NAME": "Later due dates",
            "APPLIES TO": "due_date_change",
            "PRIORITY": "50",
            "PUBLISHED": "-",
            "STAGES": "-",
            "DRAFT": "v1",
            "OWNER": "-",
            "ACTIVE": "yes",
        },
        {
            "CODE": "BIG",
            "NAME": "Big shipments",
            "APPLIES TO": "task_completion",
            "PRIORITY": "100",
            "PUBLISHED": "v1",
            "STAGES": "2",
            "DRAFT": "-",
            "OWNER": "EXP-HEAD",
            "ACTIVE": "yes",
        },
    ]
    assert run("list", "--org", "globex") == "No approval routes in globex.\n"


def test_the_list_can_be_json(world):
    routes.new_draft(world.route, actor=world.o.admin)

    data = json.loads(run("list", "--org", "acme", "--json"))

    assert [item["code"] for item in data] == ["DUE", "BIG"]
    assert data[1] == {
        "code": "BIG",
        "name": "Big shipments",
        "subject_kind": "task_completion",
        "priority": 100,
        "is_active": True,
        "owner_position": "EXP-HEAD",
        "published": {
            "version": 1,
            "stages": 2,
            "published_at": "2026-03-02T01:00:00+00:00",
            "published_by": "admin",
        },
        "draft": {"version": 2},
    }
    assert data[0]["published"] is None


def test_an_unknown_organisation_is_bad_input(world):
    error = refused("list", "--org", "nowhere")

    assert error.returncode == 2
    assert str(error) == "No organisation with the short name 'nowhere'."


# --- show ---------------------------------------------------------------------------


def test_show_prints_the_published_version_and_the_draft(world):
    draft = routes.new_draft(world.route, actor=world.o.admin)
    routes.add_stage(
        draft,
        actor=world.o.admin,
        name="Director",
        rule=ApproverRule.POSITION,
        position=world.o.director,
    )

    text = run("show", "BIG", "--org", "acme")

    published, _, drafted = text.partition("\nDraft v2")
    assert published.splitlines()[:4] == [
        "Route BIG: Big shipments",
        "Applies to: completion of a task (task_completion); priority 100; active.",
        "Process owner: Head of export (EXP-HEAD)",
        "Sign-offs of shipments worth more than 100.",
    ]
    assert "v1       published  2026-03-02 08:00  admin  -" in published
    assert "v2       draft      -                 -      -" in published
    assert "Published version v1 (new requests use it)" in published
    assert "  run.value is greater than 100" in published
    stages = [line.strip() for line in published.splitlines() if line.startswith("  ")]
    header = next(line for line in stages if line.startswith("#"))
    assert [columns(line, header) for line in stages[stages.index(header) + 1 :]] == [
        {
            "#": "1",
            "STAGE": "Warehouse",
            "APPROVERS": "holders of Head of warehouse (WH-HEAD)",
            "HOW MANY": "one of them",
            "TIME LIMIT": "4 working h",
            "THEN": "escalate to the approvers' superior",
        },
        {
            "#": "2",
            "STAGE": "Superior",
            "APPROVERS": "the requester's superior",
            "HOW MANY": "one of them",
            "TIME LIMIT": "-",
            "THEN": "-",
        },
    ]
    assert drafted.startswith(" (not in use until published)")
    assert "holders of Director (DIR)" in drafted


def test_show_says_what_keeps_a_draft_from_being_published(world):
    text = run("show", "DUE", "--org", "acme")

    assert "Process owner: - (administrators edit it)" in text
    assert "Applies to every request of its kind (no conditions)." in text
    assert text.rstrip().endswith("No stages yet.")


def test_show_of_an_unknown_route_is_bad_input(world, other_org):
    error = refused("show", "BIG", "--org", "globex")

    assert error.returncode == 2
    assert str(error) == "No route with the code 'BIG' in globex."


# --- publish ------------------------------------------------------------------------


def test_publish_publishes_the_draft_and_retires_the_old_version(world, audit_trail):
    draft = routes.new_draft(world.route, actor=world.o.admin)
    trail = audit_trail(world.o.organisation)

    out = run("publish", "BIG", "--org", "acme", "--as", "member", now=at(600))

    assert out == "Route BIG v2 published by member; v1 retired.\n"
    assert dict(
        RouteVersion.objects.filter(route=world.route).values_list("number", "status")
    ) == {1: VersionStatus.RETIRED, 2: VersionStatus.PUBLISHED}
    draft.refresh_from_db()
    assert (draft.published_at, draft.published_by) == (at(600), world.o.member)
    events = trail.new_events()
    retired = RouteVersion.objects.get(route=world.route, number=1)
    assert [(e.verb, e.target_id) for e in events] == [
        (AuditVerb.RETIRED, str(retired.pk)),
        (AuditVerb.PUBLISHED, str(draft.pk)),
    ]
    assert all(e.actor_id == world.o.member.pk for e in events)


def test_publish_without_a_draft_is_refused(world):
    error = refused("publish", "BIG", "--org", "acme", "--as", "admin")

    assert error.returncode == 1
    assert str(error) == "Route BIG has no draft to publish."


def test_publish_lists_what_keeps_the_draft_back_and_writes_nothing(world):
    head = AuditEvent.objects.filter(organisation=world.o.organisation).count()

    error = refused("publish", "DUE", "--org", "acme", "--as", "admin")

    assert error.returncode == 1
    assert str(error).splitlines() == [
        "Route DUE v1 cannot be published:",
        "  The route has no stages yet.",
    ]
    assert RouteVersion.objects.get(route__code="DUE").status == VersionStatus.DRAFT
    assert AuditEvent.objects.filter(organisation=world.o.organisation).count() == head


def test_publish_is_refused_to_those_who_may_not_edit_the_route(world, other_org):
    routes.new_draft(world.route, actor=world.o.admin)
    make_user("stranger")

    unknown = refused("publish", "BIG", "--org", "acme", "--as", "nobody")
    outsider = refused("publish", "BIG", "--org", "acme", "--as", "stranger")
    auditor = refused("publish", "BIG", "--org", "acme", "--as", "auditor")
    not_owner = refused("publish", "BIG", "--org", "acme", "--as", "wawan")

    assert (unknown.returncode, str(unknown)) == (
        2,
        "No active user with the username 'nobody'.",
    )
    assert (outsider.returncode, str(outsider)) == (
        2,
        "stranger is not a member of acme.",
    )
    assert (auditor.returncode, str(auditor)) == (
        1,
        "You do not have permission to do this.",
    )
    assert (not_owner.returncode, str(not_owner)) == (
        1,
        "Only administrators and holders of the route's owner position can change it.",
    )
    assert routes.published_version(world.route).number == 1  # type: ignore[union-attr]


def test_a_refusal_is_in_the_actors_language(world):
    world.o.auditor.language = "id"
    world.o.auditor.save(update_fields=["language"])
    routes.new_draft(world.route, actor=world.o.admin)

    error = refused("publish", "BIG", "--org", "acme", "--as", "auditor")

    assert (error.returncode, str(error)) == (
        1,
        "Anda tidak memiliki izin untuk melakukan ini.",
    )


def test_a_missing_subcommand_or_option_is_a_usage_error(world):
    with pytest.raises(CommandError, match="required"):
        call_command("routes", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="--org"):
        call_command("routes", "list", stdout=StringIO(), stderr=StringIO())
