from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path

import pytest

from rantai.notifications import events

DOCS = Path(__file__).resolve().parents[3] / "docs" / "user-guide"
AT = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def test_every_catalogue_example_builds_a_valid_versioned_payload(acme):
    for event in events.CATALOGUE.values():
        payload = events.build(
            acme.organisation, event.name, event.example, occurred_at=AT
        )

        assert payload["type"] == event.name
        assert payload["version"] == event.version == 1
        assert payload["organisation"] == "acme"
        assert payload["occurred_at"] == "2026-03-02T08:00:00+00:00"
        assert uuid.UUID(payload["id"])
        assert payload["data"] == event.example
        events.validate_payload(payload)
        assert json.loads(json.dumps(payload)) == payload


def test_the_catalogue_names_urgent_and_routine_events():
    urgent = {name for name, event in events.CATALOGUE.items() if event.urgent}

    assert urgent == {
        "approval.stage_opened",
        "approval.reminded",
        "approval.escalated",
        "approval.overdue",
        "approval.nudged",
        "run.late",
        "task.assigned",
        "task.escalated",
        "consultation.requested",
        "obstacle.raised",
        "obstacle.escalated",
    }
    assert set(events.CATALOGUE) >= {
        "approval.requested",
        "approval.decided",
        "approval.completed",
        "task.ready",
        "run.completed",
        "task.completed",
        "consultation.answered",
        "briefing.issued",
        "briefing.reminder",
        "record.checked",
        "obstacle.resolved",
        "mitigation.assigned",
        "warning.raised",
        "review.opened",
        "review.action_assigned",
    }


def test_build_turns_datetimes_into_utc_iso_strings_and_keeps_the_given_id(acme):
    jakarta = dt.timezone(dt.timedelta(hours=7))
    event_id = uuid.uuid4()
    data = dict(events.CATALOGUE["run.late"].example)
    data["projected_finish_at"] = dt.datetime(2026, 3, 11, 10, 30, tzinfo=jakarta)

    payload = events.build(acme.organisation, "run.late", data, event_id=event_id)

    assert payload["id"] == str(event_id)
    assert payload["data"]["projected_finish_at"] == "2026-03-11T03:30:00+00:00"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("assignee"), "missing ['assignee']"),
        (lambda d: d.update(email="rina@example.test"), "unknown ['email']"),
        (lambda d: d["task"].update(id="1204"), "data.task.id is not a valid int"),
        (lambda d: d["task"].update(id=True), "data.task.id is not a valid int"),
        (lambda d: d.update(task=None), "data.task must not be null"),
        (lambda d: d["run"].update(due_at="tomorrow"), "data.run.due_at"),
        (lambda d: d["run"].update(due_at="2026-03-10T10:00:00"), "data.run.due_at"),
    ],
)
def test_build_refuses_data_that_does_not_match_the_documented_shape(
    acme, change, message
):
    data = json.loads(json.dumps(events.CATALOGUE["task.ready"].example))
    change(data)

    with pytest.raises(ValueError, match=re.escape(message)):
        events.build(acme.organisation, "task.ready", data)


def test_choices_and_lists_are_checked_inside(acme):
    data = json.loads(json.dumps(events.CATALOGUE["approval.escalated"].example))
    data["approvers"][0]["name"] = 5
    with pytest.raises(ValueError, match=re.escape("data.approvers[0].name")):
        events.build(acme.organisation, "approval.escalated", data)

    decided = json.loads(json.dumps(events.CATALOGUE["approval.decided"].example))
    decided["outcome"] = "maybe"
    with pytest.raises(ValueError, match=re.escape("data.outcome")):
        events.build(acme.organisation, "approval.decided", decided)


def test_unknown_event_types_are_a_programming_error(acme):
    with pytest.raises(
        ValueError, match=re.escape("unknown event type 'approval.guessed'")
    ):
        events.build(acme.organisation, "approval.guessed", {})
    assert not events.is_known("approval.guessed")
    assert not events.is_known(None)


def test_validate_payload_refuses_a_wrong_version_or_envelope(acme):
    payload = events.build(
        acme.organisation, "run.late", events.CATALOGUE["run.late"].example
    )
    with pytest.raises(ValueError, match="version 1"):
        events.validate_payload({**payload, "version": 2})
    with pytest.raises(ValueError, match="exactly the keys"):
        events.validate_payload({**payload, "extra": 1})
    with pytest.raises(ValueError):
        events.validate_payload({**payload, "id": "not-a-uuid"})


def _documented_payloads(page: Path) -> list[dict]:
    blocks = re.findall(
        r"```json\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S
    )
    return [json.loads(block) for block in blocks]


@pytest.mark.parametrize("page", ["webhooks.md", "webhook.id.md"])
def test_the_webhook_guide_documents_every_event_type_with_a_valid_example(page):
    documented = {
        p["type"]: p for p in _documented_payloads(DOCS / page) if "type" in p
    }

    assert set(documented) == set(events.CATALOGUE)
    for name, payload in documented.items():
        events.validate_payload(payload)
        assert payload["version"] == events.CATALOGUE[name].version
        assert payload["data"] == events.CATALOGUE[name].example
