"""One INSERT for many rows that skips the ones a unique constraint already holds,
and says which rows it wrote.

Django's `bulk_create(ignore_conflicts=True)` cannot tell which rows were new, and
the effects that follow a notification (its e-mail) must happen for new rows only.
`INSERT ... ON CONFLICT (...) DO NOTHING RETURNING ...` does exactly that on
PostgreSQL and SQLite alike, inside the caller's transaction: a conflicting row is
skipped without aborting the transaction, and a concurrent insert of the same key
waits for the other transaction and is then skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, models

# Rows per statement: well below SQLite's limit of bound parameters.
CHUNK = 500


def insert_ignoring_conflicts(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    unique: Sequence[str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """INSERT the rows (attribute name → value; other fields get their defaults),
    skipping rows that clash on the `unique` columns; the `returning` attributes of
    the rows written (in no particular order)."""
    if not rows:
        return []
    quote = connection.ops.quote_name
    fields = [
        f
        for f in model._meta.concrete_fields
        if not f.primary_key or f.attname in rows[0]
    ]
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    columns = ", ".join(quote(str(f.column)) for f in fields)
    conflict = ", ".join(quote(str(by_attname[name].column)) for name in unique)
    returned = ", ".join(quote(str(by_attname[name].column)) for name in returning)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    written: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        params: list[Any] = []
        for row in chunk:
            for f in fields:
                value = row[f.attname] if f.attname in row else f.get_default()
                params.append(
                    None if value is None else f.get_db_prep_save(value, connection)
                )
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608 - identifiers from model metadata
            f"VALUES {', '.join([one_row] * len(chunk))} "
            f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {returned}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            written.extend(tuple(row) for row in cursor.fetchall())
    return written
