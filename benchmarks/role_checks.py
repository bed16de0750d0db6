"""`checks.check_organisation` of an organisation with 500 published procedures of
8 steps each, on SQLite and PostgreSQL (target: under 1 s).

`check_organisation` is what the role-checks page and the API call: it reads the
published versions (and those with runs under way), their steps, RACI rows,
positions, the current holders, the open and pending work of every person, the
working calendar, the absences in the load window and the acknowledged warnings —
a fixed number of statements — and runs the six rules over plain rows. Each figure
is the median of `--repeat` calls after a warm-up call, DEBUG off; the SQL
statements of one call are counted separately (`CaptureQueriesContext`).

The data is made once and kept (`--fresh` makes it again): SQLite in
`var/bench/roles/sqlite/`, PostgreSQL in the database `rantai_bench_roles` on the
server DATABASE_URL names (`--drop` removes it at the end). The organisation, its
administrator and its working calendar go through the services; the rest is bulk
inserts of what the services would write, without their one-by-one audit events:

- 10 internal units of 20 positions (a head, 19 staff with three duties each),
  40 specialists in the head office, a director, 3 outside partners with 2
  positions each; every seventeenth position vacant, every fourth staff position
  with two holders, every seventh holder acting (Plt);
- 500 procedures, each with one published version of `--steps` steps: the
  responsible a staff position of the owner's unit doing one of its duties (every
  ninth step names no duty, every 23rd a duty of another position, every 11th is
  an outside partner's own step), the unit head accountable (every 97th step an
  outside partner's position — old data from before the publish guard), the
  specialists consulted on two steps in eight, the director and the head
  informed;
- 400 active runs (one per procedure): two tasks done, one ready (assigned to the
  sole holder), the rest pending; 40 absences in the load window.

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres] \\
        .venv/bin/python benchmarks/role_checks.py [--procedures 500] [--steps 8]
        [--repeat 5] [--fresh] [--drop]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402
import roles_fixtures as rf  # noqa: E402
import workload_fixtures as wf  # noqa: E402

TARGET_SECONDS = 1.0
DATA_DIR = fx.ROOT / "var" / "bench" / "roles"
DATABASE = "rantai_bench_roles"
SLUG = "bench-roles"
# Monday 2 March 2026, 08:00 in Jakarta: the moment the checks look from.
NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
START = dt.date(2025, 1, 1)
UNITS = 10
STAFF = 19  # per unit, besides its head
SPECIALISTS = 40
PARTNERS = 3
RUNS = 400
ABSENCES = 40
BATCH = 2_000


def arguments() -> argparse.ArgumentParser:
    parser = rf.arguments(__doc__.splitlines()[0], repeat=5)
    parser.add_argument("--procedures", type=int, default=500)
    parser.add_argument("--steps", type=int, default=8, help="per procedure")
    return parser


# --- the data ----------------------------------------------------------------------------


def ensure_organisation(procedures: int, steps: int) -> Any:
    """The bench organisation with its procedures; made once."""
    from rantai.accounts.models import Organisation
    from rantai.chains.models import Procedure, Step

    found = Organisation.objects.filter(slug=SLUG).first()
    if found is not None:
        have = Procedure.objects.filter(organisation=found).count()
        per = Step.objects.filter(organisation=found).count() // max(have, 1)
        if (have, per) != (procedures, steps):
            raise SystemExit(
                f"The kept data has {have:,} procedures of {per} steps, not "
                f"{procedures:,} of {steps}: run with --fresh."
            )
        return found
    return _make(procedures, steps)


def _make(procedures: int, steps: int) -> Any:
    from rantai.chains import services as chains
    from rantai.chains.models import (
        DurationUnit,
        Procedure,
        ProcedureVersion,
        RaciRole,
        Run,
        RunStatus,
        Step,
        StepRole,
        Task,
        TaskStatus,
        VersionStatus,
    )
    from rantai.org.models import (
        Absence,
        AbsenceKind,
        Duty,
        Holding,
        Party,
        PartyKind,
        Person,
        Position,
    )

    started = time.perf_counter()
    wf.log(f"Making {procedures:,} procedures of {steps} steps (once) ...")
    admin, organisation = rf.make_organisation(SLUG, "Bench roles")
    chains.update_working_calendar(
        organisation,
        actor=admin,
        expected_version=None,
        working_weekdays=[0, 1, 2, 3, 4],
        day_start=dt.time(8, 0),
        day_end=dt.time(16, 0),
    )

    def party(kind: str, name: str, code: str) -> Any:
        return Party(organisation=organisation, kind=kind, name=name, code=code)

    head_office = Party.objects.bulk_create(
        [party(PartyKind.INTERNAL_UNIT, "Head office", "HO")]
    )[0]
    units = Party.objects.bulk_create(
        [
            party(PartyKind.INTERNAL_UNIT, f"Unit {u:02d}", f"U{u:02d}")
            for u in range(UNITS)
        ]
    )
    partners = Party.objects.bulk_create(
        [
            party(PartyKind.EXTERNAL_PARTNER, f"Partner {p}", f"PT{p}")
            for p in range(PARTNERS)
        ]
    )

    def position(of: Any, title: str, code: str, max_holders: int = 1) -> Any:
        return Position(
            organisation=organisation,
            party=of,
            title=title,
            code=code,
            max_holders=max_holders,
        )

    director = Position.objects.bulk_create([position(head_office, "Director", "DIR")])[
        0
    ]
    specialists = Position.objects.bulk_create(
        [
            position(head_office, f"Specialist {s:02d}", f"SPEC-{s:02d}")
            for s in range(SPECIALISTS)
        ]
    )
    # unit_positions[u][0] is the head; 1..STAFF the staff.
    unit_positions = [
        Position.objects.bulk_create(
            [position(unit, f"Head of {unit.name}", f"{unit.code}-HEAD")]
            + [
                position(
                    unit, f"Officer {n:02d} of {unit.name}", f"{unit.code}-{n:02d}", 2
                )
                for n in range(1, STAFF + 1)
            ]
        )
        for unit in units
    ]
    partner_positions = [
        Position.objects.bulk_create(
            [
                position(partner, f"{partner.name} operations", f"{partner.code}-OPS"),
                position(partner, f"{partner.name} manager", f"{partner.code}-MGR"),
            ]
        )
        for partner in partners
    ]
    staff = [p for positions in unit_positions for p in positions[1:]]
    Duty.objects.bulk_create(
        [
            Duty(
                organisation=organisation,
                position=p,
                title=f"Duty {d + 1} of {p.code}",
                output_unit="document",
                sort_order=d,
            )
            for p in staff
            for d in range(3)
        ],
        batch_size=BATCH,
    )
    duties: dict[int, list[int]] = {}
    for pk, position_id in (
        Duty.objects.filter(organisation=organisation)
        .order_by("position_id", "sort_order")
        .values_list("pk", "position_id")
    ):
        duties.setdefault(position_id, []).append(pk)

    everyone = [
        director,
        *specialists,
        *[p for positions in unit_positions for p in positions],
        *[p for positions in partner_positions for p in positions],
    ]
    holders: list[tuple[Any, bool]] = []  # (position, acting)
    for index, p in enumerate(everyone):
        if index % 17 == 5:
            continue  # vacant
        holders.append((p, len(holders) % 7 == 6))
        if p in staff and index % 4 == 0:
            holders.append((p, False))
    people = Person.objects.bulk_create(
        [
            Person(
                organisation=organisation,
                full_name=f"Person {n:04d}",
                party=p.party if p.party.kind == PartyKind.EXTERNAL_PARTNER else None,
            )
            for n, (p, _acting) in enumerate(holders)
        ],
        batch_size=BATCH,
    )
    Holding.objects.bulk_create(
        [
            Holding(
                organisation=organisation,
                position=p,
                person=person,
                start_date=START,
                is_acting=acting,
            )
            for person, (p, acting) in zip(people, holders, strict=True)
        ],
        batch_size=BATCH,
    )
    sole: dict[int, int] = {}
    counts = Counter(p.pk for p, _acting in holders)
    for person, (p, _acting) in zip(people, holders, strict=True):
        if counts[p.pk] == 1:
            sole[p.pk] = person.pk
    wf.log(f"  organisation: {time.perf_counter() - started:.0f} s")

    made = Procedure.objects.bulk_create(
        [
            Procedure(
                organisation=organisation,
                code=f"SOP-{n:04d}",
                name=f"Procedure {n:04d}",
                owner_position=unit_positions[n % UNITS][0],
            )
            for n in range(procedures)
        ],
        batch_size=BATCH,
    )
    versions = ProcedureVersion.objects.bulk_create(
        [
            ProcedureVersion(
                organisation=organisation,
                procedure=procedure,
                number=1,
                status=VersionStatus.PUBLISHED,
                published_at=NOW - dt.timedelta(days=30),
                published_by=admin,
            )
            for procedure in made
        ],
        batch_size=BATCH,
    )
    step_rows = []
    # (step index in step_rows, role, position or None, party or None)
    plans: list[tuple[int, str, Any, Any]] = []
    for n, version in enumerate(versions):
        unit = n % UNITS
        head = unit_positions[unit][0]
        for s in range(steps):
            number = n * steps + s
            responsible = unit_positions[unit][1 + (n * 3 + s) % STAFF]
            external = number % 11 == 0
            duty = duties[responsible.pk][s % 3]
            if number % 9 == 0:
                duty = None
            elif number % 23 == 0:
                other = unit_positions[(unit + 1) % UNITS][1 + s % STAFF]
                duty = duties[other.pk][0]
            index = len(step_rows)
            step_rows.append(
                Step(
                    organisation=organisation,
                    procedure_version=version,
                    key=f"step-{s + 1}",
                    name=f"Step {s + 1} of procedure {n:04d}",
                    duty_id=None if external else duty,
                    duration_value=Decimal(1 + number % 3),
                    duration_unit=DurationUnit.WORKING_DAYS,
                    sort_order=(s + 1) * 10,
                )
            )
            partner = number % PARTNERS
            if external:
                plans.append((index, RaciRole.RESPONSIBLE, None, partners[partner]))
            else:
                plans.append((index, RaciRole.RESPONSIBLE, responsible, None))
            accountable = partner_positions[partner][1] if number % 97 == 0 else head
            plans.append((index, RaciRole.ACCOUNTABLE, accountable, None))
            if s % 4 in (1, 2):
                plans.append(
                    (index, RaciRole.CONSULTED, specialists[number % SPECIALISTS], None)
                )
            if s == 0:
                plans.append((index, RaciRole.INFORMED, director, None))
            if s == steps - 1:
                plans.append((index, RaciRole.INFORMED, head, None))
    Step.objects.bulk_create(step_rows, batch_size=BATCH)
    StepRole.objects.bulk_create(
        [
            StepRole(
                organisation=organisation,
                step=step_rows[index],
                role=role,
                position=p,
                party=pt,
            )
            for index, role, p, pt in plans
        ],
        batch_size=BATCH,
    )
    wf.log(
        f"  {len(step_rows):,} steps, {len(plans):,} RACI rows: "
        f"{time.perf_counter() - started:.0f} s"
    )

    runs = Run.objects.bulk_create(
        [
            Run(
                organisation=organisation,
                procedure_id=version.procedure_id,
                procedure_version=version,
                title=f"Run of procedure {n:04d}",
                measure_quantity=1,
                measure_unit="order",
                due_at=NOW + dt.timedelta(days=30),
                status=RunStatus.ACTIVE,
                started_by=admin,
                started_at=NOW - dt.timedelta(days=5),
            )
            for n, version in enumerate(versions[:RUNS])
        ],
        batch_size=BATCH,
    )
    responsible_of = {
        step_rows[index].pk: (p, pt)
        for index, role, p, pt in plans
        if role == RaciRole.RESPONSIBLE
    }
    accountable_of = {
        step_rows[index].pk: p
        for index, role, p, _pt in plans
        if role == RaciRole.ACCOUNTABLE
    }
    tasks = []
    for n, run in enumerate(runs):
        for s in range(steps):
            step = step_rows[n * steps + s]
            p, pt = responsible_of[step.pk]
            status = (
                TaskStatus.DONE
                if s < 2
                else TaskStatus.READY
                if s == 2
                else TaskStatus.PENDING
            )
            tasks.append(
                Task(
                    organisation=organisation,
                    run=run,
                    step=step,
                    key=step.key,
                    name=step.name,
                    sort_order=step.sort_order,
                    duration_minutes=int(step.duration_value) * 480,
                    responsible_position=p,
                    responsible_party=pt,
                    accountable_position=accountable_of[step.pk],
                    assignee_id=(sole.get(p.pk) if p is not None and s <= 2 else None),
                    status=status,
                    ready_at=NOW - dt.timedelta(days=1) if s <= 2 else None,
                    done_at=NOW - dt.timedelta(days=2) if s < 2 else None,
                )
            )
    Task.objects.bulk_create(tasks, batch_size=BATCH)
    Absence.objects.bulk_create(
        [
            Absence(
                organisation=organisation,
                person=people[(n * 7) % len(people)],
                kind=AbsenceKind.LEAVE,
                starts_at=NOW + dt.timedelta(days=n % 8),
                ends_at=NOW + dt.timedelta(days=n % 8 + 3),
                created_by=admin,
            )
            for n in range(ABSENCES)
        ]
    )
    wf.log(
        f"  {len(runs):,} runs, {len(tasks):,} tasks; made in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return organisation


# --- the measurement ---------------------------------------------------------------------


def figures(args: argparse.Namespace) -> dict[str, Any]:
    organisation = ensure_organisation(args.procedures, args.steps)
    return measure(organisation, args.repeat)


def measure(organisation: Any, repeat: int) -> dict[str, Any]:
    from rantai.chains.models import Procedure, Step, StepRole, Task
    from rantai.roles import checks

    def check() -> list[Any]:
        return checks.check_organisation(organisation, now=NOW)

    wf.log("timing checks.check_organisation ...")
    median, times = wf.median_seconds(check, repeat)
    queries = wf.count_queries(check)
    findings = check()
    return {
        "procedures": Procedure.objects.filter(organisation=organisation).count(),
        "steps": Step.objects.filter(organisation=organisation).count(),
        "roles": StepRole.objects.filter(organisation=organisation).count(),
        "tasks": Task.objects.filter(organisation=organisation).count(),
        "median": median,
        "times": times,
        "queries": queries,
        "findings": dict(
            sorted(Counter(f"{x.rule} ({x.severity})" for x in findings).items())
        ),
    }


def main() -> int:
    args = arguments().parse_args()
    if args.child:
        return rf.child(args, DATA_DIR, lambda: figures(args))
    results = rf.run_each_database(__file__, args, database=DATABASE)
    print()
    print(
        "checks.check_organisation, every rule over the published procedures and "
        f"the organisation's open work: the median of {args.repeat} calls "
        f"(target < {TARGET_SECONDS:.0f} s)"
    )
    for result in results:
        times = ", ".join(f"{t:.3f}" for t in result["times"])
        verdict = "within" if result["median"] < TARGET_SECONDS else "OVER"
        print(f"  {result['database']}")
        print(
            f"    {result['procedures']:,} procedures, {result['steps']:,} steps, "
            f"{result['roles']:,} RACI rows, {result['tasks']:,} tasks: "
            f"{result['median']:.3f} s ({verdict} the target; calls: {times}); "
            f"{result['queries']} SQL statements"
        )
        found = "; ".join(f"{k}: {v:,}" for k, v in result["findings"].items())
        print(f"    findings: {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
