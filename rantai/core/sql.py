"""Hand-written SQL for the hot paths (docs/architecture.md, "Hand-written SQL").

The ORM builds and compiles every query anew: on the engine's hot path that costs
ten to thirty times the database work. These helpers run plain statements through
Django's connection (same transaction, same execute wrappers, so query counting and
`atomic` behave as usual) and convert values the way the ORM does, so rows written
here read back through the ORM unchanged — the tests check that equivalence.

Identifiers come from the models' metadata, never from input; values are always
parameters.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connection, models
from django.db.models import DEFERRED
from django.utils.dateparse import parse_datetime

# Field types whose Python values go to the database unchanged.
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.ForeignKey,
    models.AutoField,
    models.BigAutoField,
)


def fetchall(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def fetchone(sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def execute(sql: str, params: Sequence[Any] = ()) -> int:
    """Run a statement; the number of rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def for_update(of: str | None = None) -> str:
    """` FOR UPDATE [OF table]` where the database has row locks (SQLite's writers
    queue on the database lock instead)."""
    if not connection.features.has_select_for_update:
        return ""
    return f" FOR UPDATE OF {of}" if of else " FOR UPDATE"


def placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def in_list(values: Sequence[Any]) -> str:
    """`(%s, %s, ...)` for an IN clause over a non-empty sequence."""
    if not values:
        raise ValueError("an IN list needs at least one value")
    return f"({placeholders(len(values))})"


def quoted(values: Iterable[str]) -> str:
    """A literal IN list of trusted constants (enum values), e.g. `('a', 'b')`."""
    items = sorted(values)
    for value in items:
        if not value.replace("_", "").isalnum():
            raise ValueError(f"not a plain constant: {value!r}")
    return "(" + ", ".join(f"'{value}'" for value in items) + ")"


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# --- values to and from the database ---------------------------------------------


def db_datetime(value: dt.datetime | None) -> Any:
    """An aware datetime as the ORM stores it (SQLite: UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def py_datetime(value: Any) -> dt.datetime | None:
    """A datetime read by hand-written SQL, aware (SQLite hands back naive UTC or,
    from an expression, text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
        if value is None:
            raise ValueError("not a datetime")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value  # type: ignore[no-any-return]


def py_json(value: Any) -> Any:
    """A JSON column read by hand-written SQL (both backends hand back text)."""
    return json.loads(value) if isinstance(value, str) else value


def py_decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


@cache
def _columns(model: type[models.Model]) -> dict[str, tuple[models.Field, str, bool]]:
    """Attribute name → (field, quoted column, needs preparing) for the concrete
    fields."""
    quote = connection.ops.quote_name
    columns = {}
    for field in model._meta.concrete_fields:
        plain = isinstance(field, _PLAIN_FIELDS) and not isinstance(
            field, models.JSONField
        )
        columns[field.attname] = (field, quote(str(field.column)), not plain)
    return columns


def _prepared(field: models.Field, needs_preparing: bool, value: Any) -> Any:
    if value is None or not needs_preparing:
        return value
    return field.get_db_prep_save(value, connection)


def set_clause(
    model: type[models.Model], values: Mapping[str, Any]
) -> tuple[str, list[Any]]:
    """`col = %s, ...` and its parameters for {attribute name: value}."""
    columns = _columns(model)
    parts, params = [], []
    for name, value in values.items():
        field, column, needs_preparing = columns[name]
        parts.append(f"{column} = %s")
        params.append(_prepared(field, needs_preparing, value))
    return ", ".join(parts), params


# Parameters one statement may carry: SQLite's limit since 3.32 (PostgreSQL's is
# 65,535); `insert` splits larger writes.
MAX_PARAMETERS = 32_766


def insert(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: str | None = None,
) -> list[Any]:
    """INSERT the rows (attribute name → value; every other field gets its default)
    in one statement — or, past the database's limit of parameters per statement,
    in as few as fit; the `returning` column (the primary key unless told) of each
    row, in order."""
    if not rows:
        return []
    columns = [
        (name, field, column, needs_preparing)
        for name, (field, column, needs_preparing) in _columns(model).items()
        if not field.primary_key or name in rows[0]
    ]
    one_row = f"({placeholders(len(columns))})"
    key = returning or str(model._meta.pk.column)  # type: ignore[union-attr]
    head = f"INSERT INTO {table(model)} ({', '.join(c[2] for c in columns)}) VALUES "
    tail = f" RETURNING {connection.ops.quote_name(key)}"
    per_statement = max(1, MAX_PARAMETERS // len(columns))
    returned: list[Any] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            params: list[Any] = []
            for row in batch:
                for name, field, _column, needs_preparing in columns:
                    value = row[name] if name in row else field.get_default()
                    params.append(_prepared(field, needs_preparing, value))
            cursor.execute(head + ", ".join([one_row] * len(batch)) + tail, params)
            returned.extend(row[0] for row in cursor.fetchall())
    return returned


def instance[M: models.Model](model: type[M], values: Mapping[str, Any]) -> M:
    """A model instance from values read by hand-written SQL (attribute names),
    as `Model.from_db` makes one: fields not given are deferred — reading one loads
    it from the database, it is never a default."""
    obj = model(
        *[values.get(field.attname, DEFERRED) for field in model._meta.concrete_fields]
    )
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj
