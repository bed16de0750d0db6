"""`rantai roles raci|mine|checks|briefings|acknowledge|assign|rebalance|fairness`:
the roles capability on the command line — output, files and exit codes (2: the
input names nothing that exists; 1: the rules refused, or a role check found an
error).

The world: acme's Export unit has two clerks, Ani and Eko (logins), who cover
the duty "Book freight"; Lia is the legal officer; Rina (user "member") heads
Export and owns the procedure SHIP: "book" (clerk, consulting legal, with the
duty) and "pack" (clerk, no duty) start together, then the forwarder ships.
Published and started at T0 (Monday 2 March 2026, 08:00 in Jakarta): the policy
gives "book" to Ani and "pack" to Eko.
"""

from __future__ import annotations

import io
import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rantai.chains import extensions
from rantai.chains import services as chains
from rantai.roles import assigning, raci
from rantai.roles.models import Assignment, Briefing, RebalanceProposal
from rantai.roles.tests import factories as f

T0 = f.T0


World = f.ShippingWorld


@pytest.fixture
def w(db) -> World:
    return f.shipping_world()


class Redirected(StringIO):
    """A standard output redirected to a file: text and bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def run(*args: str, stdout: StringIO | None = None, **options: object) -> str:
    out = stdout or StringIO()
    call_command("roles", *args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def fails(*args: str, **options: object) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run(*args, **options)
    return caught.value


def lines(*args: str, **options: object) -> list[str]:
    return run(*args, **options).splitlines()


def _cells(line: str) -> list[str]:
    """The cells of a table's line: columns are two or more spaces apart."""
    return re.split(r"\s{2,}", line.strip())


# --- raci ---------------------------------------------------------------------------


def test_raci_prints_the_published_matrix_with_its_legend(w):
    assert lines("raci", "SHIP") == [
        "RACI matrix of Procedure SHIP (SHIP), version 1 (published)",
        "#  STEP    CLK  EXP-HEAD  FWD  LEG",
        "1  Book *  R    A         -    C",
        "2  Pack    R    A         -    -",
        "3  Ship    -    A         R    -",
        "",
        "CLK: Clerk (Export)",
        "EXP-HEAD: Head of export (Export)",
        "FWD: Fast Forwarding (the party itself, outside partner)",
        "LEG: Legal officer (Head office)",
        "R = Responsible, A = Accountable, C = Consulted, I = Informed.",
        "*: the consulted must answer before the task is completed.",
    ]


def test_raci_of_another_version_as_json(w):
    draft = chains.new_draft(w.version.procedure, actor=w.o.admin)
    pack = draft.steps.get(key="pack")
    raci.set_cell(pack, actor=w.o.admin, position=w.legal, roles=["I"])

    data = json.loads(
        run("raci", "SHIP", "--org", "acme", "--version", "2", "--format", "json")
    )

    assert data["version"] == {"id": draft.pk, "number": 2, "status": "draft"}
    assert [column["code"] for column in data["columns"]] == [
        "CLK",
        "EXP-HEAD",
        "FWD",
        "LEG",
    ]
    assert data["rows"][1]["key"] == "pack"
    assert data["rows"][1]["cells"] == {
        f"position:{w.clerk.pk}": ["R"],
        f"position:{w.o.export_head.pk}": ["A"],
        f"position:{w.legal.pk}": ["I"],
    }
    # the published version is the default
    assert json.loads(run("raci", "SHIP", "--format", "json"))["version"]["number"] == 1


def test_raci_writes_excel_and_pdf_files(w, tmp_path):
    workbook = tmp_path / "raci.xlsx"

    said = run("raci", "SHIP", "--format", "xlsx", "--output", str(workbook))
    redirected = Redirected()
    run("raci", "SHIP", "--format", "pdf", stdout=redirected)

    assert said == f"Wrote {workbook} ({workbook.stat().st_size:,} bytes).\n"
    assert workbook.read_bytes()[:2] == b"PK"
    assert redirected.buffer.getvalue().startswith(b"%PDF")
    refused = fails("raci", "SHIP", "--format", "pdf", stdout=Terminal())
    assert refused.returncode == 2
    assert "give --output FILE" in str(refused)


def test_raci_of_something_that_does_not_exist_exits_2(w):
    assert fails("raci", "NOPE").returncode == 2
    assert (
        str(fails("raci", "SHIP", "--version", "9"))
        == "Procedure SHIP has no version 9."
    )
    assert fails("raci", "SHIP", "--org", "globex").returncode == 2


def test_raci_asks_for_the_organisation_when_several_have_the_code(w):
    other = f.organisation("globex", prefix="g-")
    f.procedure(other, [f.StepRow("a", other.export_staff, other.export_head)])

    refused = fails("raci", "SHIP")

    assert refused.returncode == 2
    assert str(refused) == (
        "Several organisations have a procedure 'SHIP': name one with --org."
    )
    assert lines("raci", "SHIP", "--org", "globex")[1] == "#  STEP  EXP-CLERK  EXP-HEAD"


# --- mine ---------------------------------------------------------------------------


def test_mine_lists_a_users_roles(w):
    assert lines("mine", "--user", "ani") == [
        "PROCEDURE              VERSION  STEP  ROLE  THROUGH",
        "Procedure SHIP (SHIP)        1  Book  R     Clerk",
        "Procedure SHIP (SHIP)        1  Pack  R     Clerk",
        "R = Responsible, A = Accountable, C = Consulted, I = Informed; (Plt): as "
        "acting holder.",
    ]
    data = json.loads(run("mine", "--user", "member", "--json"))
    assert [(r["step"]["key"], r["role"], r["acting"]) for r in data] == [
        ("book", "A", False),
        ("pack", "A", False),
        ("ship", "A", False),
    ]


def test_mine_without_roles_and_for_strangers(w):
    assert run("mine", "--user", "auditor") == (
        "auditor has no role in a published procedure of acme.\n"
    )
    assert fails("mine", "--user", "nobody").returncode == 2
    f.organisation("globex", prefix="g-")
    refused = fails("mine", "--user", "ani", "--org", "globex")
    assert (refused.returncode, str(refused)) == (2, "ani is not a member of globex.")


# --- checks -------------------------------------------------------------------------


def test_checks_with_warnings_only_exit_0(w):
    pack = w.version.steps.get(key="pack")

    printed = lines("checks", "--org", "acme", now=T0)

    # columns two or more spaces apart (their width follows the ids)
    assert [_cells(line) for line in printed[:2]] == [
        ["SEVERITY", "CHECK", "SUBJECT", "ACK", "FINDING"],
        [
            "WARNING",
            "duty_not_covered",
            f"v{w.version.pk}:step:{pack.pk}:position:{w.clerk.pk}",
            "-",
            "Step “Pack” of Procedure SHIP, version 1 names no duty, so it is not "
            "part of the job description of Clerk, its responsible.",
        ],
    ]
    assert printed[2:] == ["0 errors, 1 warning (0 acknowledged)."]
    data = json.loads(run("checks", "--org", "acme", "--json", now=T0))
    assert [(d["rule"], d["severity"], d["fix"]) for d in data] == [
        ("duty_not_covered", "warning", {"kind": "step", "id": pack.pk})
    ]


def test_checks_with_an_error_print_it_and_exit_1(w):
    # published before the publish guard existed (no guard registered)
    with extensions.isolated_registry():
        f.procedure(
            w.o,
            [f.StepRow("return", responsible=w.clerk, accountable=w.o.forwarder_ops)],
            code="RET",
        )
    stdout = StringIO()

    refused = fails("checks", "--org", "acme", stdout=stdout, now=T0)

    assert refused.returncode == 1
    assert str(refused) == (
        "The role checks of acme found 1 error: versions with errors cannot be "
        "published."
    )
    printed = stdout.getvalue().splitlines()
    assert printed[1].startswith("ERROR     external_accountable")
    assert printed[-1].startswith("1 error, ")


def test_checks_of_an_unknown_organisation_exit_2(db):
    assert fails("checks", "--org", "nope").returncode == 2


# --- briefings ----------------------------------------------------------------------


def test_briefings_of_the_organisation_and_of_a_user(w):
    everyone = lines("briefings", "--org", "acme")
    ani = lines("briefings", "--org", "acme", "--user", "ani")

    assert _cells(everyone[0]) == [
        "ID",
        "PERSON",
        "ABOUT",
        "ISSUED",
        "ACKNOWLEDGED",
        "REMINDERS",
    ]
    # by name
    assert [_cells(line)[1:3] for line in everyone[1:-1]] == [
        ["Ani", "Your roles in Procedure SHIP (version 1)"],
        ["Eko", "Your roles in Procedure SHIP (version 1)"],
        ["Lia", "Your roles in Procedure SHIP (version 1)"],
        ["Rina Kusuma", "Your roles in Procedure SHIP (version 1)"],
    ]
    briefing = Briefing.objects.get(person=w.ani, procedure_version=w.version)
    assert _cells(everyone[1]) == [
        str(briefing.pk),
        "Ani",
        "Your roles in Procedure SHIP (version 1)",
        "2026-03-02 08:00",
        "not yet",
        "0",
    ]
    assert everyone[-1] == "4 briefings not acknowledged yet; times in Asia/Jakarta."
    assert [_cells(line)[:2] for line in ani[1:-1]] == [[str(briefing.pk), "Ani"]]
    assert ani[-1] == "1 briefing not acknowledged yet; times in Asia/Jakarta."


def test_acknowledge_a_briefing(w):
    briefing = Briefing.objects.get(person=w.ani, procedure_version=w.version)

    said = run("acknowledge", str(briefing.pk), "--user", "ani", now=f.at(30))

    assert said == f"Briefing {briefing.pk} of Ani acknowledged by ani.\n"
    briefing.refresh_from_db()
    assert briefing.acknowledged_at == f.at(30)
    ani = lines("briefings", "--org", "acme", "--user", "ani")
    assert _cells(ani[1])[4] == "2026-03-02 08:30"
    assert ani[-1] == "0 briefings not acknowledged yet; times in Asia/Jakarta."
    again = fails("acknowledge", str(briefing.pk), "--user", "ani")
    assert (again.returncode, str(again)) == (
        1,
        "This briefing is already acknowledged.",
    )


def test_acknowledging_someone_elses_or_an_unknown_briefing_is_refused(w):
    briefing = Briefing.objects.get(person=w.ani, procedure_version=w.version)

    not_hers = fails("acknowledge", str(briefing.pk), "--user", "lia")

    assert (not_hers.returncode, str(not_hers)) == (
        1,
        "Only the person briefed can acknowledge it.",
    )
    assert fails("acknowledge", "999", "--user", "ani").returncode == 2
    assert fails("acknowledge", "x", "--user", "ani").returncode == 2
    briefing.refresh_from_db()
    assert briefing.acknowledged_at is None


# --- assign -------------------------------------------------------------------------


def test_assign_a_task_by_hand(w):
    pack = w.task("pack")

    said = run(
        "assign", str(pack.pk), "--to", str(w.ani.pk), "--user", "member", now=f.at(60)
    )

    assert said == f"Task {pack.pk} (Pack) assigned to Ani by member.\n"
    assert w.task("pack").assignee_id == w.ani.pk
    assert assigning.current(pack.pk).kind == "manual"


def test_assigning_outside_the_candidates_needs_a_reason(w):
    book = w.task("book")
    before = Assignment.objects.count()

    refused = fails(
        "assign", str(book.pk), "--to", str(w.o.budi.pk), "--user", "member"
    )

    assert refused.returncode == 1
    assert str(refused).startswith("This person is not among the candidates")
    assert Assignment.objects.count() == before
    said = run(
        "assign",
        str(book.pk),
        "--to",
        str(w.o.budi.pk),
        "--reason",
        "Ani is at the port.",
        "--user",
        "member",
        now=f.at(60),
    )
    assert said == (
        f"Task {book.pk} (Book) assigned to Budi Santoso by member (override: Ani is "
        "at the port.).\n"
    )


def test_assigning_is_refused_to_others_and_to_unknown_ids(w):
    book = w.task("book")

    not_allowed = fails("assign", str(book.pk), "--to", str(w.eko.pk), "--user", "ani")

    assert not_allowed.returncode == 1
    assert w.task("book").assignee_id == w.ani.pk
    assert (
        fails("assign", "999", "--to", str(w.eko.pk), "--user", "member").returncode
        == 2
    )
    assert (
        fails("assign", str(book.pk), "--to", "999", "--user", "member").returncode == 2
    )
    assert (
        fails(
            "assign", str(book.pk), "--to", str(w.eko.pk), "--user", "nobody"
        ).returncode
        == 2
    )


# --- rebalance ----------------------------------------------------------------------


def _both_to_ani(w: World) -> None:
    pack = w.task("pack")
    assigning.assign_task(
        pack, actor=w.o.admin, person=w.ani, expected_version=pack.version
    )


def test_rebalance_proposes_without_moving(w):
    _both_to_ani(w)
    pack = w.task("pack")

    printed = lines("rebalance", "EXP", "--user", "admin", now=f.at(90))

    proposal = RebalanceProposal.objects.get()
    assert printed[0] == f"Rebalancing of Export (EXP): proposal {proposal.pk}"
    assert [_cells(line) for line in printed[1:3]] == [
        ["TASK", "NAME", "FROM", "TO", "HOURS"],
        [str(pack.pk), "Pack", "Ani", "Eko", "8.0"],
    ]
    assert printed[3:] == [
        "",
        "PERSON        BEFORE (H)  AFTER (H)",
        "Ani                 16.0        8.0",
        "Budi Santoso         0.0        0.0",
        "Eko                  0.0        8.0",
        "Rina Kusuma          0.0        0.0",
        "Maximum load 16.0 h → 8.0 h; Gini 0.7500 → 0.5000.",
        f"Proposal {proposal.pk} is not applied: nothing moved (--apply moves the "
        "tasks).",
    ]
    assert proposal.status == "proposed"
    assert w.task("pack").assignee_id == w.ani.pk


def test_rebalance_and_apply(w):
    _both_to_ani(w)

    printed = lines("rebalance", "EXP", "--user", "admin", "--apply", now=f.at(90))

    proposal = RebalanceProposal.objects.get()
    assert printed[-1] == f"Applied proposal {proposal.pk}: 1 task moved."
    assert proposal.status == "applied"
    assert w.task("pack").assignee_id == w.eko.pk


def test_rebalance_is_refused_to_members_and_unknown_units(w):
    refused = fails("rebalance", "EXP", "--user", "ani")

    assert refused.returncode == 1
    assert str(refused) == (
        "Only administrators and the holders of the unit's head position can "
        "rebalance its tasks."
    )
    assert not RebalanceProposal.objects.exists()
    assert fails("rebalance", "NOPE", "--user", "admin").returncode == 2
    assert fails("rebalance", "FWD", "--user", "admin").returncode == 2


# --- fairness -----------------------------------------------------------------------

MARCH = ("--since", "2026-03-01", "--until", "2026-03-31")


def test_fairness_report_of_a_period(w):
    pack = w.task("pack")
    assigning.assign_task(
        pack,
        actor=w.o.member,
        person=w.ani,
        expected_version=pack.version,
        now=f.at(60),
    )

    assert lines("fairness", "--org", "acme", *MARCH) == [
        "Fairness of assignment in Acme Ltd, 2026-03-01 to 2026-03-31: 2 tasks "
        "counted.",
        "PERSON        TASKS  HOURS",
        "Ani               2   16.0",
        "Budi Santoso      0    0.0",
        "Eko               0    0.0",
        "Lia               0    0.0",
        "Rina Kusuma       0    0.0",
        "Gini coefficient of the load: 0.8000 (0: everyone the same).",
        "",
        "ASSIGNER  BY HAND  OVERRIDES  SHARE",
        "Member          1          0   0.0%",
        "",
        "ASSIGNER  PICKS  MOST PICKED   SHARE  EXPECTED  RATIO",
        "Member        1  Ani          100.0%     50.0%   2.00  -",
        "Flagged: at least 5 picks, and their favourite got at least twice the "
        "share a pick among the candidates would give.",
    ]


def test_fairness_as_json_and_excel(w, tmp_path):
    data = json.loads(run("fairness", "--org", "acme", *MARCH, "--json"))
    workbook = tmp_path / "fairness.xlsx"
    said = run("fairness", "--org", "acme", *MARCH, "--xlsx", str(workbook))

    assert (data["assignments"], data["gini"]) == (2, "0.6000")
    assert [(p["name"], p["minutes"]) for p in data["people"]][:2] == [
        ("Ani", 480),
        ("Eko", 480),
    ]
    assert said == f"Wrote {workbook} ({workbook.stat().st_size:,} bytes).\n"
    assert workbook.read_bytes()[:2] == b"PK"


def test_fairness_of_a_unit_and_bad_input(w):
    unit = lines("fairness", "--org", "acme", *MARCH, "--unit", "WH")

    assert unit[0] == (
        "Fairness of assignment in Warehouse and its sub-units, 2026-03-01 to "
        "2026-03-31: 0 tasks counted."
    )
    bad_date = fails(
        "fairness", "--org", "acme", "--since", "1 March", "--until", "2026-03-31"
    )
    assert (bad_date.returncode, str(bad_date)) == (
        2,
        "--since is a date as YYYY-MM-DD, not '1 March'.",
    )
    backwards = fails(
        "fairness", "--org", "acme", "--since", "2026-03-31", "--until", "2026-03-01"
    )
    assert backwards.returncode == 2
    assert fails("fairness", "--org", "acme", *MARCH, "--unit", "NOPE").returncode == 2
