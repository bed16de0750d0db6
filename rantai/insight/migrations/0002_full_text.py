"""The database's own full-text index over insight_searchdocument.

PostgreSQL: a stored tsvector column (title weighted A, subtitle B, body C, in the
`simple` configuration for prefixes and names, plus `indonesian` and `english`
stems) with a GIN index. SQLite: an external-content FTS5 table with the usual three
triggers, so every INSERT, UPDATE and DELETE of a document updates the index in the
same transaction.
"""

from django.db import migrations

POSTGRES_FORWARD = [
    """
    ALTER TABLE insight_searchdocument ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, coalesce(subtitle, '')), 'B')
        || setweight(to_tsvector('simple'::regconfig, coalesce(body, '')), 'C')
        || setweight(to_tsvector('indonesian'::regconfig,
               coalesce(title, '') || ' ' || coalesce(body, '')), 'D')
        || setweight(to_tsvector('english'::regconfig,
               coalesce(title, '') || ' ' || coalesce(body, '')), 'D')
    ) STORED
    """,
    "CREATE INDEX insight_search_vector_gin ON insight_searchdocument "
    "USING gin (search_vector)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS insight_search_vector_gin",
    "ALTER TABLE insight_searchdocument DROP COLUMN IF EXISTS search_vector",
]

SQLITE_FORWARD = [
    """
    CREATE VIRTUAL TABLE insight_search_fts USING fts5(
        title, subtitle, body,
        content='insight_searchdocument', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2',
        prefix='2 3'
    )
    """,
    """
    CREATE TRIGGER insight_search_fts_insert AFTER INSERT ON insight_searchdocument
    BEGIN
        INSERT INTO insight_search_fts(rowid, title, subtitle, body)
        VALUES (new.id, new.title, new.subtitle, new.body);
    END
    """,
    """
    CREATE TRIGGER insight_search_fts_delete AFTER DELETE ON insight_searchdocument
    BEGIN
        INSERT INTO insight_search_fts(insight_search_fts, rowid, title, subtitle, body)
        VALUES ('delete', old.id, old.title, old.subtitle, old.body);
    END
    """,
    """
    CREATE TRIGGER insight_search_fts_update AFTER UPDATE ON insight_searchdocument
    BEGIN
        INSERT INTO insight_search_fts(insight_search_fts, rowid, title, subtitle, body)
        VALUES ('delete', old.id, old.title, old.subtitle, old.body);
        INSERT INTO insight_search_fts(rowid, title, subtitle, body)
        VALUES (new.id, new.title, new.subtitle, new.body);
    END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS insight_search_fts_update",
    "DROP TRIGGER IF EXISTS insight_search_fts_delete",
    "DROP TRIGGER IF EXISTS insight_search_fts_insert",
    "DROP TABLE IF EXISTS insight_search_fts",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("insight", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
