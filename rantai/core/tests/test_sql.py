"""`sql.insert`: one statement per batch that fits the parameter limit, the
returned keys in the rows' order."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.core import sql
from rantai.core.models import OutboxMessage


def rows(count: int) -> list[dict[str, object]]:
    return [
        {
            "channel": "email",
            "recipient": f"r{index}@example.test",
            "subject": f"s{index}",
            "body": "b",
        }
        for index in range(count)
    ]


@pytest.mark.django_db
def test_rows_past_the_parameter_limit_are_inserted_in_batches(monkeypatch):
    # OutboxMessage has 13 columns besides its key: 3 rows fit 45 parameters.
    monkeypatch.setattr(sql, "MAX_PARAMETERS", 45)

    with CaptureQueriesContext(connection) as statements:
        keys = sql.insert(OutboxMessage, rows(7))

    inserts = [q for q in statements.captured_queries if "INSERT" in q["sql"]]
    assert len(inserts) == 3  # 3 + 3 + 1
    assert len(keys) == 7 == len(set(keys))
    stored = dict(OutboxMessage.objects.values_list("pk", "recipient"))
    assert [stored[key] for key in keys] == [f"r{i}@example.test" for i in range(7)]


@pytest.mark.django_db
def test_rows_within_the_limit_are_one_statement():
    with CaptureQueriesContext(connection) as statements:
        keys = sql.insert(OutboxMessage, rows(50))

    assert len([q for q in statements.captured_queries if "INSERT" in q["sql"]]) == 1
    assert len(keys) == 50
    assert sql.insert(OutboxMessage, []) == []
