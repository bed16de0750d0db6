"""Four months of finished shipments for the owner's dashboard
(docs/user-guide/dashboard.md), generated deterministically and driven through
the same services as everything else, with the times of a controllable clock.

Every working day or two the export manager started a shipment of 100 to 300
units to the customer in Kota A (worth less than the value limit, so the export
manager's approval step is skipped by its condition). Production, the warehouse,
the forwarder and the customer then started and completed their tasks at
realistic working times. Some batches took longer to produce, some trucks came a
day late after the shipment was scheduled, the warehouse was sometimes slow to
plan the loading, and a few runs met an obstacle (a cause, a record of what
resolved it, raised and resolved by the people concerned). Runs that finished
after their due date had their blameless review written and completed by the
export manager, with one contributing factor and one action item that its owner
completed. Everyone read the bells of the history within a few hours.

The figures depend only on the seed and the load date: the same day gives the
same history.
"""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal

from rantai.accounts.models import Organisation, User
from rantai.chains import services as chains
from rantai.chains.calendar import add_working_minutes, working_minutes_between
from rantai.chains.models import ProcedureVersion, Run, RunResult, Task
from rantai.chains.projection import calendar_spec
from rantai.evidence import records as evidence
from rantai.evidence.models import InformationRecord, RecordKind, SourceKind
from rantai.evidence.records import NewLink, NewValue
from rantai.notifications import services as notifications
from rantai.notifications.models import Notification
from rantai.obstacles import obstacles, reviews
from rantai.obstacles.models import Cause, FactorArea, Review, ReviewTrigger, Severity
from rantai.org.models import Party, Person

SEED = 20261128
DAY = 480  # working minutes in a working day of the demo's calendar
# The history covers about four months before the load date and stops early
# enough for its last run to have finished (a run takes up to twelve working days).
HISTORY_CALENDAR_DAYS = 122
LAST_START_WORKING_DAYS_AGO = 14
UNIT_PRICE = 1_500_000  # rupiah per unit: 300 units stay below the value limit
QUANTITIES = (100, 150, 200, 250, 300)
PLANNED_WORKING_DAYS = 9  # from the start to the due date
HISTORY_TITLE = "Ship {quantity} units to Kota A (order KA-{number})"
# What every history run's title (and no other run's) contains.
HISTORY_MARK = "(order KA-"
# Every history run's title carries its order number, from FIRST_ORDER on.
FIRST_ORDER = 101


@dataclass(frozen=True)
class ObstacleKind:
    task_key: str
    cause: str
    title: str
    description: str
    raiser: str  # username; the raiser resolves it too
    resolution: str
    record_title: str
    record_statement: str


OBSTACLE_KINDS = [
    ObstacleKind(
        "forwarder-pickup",
        Cause.TRANSPORT,
        "No truck free for the pickup",
        "PT Ekspedisi Cepat has no truck free on the planned day; the pickup "
        "waits for the next one.",
        "budi",
        "A replacement truck was confirmed for the next working day.",
        "Replacement truck confirmed by PT Ekspedisi Cepat",
        "The forwarder confirmed a replacement truck and sent its tracking link.",
    ),
    ObstacleKind(
        "produce",
        Cause.MATERIAL,
        "Packaging cartons short for the batch",
        "The supplier delivered fewer cartons than ordered; packing stops when "
        "they run out.",
        "agus",
        "The missing cartons arrived and were counted at the goods receipt.",
        "Cartons received for the batch",
        "The missing cartons were delivered and counted at the goods receipt.",
    ),
    ObstacleKind(
        "produce",
        Cause.EQUIPMENT,
        "Filling machine on line 2 stopped",
        "The filling machine on production line 2 stopped; the batch continues "
        "on line 1 at half the rate until it is repaired.",
        "agus",
        "The machine was repaired and line 2 runs at its usual rate again.",
        "Line 2 output after the repair",
        "Units per hour on line 2 in the first hour after the repair.",
    ),
    ObstacleKind(
        "forwarder-pickup",
        Cause.OUTSIDE,
        "Road to the port flooded",
        "Heavy rain flooded the road the forwarder uses; trucks wait until the "
        "water goes down.",
        "budi",
        "The road is open again; the truck left with the goods.",
        "Road open again",
        "The forwarder's dispatcher confirmed the road is open again.",
    ),
]


@dataclass
class Plan:
    """One history run: what happens, in working minutes after its start."""

    number: int
    quantity: int
    started_at: dt.datetime
    steps: list[tuple[int, str, str, str]] = field(default_factory=list)
    # (offset, action, task key, username); actions: start, complete, answer,
    # raise, resolve
    slow_production: bool = False
    slow_handover: bool = False
    slow_warehouse: bool = False
    obstacle: ObstacleKind | None = None
    obstacle_delay: int = 0


@dataclass(frozen=True)
class History:
    runs: list[Run]
    late: list[Run]


def _plan(rng: random.Random, number: int, started_at: dt.datetime) -> Plan:
    plan = Plan(number=number, quantity=rng.choice(QUANTITIES), started_at=started_at)
    r = rng.randint
    plan.slow_production = rng.random() < 0.15
    plan.slow_handover = rng.random() < 0.2
    plan.slow_warehouse = rng.random() < 0.1
    if rng.random() < 0.12:
        plan.obstacle = rng.choice(OBSTACLE_KINDS)
        plan.obstacle_delay = DAY * r(1, 2)
    steps = plan.steps
    produce_start = r(15, 90)
    steps.append((produce_start, "start", "produce", "agus"))
    steps.append((r(60, 240), "answer", "produce", "budi"))
    steps.append((r(120, 420), "complete", "set-target", "sari"))
    production = r(2900, 3600) if plan.slow_production else r(1800, 2400)
    if plan.obstacle is not None and plan.obstacle.task_key == "produce":
        raised = produce_start + r(DAY, 2 * DAY)
        lost = r(300, 700)
        steps.append((raised, "raise", "produce", plan.obstacle.raiser))
        steps.append((raised + lost, "resolve", "produce", plan.obstacle.raiser))
        production += lost
    produce_done = produce_start + production
    steps.append((produce_done, "complete", "produce", "agus"))
    # export prices the shipping once production names its release day (a
    # forwarder's quotation holds a few days only)
    price_start = max(r(300, 900), produce_done - r(360, 900))
    price_done = price_start + r(60, 240)
    steps.append((price_start, "start", "price-shipping", "rina"))
    steps.append((price_done, "complete", "price-shipping", "rina"))
    schedule_start = max(produce_done, price_done) + (
        r(400, 900) if plan.slow_warehouse else r(20, 180)
    )
    schedule_done = schedule_start + r(60, 300)
    steps.append((schedule_start, "start", "schedule-shipment", "budi"))
    steps.append((schedule_done, "complete", "schedule-shipment", "budi"))
    pickup_start = schedule_done + (r(600, 1300) if plan.slow_handover else r(90, 420))
    if plan.obstacle is not None and plan.obstacle.task_key == "forwarder-pickup":
        raised = schedule_done + r(30, 120)
        resolved = raised + r(400, 900)
        steps.append((raised, "raise", "forwarder-pickup", plan.obstacle.raiser))
        steps.append((resolved, "resolve", "forwarder-pickup", plan.obstacle.raiser))
        pickup_start = max(pickup_start, resolved + r(30, 90))
    pickup_done = pickup_start + r(120, 400)
    steps.append((pickup_start, "start", "forwarder-pickup", "joko"))
    steps.append((pickup_done, "complete", "forwarder-pickup", "joko"))
    # the customer confirms on arrival (a task completed without a start: no
    # waiting time of its own, the handover lasts until the confirmation)
    steps.append((pickup_done + r(300, 1100), "complete", "confirm-delivery", "lina"))
    steps.sort(key=lambda step: step[0])
    return plan


def plans(organisation: Organisation, *, now: dt.datetime) -> list[Plan]:
    """The history's runs, from the seed and the load date alone."""
    cal = calendar_spec(organisation)
    zone = zoneinfo.ZoneInfo(organisation.time_zone)
    rng = random.Random(SEED)
    first_day = now.astimezone(zone).date() - dt.timedelta(days=HISTORY_CALENDAR_DAYS)
    moment = add_working_minutes(
        cal, dt.datetime.combine(first_day, dt.time(0), tzinfo=zone), 60
    )
    result: list[Plan] = []
    while working_minutes_between(cal, moment, now) > LAST_START_WORKING_DAYS_AGO * DAY:
        result.append(_plan(rng, FIRST_ORDER + len(result), moment))
        moment = add_working_minutes(cal, moment, rng.randint(560, 1140))
    return result


def _record(
    organisation: Organisation,
    plan: Plan,
    run: Run,
    task: Task,
    *,
    users: dict[str, User],
    parties: dict[str, Party],
    moment: dt.datetime,
) -> InformationRecord:
    kind = plan.obstacle
    assert kind is not None
    if kind.task_key == "produce":
        value = (
            Decimal(plan.quantity // 10)
            if kind.cause == Cause.MATERIAL
            else Decimal(120)
        )
        unit = "cartons" if kind.cause == Cause.MATERIAL else "units per hour"
        return evidence.record_information(
            organisation,
            actor=users[kind.raiser],
            title=kind.record_title,
            statement=kind.record_statement,
            kind=RecordKind.MEASUREMENT,
            source_kind=SourceKind.OBSERVATION,
            source_detail="Count at production line 2",
            run=run,
            task=task,
            observed_at=moment - dt.timedelta(minutes=20),
            items=[NewValue(quantity=value, unit=unit, label=kind.record_title)],
            now=moment - dt.timedelta(minutes=10),
        )
    return evidence.record_information(
        organisation,
        actor=users[kind.raiser],
        title=kind.record_title,
        statement=kind.record_statement,
        kind=RecordKind.STATUS,
        source_kind=SourceKind.PERSON,
        source_detail="The dispatcher of PT Ekspedisi Cepat, by phone and link",
        source_party=parties["FWD"],
        run=run,
        task=task,
        observed_at=moment - dt.timedelta(minutes=20),
        items=[
            NewLink(
                url=f"https://ekspedisi-cepat.test/tracking/KA-{plan.number}",
                label="Tracking of the truck",
            )
        ],
        now=moment - dt.timedelta(minutes=10),
    )


def _execute(
    organisation: Organisation,
    version: ProcedureVersion,
    plan: Plan,
    *,
    users: dict[str, User],
    parties: dict[str, Party],
) -> Run:
    from rantai.demo.loader import _act, _answer

    cal = calendar_spec(organisation)
    zone = zoneinfo.ZoneInfo(organisation.time_zone)
    due_day = (
        add_working_minutes(cal, plan.started_at, PLANNED_WORKING_DAYS * DAY)
        .astimezone(zone)
        .date()
    )
    run = chains.start_run(
        version,
        actor=users["rina"],
        title=HISTORY_TITLE.format(quantity=plan.quantity, number=plan.number),
        objective=(
            f"Deliver {plan.quantity} units of order KA-{plan.number} to PT Sumber "
            "Rezeki in Kota A."
        ),
        measure_quantity=plan.quantity,
        measure_unit="units",
        due_at=chains.due_at_for_date(organisation, due_day),
        field_values={
            "quantity": plan.quantity,
            "destination": "Kota A",
            "shipment_value": str(plan.quantity * UNIT_PRICE),
        },
        now=plan.started_at,
    )
    raised = None
    for offset, action, key, username in plan.steps:
        moment = add_working_minutes(cal, plan.started_at, offset)
        user = users[username]
        if action == "answer":
            _answer(run, key, user, moment, "The warehouse has room for the batch.")
        elif action == "raise":
            kind = plan.obstacle
            assert kind is not None
            raised = obstacles.raise_obstacle(
                run,
                actor=user,
                title=kind.title,
                description=kind.description,
                expected_delay_minutes=plan.obstacle_delay,
                severity=Severity.MEDIUM,
                cause=kind.cause,
                task=Task.objects.get(run=run, key=key),
                now=moment,
            )
        elif action == "resolve":
            assert raised is not None and plan.obstacle is not None
            record = _record(
                organisation,
                plan,
                run,
                Task.objects.get(run=run, key=key),
                users=users,
                parties=parties,
                moment=moment,
            )
            raised.refresh_from_db()
            obstacles.resolve(
                raised,
                actor=user,
                expected_version=raised.version,
                resolution=plan.obstacle.resolution,
                records=[record],
                now=moment,
            )
        else:
            _act(run, key, action, user, moment)
    run.refresh_from_db()
    return run


# What contributed to a late history run, and what its owner changes: (area,
# factor, action owner, action). No names, no blame: conditions and decisions.
PRODUCTION_FACTOR = (
    "Production of the batch took longer than the five working days the "
    "procedure plans: the quality inspection of the batch ran over."
)
PRODUCTION_ACTION = (
    "Check the inspection capacity of the line before accepting a batch for the "
    "same week."
)
HANDOVER_FACTOR = (
    "The truck came more than a working day after the shipment was scheduled: "
    "the pickup was booked only once the loading plan was final."
)
HANDOVER_ACTION = (
    "Confirm a truck within four working hours of the warehouse's notice of a shipment."
)
WAREHOUSE_FACTOR = (
    "The loading was planned only the day after production released the batch: "
    "the warehouse heard of the release when the production task completed."
)
WAREHOUSE_ACTION = (
    "Announce each batch to the warehouse a day before production expects to "
    "release it."
)
OBSTACLE_ACTION = (
    "Keep a fallback for this kind of obstacle ready, named in the shipment's "
    "plan, so that the next one costs hours rather than days."
)


def _write_review(
    organisation: Organisation,
    plan: Plan,
    run: Run,
    *,
    users: dict[str, User],
    people: dict[str, Person],
    parties: dict[str, Party],
    now: dt.datetime,
) -> Review:
    """The export manager writes the late run's review a working day after it
    finished, the action's owner completes the action two working days later,
    and she completes the review."""
    cal = calendar_spec(organisation)
    zone = zoneinfo.ZoneInfo(organisation.time_zone)
    rina = users["rina"]
    review = Review.objects.get(run=run, trigger=ReviewTrigger.MISSED_TARGET)
    tasks = {task.key: task for task in Task.objects.filter(run=run)}
    assert run.completed_at is not None
    written_at = min(add_working_minutes(cal, run.completed_at, DAY), now)
    factor: dict[str, object]
    if plan.obstacle is not None:
        cause = plan.obstacle
        if cause.cause == Cause.OUTSIDE:
            factor = {"area": FactorArea.OUTSIDE}
        elif cause.task_key == "produce":
            factor = {"area": FactorArea.STEP, "task": tasks["produce"]}
        else:
            factor = {"area": FactorArea.PARTY, "party": parties["FWD"]}
        factor["description"] = f"{cause.title}: {cause.description}"
        owner, action = cause.raiser, OBSTACLE_ACTION
        summary = (
            f"The shipment reached the customer after its due date: an obstacle "
            f"({cause.title.lower()}) held the chain for a working day or more."
        )
    elif plan.slow_production:
        factor = {
            "area": FactorArea.STEP,
            "task": tasks["produce"],
            "description": PRODUCTION_FACTOR,
        }
        owner, action = "agus", PRODUCTION_ACTION
        summary = "The shipment reached the customer late: production ran over."
    elif plan.slow_handover:
        factor = {
            "area": FactorArea.HANDOVER,
            "task": tasks["schedule-shipment"],
            "next_task": tasks["forwarder-pickup"],
            "description": HANDOVER_FACTOR,
        }
        owner, action = "joko", HANDOVER_ACTION
        summary = (
            "The shipment reached the customer late: the forwarder's pickup came "
            "a working day after the shipment was scheduled."
        )
    else:
        factor = {
            "area": FactorArea.HANDOVER,
            "task": tasks["produce"],
            "next_task": tasks["schedule-shipment"],
            "description": WAREHOUSE_FACTOR,
        }
        owner, action = "agus", WAREHOUSE_ACTION
        summary = (
            "The shipment reached the customer late: each step took a little "
            "longer than planned and nothing was left to recover the time."
        )
    review = reviews.update_review(
        review,
        actor=rina,
        expected_version=review.version,
        summary=summary,
        learned="Small waits between parties add up; announce work early.",
    )
    reviews.add_factor(review, actor=rina, now=written_at, **factor)  # type: ignore[arg-type]
    owner_user = users[owner]
    item = reviews.add_action(
        review,
        actor=rina,
        description=action,
        owner=people[owner_user.full_name],
        due_on=written_at.astimezone(zone).date() + dt.timedelta(days=10),
        now=written_at + dt.timedelta(minutes=15),
    )
    done_at = min(add_working_minutes(cal, written_at, 2 * DAY), now)
    reviews.complete_action(
        item, actor=owner_user, expected_version=item.version, now=done_at
    )
    review.refresh_from_db()
    return reviews.complete_review(
        review,
        actor=rina,
        expected_version=review.version,
        now=done_at + dt.timedelta(minutes=30),
    )


def load_history(
    organisation: Organisation,
    version: ProcedureVersion,
    *,
    users: dict[str, User],
    people: dict[str, Person],
    parties: dict[str, Party],
    now: dt.datetime,
) -> History:
    """Generate and run the history (see the module's docstring); the bells it
    rang were read by their recipients within a few hours."""
    marker = (
        Notification.objects.filter(organisation=organisation)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    ) or 0
    runs: list[Run] = []
    late: list[Run] = []
    for plan in plans(organisation, now=now):
        run = _execute(organisation, version, plan, users=users, parties=parties)
        runs.append(run)
        if run.result == RunResult.MISSED:
            late.append(run)
            _write_review(
                organisation,
                plan,
                run,
                users=users,
                people=people,
                parties=parties,
                now=now,
            )
    unread = Notification.objects.filter(
        organisation=organisation, id__gt=marker, read_at__isnull=True
    ).select_related("recipient")
    for bell in unread:
        notifications.mark_read(
            bell,
            actor=bell.recipient,
            now=min(bell.created_at + dt.timedelta(hours=3), now),
        )
    return History(runs=runs, late=late)
