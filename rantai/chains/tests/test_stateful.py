"""A Hypothesis state machine drives random legal and illegal actions, by random
people, on runs of random small procedures (parallel branches, joins,
start-to-start links, conditional steps, partner steps, a guard that sometimes
says no) and checks the engine's invariants after every step:

* only legal transitions happen; a refused action changes nothing;
* a pending or ready task is ready exactly when its dependencies are satisfied;
* completed and cancelled runs never change again;
* a run completes exactly once, when every task is final;
* every transition writes exactly one audit event (a completion one more);
* the audit chain verifies.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains import extensions, services
from rantai.chains.extensions import GuardResult
from rantai.chains.models import (
    FINAL_RUN_STATUSES,
    FINAL_TASK_STATUSES,
    FINISHED_STATUSES,
    STARTED_STATUSES,
    DependencyKind,
    FieldType,
    Run,
    RunStatus,
    Task,
    TaskDependency,
    TaskStatus,
)
from rantai.chains.tests.helpers import T0, StepSpec, build_version
from rantai.core.errors import DomainError

LEGAL_TASK_MOVES = {
    "start": {(TaskStatus.READY, TaskStatus.IN_PROGRESS)},
    "complete": {
        (TaskStatus.READY, TaskStatus.DONE),
        (TaskStatus.READY, TaskStatus.AWAITING),
        (TaskStatus.IN_PROGRESS, TaskStatus.DONE),
        (TaskStatus.IN_PROGRESS, TaskStatus.AWAITING),
    },
    "recheck": {
        (TaskStatus.AWAITING, TaskStatus.DONE),
        (TaskStatus.AWAITING, TaskStatus.AWAITING),
    },
    "reopen": {
        (TaskStatus.DONE, TaskStatus.READY),
        (TaskStatus.DONE, TaskStatus.PENDING),
    },
    "claim": {
        (TaskStatus.PENDING, TaskStatus.PENDING),
        (TaskStatus.READY, TaskStatus.READY),
    },
}
LEGAL_RUN_MOVES = {
    "suspend": {(RunStatus.ACTIVE, RunStatus.SUSPENDED)},
    "resume": {(RunStatus.SUSPENDED, RunStatus.ACTIVE)},
    "cancel": {
        (RunStatus.ACTIVE, RunStatus.CANCELLED),
        (RunStatus.SUSPENDED, RunStatus.CANCELLED),
    },
}


@st.composite
def procedures(draw):  # type: ignore[no-untyped-def]
    """(steps: [(owner, conditional)], links: [(pred, succ, kind)])."""
    count = draw(st.integers(min_value=1, max_value=6))
    steps = [
        (
            draw(st.sampled_from(["warehouse", "staff", "partner"])),
            draw(st.booleans()) and draw(st.booleans()),  # about a quarter
        )
        for _ in range(count)
    ]
    links = []
    for successor in range(count):
        for predecessor in range(successor):
            if draw(st.integers(0, 2)) == 0:
                kind = draw(
                    st.sampled_from(
                        [DependencyKind.FINISH_TO_START, DependencyKind.START_TO_START]
                    )
                )
                links.append((predecessor, successor, kind))
    return steps, links


class EngineMachine(RuleBasedStateMachine):
    crew = None  # set by the test
    counter = 0

    def __init__(self) -> None:
        super().__init__()
        self.clock = T0
        self.blocked: set[str] = set()
        self.final_status: str | None = None
        self.run: Run | None = None

    # -- set-up -------------------------------------------------------------

    @initialize(shape=procedures(), flag=st.booleans())
    def build(self, shape, flag):  # type: ignore[no-untyped-def]
        crew = self.crew
        o = crew.o
        EngineMachine.counter += 1
        owners = {
            "warehouse": crew.warehouse_head,
            "staff": o.export_staff,
            "partner": o.forwarder,
        }
        steps, links = shape
        specs = []
        for index, (owner, conditional) in enumerate(steps):
            specs.append(
                StepSpec(
                    f"s{index}",
                    owners[owner],
                    o.export_head,
                    days="0.5",
                    after=[
                        f"s{p}"
                        for p, s, k in links
                        if s == index and k == "finish_to_start"
                    ],
                    start_with=[
                        f"s{p}"
                        for p, s, k in links
                        if s == index and k == "start_to_start"
                    ],
                    condition=("flag", "is_true", None) if conditional else None,
                )
            )
        version = build_version(
            o,
            specs,
            code=f"P{EngineMachine.counter}",
            fields=[{"key": "flag", "label": "Flag", "field_type": FieldType.BOOLEAN}],
        )
        self.users = [crew.wawan, crew.dina, o.partner, o.member, o.admin, crew.dewi]
        self.run = services.start_run(
            version,
            actor=o.member,
            title="Random run",
            measure_quantity=1,
            measure_unit="lot",
            due_at=T0 + dt.timedelta(days=3),
            field_values={"flag": flag},
            now=self.clock,
        )
        self.task_ids = list(
            Task.objects.filter(run=self.run)
            .order_by("id")
            .values_list("pk", flat=True)
        )

    # -- helpers ------------------------------------------------------------

    def tick(self) -> dt.datetime:
        self.clock += dt.timedelta(minutes=37)
        return self.clock

    def snapshot(self) -> tuple:
        assert self.run is not None
        self.run.organisation.refresh_from_db(fields=["audit_sequence"])
        return (
            self.run.organisation.audit_sequence,
            tuple(
                Run.objects.filter(pk=self.run.pk).values_list(
                    "status", "version", "completed_at"
                )
            ),
            tuple(
                Task.objects.filter(run=self.run)
                .order_by("id")
                .values_list(
                    "status",
                    "version",
                    "assignee_id",
                    "flagged_after_reopen",
                    "awaiting_reasons",
                )
            ),
        )

    def events_since(self, sequence: int) -> list[str]:
        assert self.run is not None
        return list(
            AuditEvent.objects.filter(
                organisation=self.run.organisation, sequence__gt=sequence
            )
            .order_by("sequence")
            .values_list("verb", flat=True)
        )

    def attempt(self, call) -> list[str] | None:  # type: ignore[no-untyped-def]
        """The audit verbs the action wrote, or None when it was refused (and
        then nothing at all changed)."""
        before = self.snapshot()
        try:
            call()
        except DomainError:
            assert self.snapshot() == before, "a refused action changed something"
            return None
        verbs = self.events_since(before[0])
        assert verbs.count(AuditVerb.COMPLETED) <= 1
        return verbs

    # -- rules --------------------------------------------------------------

    def right_person(self, task: Task):  # type: ignore[no-untyped-def]
        """Someone allowed to act on the task (most actions are by them)."""
        crew = self.crew
        if task.responsible_party_id is not None:
            return crew.o.partner
        if task.responsible_position_id == crew.warehouse_head.pk:
            return crew.wawan
        if task.assignee_id in (None, crew.dina_person.pk):
            return crew.dina
        return crew.o.member  # Rina, accountable for every step

    @rule(
        index=st.integers(0, 5),
        action=st.sampled_from(["start", "complete", "recheck", "reopen", "claim"]),
        who=st.sampled_from([-1, -1, -1, 0, 1, 2, 3, 4, 5]),
    )
    def act_on_task(self, index, action, who):  # type: ignore[no-untyped-def]
        assert self.run is not None
        task = Task.objects.get(pk=self.task_ids[index % len(self.task_ids)])
        run_status = Run.objects.get(pk=self.run.pk).status
        user = self.right_person(task) if who < 0 else self.users[who]
        now = self.tick()
        before_status, before_reasons = task.status, list(task.awaiting_reasons)
        before_assignee = task.assignee_id
        call = {
            "start": lambda: services.start_task(
                task, actor=user, expected_version=task.version, now=now
            ),
            "complete": lambda: services.complete_task(
                task, actor=user, expected_version=task.version, now=now
            ),
            "recheck": lambda: services.recheck_task(
                task, actor=user, expected_version=task.version, now=now
            ),
            "reopen": lambda: services.reopen_task(
                task, actor=user, expected_version=task.version, reason="Redo", now=now
            ),
            "claim": lambda: services.claim_task(
                task, actor=user, expected_version=task.version, now=now
            ),
        }[action]
        verbs = self.attempt(call)
        sources = {source for source, _target in LEGAL_TASK_MOVES[action]}
        if before_status not in sources or run_status != RunStatus.ACTIVE:
            assert verbs is None, (action, before_status, run_status)
        if verbs is None:
            return
        after = Task.objects.get(pk=task.pk)
        assert (before_status, after.status) in LEGAL_TASK_MOVES[action], (
            action,
            before_status,
            after.status,
        )
        if action == "claim":
            assert before_assignee is None and after.assignee_id is not None
            transitions = 1
        else:
            unchanged = (
                after.status == before_status
                and after.awaiting_reasons == before_reasons
            )
            transitions = 0 if unchanged else 1
        assert len(verbs) == transitions + verbs.count(AuditVerb.COMPLETED), verbs

    @rule(
        action=st.sampled_from(["suspend", "resume", "cancel"]), who=st.integers(0, 5)
    )
    def act_on_run(self, action, who):  # type: ignore[no-untyped-def]
        assert self.run is not None
        run = Run.objects.get(pk=self.run.pk)
        user = self.users[who]
        now = self.tick()
        call = {
            "suspend": lambda: services.suspend_run(
                run, actor=user, expected_version=run.version, reason="Hold", now=now
            ),
            "resume": lambda: services.resume_run(
                run, actor=user, expected_version=run.version, now=now
            ),
            "cancel": lambda: services.cancel_run(
                run, actor=user, expected_version=run.version, reason="Stop", now=now
            ),
        }[action]
        before = run.status
        verbs = self.attempt(call)
        sources = {source for source, _target in LEGAL_RUN_MOVES[action]}
        if before not in sources:
            assert verbs is None, (action, before)
        if verbs is not None:
            after = Run.objects.get(pk=run.pk).status
            assert (before, after) in LEGAL_RUN_MOVES[action]
            assert len(verbs) == 1, verbs

    @rule(index=st.integers(0, 5))
    def toggle_guard(self, index):  # type: ignore[no-untyped-def]
        key = f"s{index}"
        self.blocked ^= {key}

    def guard(self, task: Task) -> GuardResult:
        if task.key in self.blocked:
            return GuardResult(False, f"{task.key} is blocked")
        return GuardResult(True)

    # -- invariants ---------------------------------------------------------

    @invariant()
    def ready_exactly_when_dependencies_are_satisfied(self) -> None:
        if self.run is None:
            return
        tasks = {
            t.pk: t
            for t in Task.objects.filter(run=self.run).only(
                "id", "status", "skipped_reason"
            )
        }
        satisfied = dict.fromkeys(tasks, True)
        for link in TaskDependency.objects.filter(run=self.run):
            status = tasks[link.predecessor_id].status
            ok = (
                status in STARTED_STATUSES
                if link.kind == DependencyKind.START_TO_START
                else status in FINISHED_STATUSES
            )
            satisfied[link.successor_id] = satisfied[link.successor_id] and ok
        run = Run.objects.get(pk=self.run.pk)
        for task in tasks.values():
            if task.status == TaskStatus.READY:
                assert satisfied[task.pk] and not task.skipped_reason
            if task.status == TaskStatus.PENDING and run.status != RunStatus.CANCELLED:
                assert not satisfied[task.pk]
            if task.status == TaskStatus.SKIPPED:
                assert task.skipped_reason
                # Cancelling a run cancels started predecessors after the fact; a
                # step skipped before that was skipped when its dependencies held.
                if run.status != RunStatus.CANCELLED:
                    assert satisfied[task.pk]

    @invariant()
    def runs_complete_once_and_final_states_stay(self) -> None:
        if self.run is None:
            return
        run = Run.objects.get(pk=self.run.pk)
        if self.final_status is not None:
            assert run.status == self.final_status
        if run.status in FINAL_RUN_STATUSES:
            self.final_status = run.status
        statuses = set(Task.objects.filter(run=run).values_list("status", flat=True))
        completions = AuditEvent.objects.filter(
            organisation=run.organisation,
            verb=AuditVerb.COMPLETED,
            target_type="chains.run",
            target_id=str(run.pk),
        ).count()
        if run.status == RunStatus.COMPLETED:
            assert statuses <= FINAL_TASK_STATUSES and completions == 1
            assert run.result in ("met", "missed")
        else:
            assert completions == 0 and run.result == ""
        if run.status == RunStatus.ACTIVE:
            assert not statuses <= FINAL_TASK_STATUSES

    def teardown(self) -> None:
        if self.run is not None:
            assert audit.verify(self.run.organisation).ok


def test_the_engine_keeps_its_invariants_under_random_actions(crew, clean_registry):
    EngineMachine.crew = crew
    machine_holder: dict[str, EngineMachine] = {}

    class Machine(EngineMachine):
        def __init__(self) -> None:
            super().__init__()
            machine_holder["current"] = self

    extensions.register_completion_guard(
        lambda task: machine_holder["current"].guard(task)
    )
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.mark.parametrize("flag", [True, False])
def test_the_machine_model_matches_the_services_on_a_fixed_script(crew, flag):
    """A deterministic walk through the same machine (so a failure reproduces)."""
    EngineMachine.crew = crew
    machine = EngineMachine()
    machine.build(
        (
            [("warehouse", False), ("staff", True), ("partner", False)],
            [(0, 1, "finish_to_start"), (1, 2, "finish_to_start")],
        ),
        flag,
    )
    machine.act_on_task(0, "complete", 0)
    machine.act_on_task(1, "complete", 1)
    machine.act_on_task(2, "complete", 2)
    machine.ready_exactly_when_dependencies_are_satisfied()
    machine.runs_complete_once_and_final_states_stay()
    run = Run.objects.get(pk=machine.run.pk)
    assert run.status == RunStatus.COMPLETED
    machine.teardown()


def test_cancelling_a_run_keeps_a_step_skipped_after_a_started_predecessor(crew):
    """Found by the state machine: a conditional step skipped once its start-to-start
    predecessor started stays skipped when the run is cancelled (which cancels that
    predecessor), and the invariants still hold."""
    EngineMachine.crew = crew
    machine = EngineMachine()
    machine.build(
        (
            [
                ("warehouse", False),
                ("warehouse", False),
                ("warehouse", True),
                ("warehouse", False),
            ],
            [
                (0, 2, DependencyKind.START_TO_START),
                (0, 3, DependencyKind.FINISH_TO_START),
                (1, 3, DependencyKind.FINISH_TO_START),
            ],
        ),
        False,
    )
    machine.act_on_task(0, "start", -1)
    machine.act_on_run("cancel", 3)
    machine.ready_exactly_when_dependencies_are_satisfied()
    machine.runs_complete_once_and_final_states_stay()
    statuses = {
        t.key: t.status for t in Task.objects.filter(run=machine.run).order_by("key")
    }
    assert statuses == {
        "s0": TaskStatus.CANCELLED,
        "s1": TaskStatus.CANCELLED,
        "s2": TaskStatus.SKIPPED,
        "s3": TaskStatus.CANCELLED,
    }
    machine.teardown()
