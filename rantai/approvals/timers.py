"""One timer and escalation service for everything that can run late.

A `Timer` is a deadline of one subject (an approval stage now; tasks and obstacles
later) and what to do when it passes (remind, escalate, notify the owner). It is
written by `schedule` in the transaction that sets the deadline, so it exists
exactly when that change committed; the unique key (kind, subject, deadline,
action) makes scheduling the same thing twice a no-op.

Each kind of subject has a **rule**, registered once from `AppConfig.ready()`:
`rule(timer, now) -> str`. It runs inside the firing transaction with the timer row
locked, loads and locks its subject, decides whom to remind or escalate to, performs
the effect (notifications, e-mails through the outbox, a re-resolution) and returns
a short outcome text — or "" when the subject was settled in the meantime and
nothing happened.

`fire_due` is the worker's drain (`rantai worker`): it leases due pending timers
(`core.leases.claim`, `FOR UPDATE SKIP LOCKED` on PostgreSQL) and fires each in its
own transaction, re-checking under the row lock that it is still pending and still
leased to this worker. The timer's new state and the rule's effects commit
together, so a timer fires at most once, a killed worker's timers are taken over
when its lease expires, and a rule that fails rolls back its own timer only; it is
retried with backoff and given up after `MAX_ATTEMPTS`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rantai.approvals.models import TimeoutAction, Timer, TimerStatus
from rantai.core import leases

logger = logging.getLogger(__name__)

Rule = Callable[[Timer, dt.datetime], str]

# A rule that keeps failing is given up after this many attempts (marked fired with
# the outcome "failed: …"); the waits in between are leases.backoff's.
MAX_ATTEMPTS = 5

_KIND_LENGTH = 20
_OUTCOME_LENGTH = 300

_rules: dict[str, Rule] = {}
# Kinds with due timers but no rule, already logged by this process.
_unruled_logged: set[str] = set()


# --- the registry ---------------------------------------------------------------------


def register(kind: str, rule: Rule) -> Rule:
    """Make `rule` the one that fires timers of `kind` (from `AppConfig.ready()`)."""
    _check_kind(kind)
    _rules[kind] = rule
    return rule


def registered() -> dict[str, Rule]:
    return dict(_rules)


@contextmanager
def isolated_rules(rules: Mapping[str, Rule] | None = None) -> Iterator[None]:
    """Tests: run with exactly `rules` registered (none by default); the registry is
    restored afterwards."""
    saved = dict(_rules)
    saved_logged = set(_unruled_logged)
    _rules.clear()
    _unruled_logged.clear()
    try:
        for kind, rule in (rules or {}).items():
            register(kind, rule)
        yield
    finally:
        _rules.clear()
        _rules.update(saved)
        _unruled_logged.clear()
        _unruled_logged.update(saved_logged)


# --- scheduling -------------------------------------------------------------------------


def schedule(
    organisation_id: int,
    *,
    kind: str,
    subject_id: int,
    deadline: dt.datetime,
    action: str,
    fire_at: dt.datetime | None = None,
) -> Timer | None:
    """Schedule `action` for the subject's `deadline`, to fire at `fire_at` (the
    deadline unless told, e.g. a reminder before it); the new timer, or None when
    the same (kind, subject, deadline, action) was scheduled before — whether it is
    still pending, fired or cancelled.

    Call it in the transaction that sets the deadline. It never raises on a
    duplicate and never breaks that transaction: the insert runs in a savepoint and
    a concurrent duplicate is read back.
    """
    _check_kind(kind)
    if action not in TimeoutAction.values:
        raise ValueError(f"unknown timer action {action!r}")
    for name, moment in (("deadline", deadline), ("fire_at", fire_at)):
        if moment is not None and timezone.is_naive(moment):
            raise ValueError(f"{name} must be an aware datetime")
    timer, created = Timer.objects.get_or_create(
        kind=kind,
        subject_id=subject_id,
        deadline=deadline,
        action=action,
        defaults={
            "organisation_id": organisation_id,
            "fire_at": fire_at or deadline,
        },
    )
    return timer if created else None


def schedule_first(
    organisation_id: int,
    *,
    kind: str,
    subject_id: int,
    deadline: dt.datetime,
    action: str,
    fire_at: dt.datetime | None = None,
) -> None:
    """`schedule` for a subject that cannot have had this timer yet (a task ready
    for the first time): one INSERT that ignores a duplicate, no read, no savepoint
    — the engine's hottest path calls it."""
    _check_kind(kind)
    if action not in TimeoutAction.values:
        raise ValueError(f"unknown timer action {action!r}")
    for name, moment in (("deadline", deadline), ("fire_at", fire_at)):
        if moment is not None and timezone.is_naive(moment):
            raise ValueError(f"{name} must be an aware datetime")
    Timer.objects.bulk_create(
        [
            Timer(
                organisation_id=organisation_id,
                kind=kind,
                subject_id=subject_id,
                deadline=deadline,
                action=action,
                fire_at=fire_at or deadline,
            )
        ],
        ignore_conflicts=True,
    )


def cancel(kind: str, subject_id: int, *, now: dt.datetime | None = None) -> int:
    """Cancel the subject's pending timers (it was settled, or its deadline moved);
    the number cancelled. Call it in the transaction that settles the subject: a
    worker firing one of them at the same moment holds its row lock, so either the
    timer fires first (and the cancel leaves it alone) or it is cancelled first (and
    the worker finds it no longer pending)."""
    now = now or timezone.now()
    return Timer.objects.filter(
        kind=kind, subject_id=subject_id, status=TimerStatus.PENDING
    ).update(
        status=TimerStatus.CANCELLED,
        outcome=f"cancelled {now.isoformat(timespec='seconds')}",
        lease_owner="",
        lease_until=None,
    )


# --- firing ---------------------------------------------------------------------------


def fire_due(
    *,
    owner: str,
    now: dt.datetime | None = None,
    limit: int = 100,
    lease_seconds: int = 60,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Lease up to `limit` pending timers due by `now` to the worker `owner` and
    fire each in its own transaction; the number that stopped being pending (fired,
    or given up after `MAX_ATTEMPTS`). Timers of a kind without a rule stay pending
    (logged once per kind). `stop()`, asked before each timer, lets a worker that
    was told to stop hand back the rest of its batch at once."""
    moment = now or timezone.now()
    kinds = sorted(_rules)
    _log_unruled(moment, kinds)
    if not kinds:
        return 0
    ids = leases.claim(
        Timer,
        owner=owner,
        now=moment,
        limit=limit,
        lease_seconds=lease_seconds,
        due=Q(status=TimerStatus.PENDING, fire_at__lte=moment, kind__in=kinds),
    )
    done = 0
    for index, timer_id in enumerate(ids):
        if stop is not None and stop():
            leases.release(Timer, ids[index:], owner=owner)
            break
        # Each timer fires as of its own moment unless the caller fixed the clock.
        done += _fire(timer_id, owner=owner, now=now or timezone.now())
    return done


def _fire(timer_id: int, *, owner: str, now: dt.datetime) -> bool:
    """Fire one leased timer: True when it stopped being pending."""
    try:
        with transaction.atomic():
            timer = _locked(timer_id, owner=owner)
            if timer is None:
                return False  # fired, cancelled or taken over meanwhile
            rule = _rules.get(timer.kind)
            if rule is None:  # unregistered since it was claimed
                _log_unruled_kind(timer.kind)
                _save(timer, lease_owner="", lease_until=None)
                return False
            outcome = rule(timer, now)
            _save(
                timer,
                status=TimerStatus.FIRED,
                fired_at=now,
                outcome=outcome[:_OUTCOME_LENGTH],
                attempts=timer.attempts + 1,
                lease_owner="",
                lease_until=None,
            )
            return True
    except Exception as error:  # one bad timer must not stop the others
        logger.exception(
            "timer %s failed (worker %s); its rule's effects were rolled back",
            timer_id,
            owner,
        )
        return _record_failure(timer_id, owner=owner, now=now, error=error)


def _record_failure(
    timer_id: int, *, owner: str, now: dt.datetime, error: Exception
) -> bool:
    """Count a failed attempt in a transaction of its own: retry after a backoff,
    or give up after MAX_ATTEMPTS. True when given up."""
    with transaction.atomic():
        timer = _locked(timer_id, owner=owner)
        if timer is None:
            return False
        attempts = timer.attempts + 1
        text = f"failed: {type(error).__name__}: {error}"[:_OUTCOME_LENGTH]
        if attempts >= MAX_ATTEMPTS:
            logger.error(
                "timer %s (%s %s of %s:%s) given up after %s attempts",
                timer.pk,
                timer.action,
                timer.deadline.isoformat(),
                timer.kind,
                timer.subject_id,
                attempts,
            )
            _save(
                timer,
                status=TimerStatus.FIRED,
                fired_at=now,
                outcome=text,
                attempts=attempts,
                lease_owner="",
                lease_until=None,
            )
            return True
        _save(
            timer,
            fire_at=now + leases.backoff(attempts),
            outcome=text,
            attempts=attempts,
            lease_owner="",
            lease_until=None,
        )
        return False


def _locked(timer_id: int, *, owner: str) -> Timer | None:
    """The timer under its row lock if it is still pending and leased to `owner`."""
    return (
        Timer.objects.select_for_update()
        .filter(pk=timer_id, status=TimerStatus.PENDING, lease_owner=owner)
        .first()
    )


def _save(timer: Timer, **changes: object) -> None:
    for name, value in changes.items():
        setattr(timer, name, value)
    timer.save(update_fields=list(changes))


def _log_unruled(now: dt.datetime, kinds: list[str]) -> None:
    """Log each kind that has due timers but no rule, once per process."""
    skip = [*kinds, *_unruled_logged]
    while True:
        found = list(
            Timer.objects.filter(status=TimerStatus.PENDING, fire_at__lte=now)
            .exclude(kind__in=skip)
            .values_list("kind", flat=True)[:1]
        )
        if not found:
            return
        kind = found[0]
        _log_unruled_kind(kind)
        skip.append(kind)


def _log_unruled_kind(kind: str) -> None:
    if kind in _unruled_logged:
        return
    _unruled_logged.add(kind)
    logger.warning(
        "timers of kind %r are due but no rule is registered for that kind; "
        "they stay pending",
        kind,
    )


def _check_kind(kind: str) -> None:
    if not kind or len(kind) > _KIND_LENGTH:
        raise ValueError(f"a timer kind is 1 to {_KIND_LENGTH} characters: {kind!r}")
