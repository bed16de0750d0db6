"""Searching the organisation: one box for runs, procedures, steps, people,
positions, parties, information records, obstacles, reviews and targets.

The text is never interpolated into SQL: words (runs of Unicode letters and digits)
are extracted, and each is passed as a parameter. Every word must match (AND), as a
prefix or, on PostgreSQL, also as an Indonesian or English stem:

* PostgreSQL: the stored `search_vector` (migration 0002) against a `tsquery` built
  from quoted lexemes, `'word':*` in `simple` OR the `indonesian` stem OR the
  `english` stem per word; ranked by `ts_rank` (title weighted highest), then by
  recency.
* SQLite: the FTS5 table, each word as the prefix phrase `"word"*`; ranked by
  `bm25` with the title weighted highest, then by recency.

Who sees what is decided here, at query time, by the owning apps' visibility rules
(never stored in the index): whole-organisation users see the organisation's
documents; a partner sees, per kind, only documents whose object is in that app's
visible queryset for the partner. Totals, counts per kind and snippets are computed
over visible documents only.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from rantai.accounts.access import Access
from rantai.chains import queries as chains_queries
from rantai.chains.models import Step, VersionStatus
from rantai.core.errors import ValidationFailed
from rantai.evidence import queries as evidence_queries
from rantai.insight import queries as insight_queries
from rantai.insight.models import SearchDocument, SearchKind
from rantai.obstacles import queries as obstacles_queries
from rantai.org import queries as org_queries

__all__ = ["SearchHit", "SearchResults", "search", "words_of"]

MAX_TEXT = 200
MAX_WORDS = 8
MAX_LIMIT = 100
# Matches counted and ranked at most: a word in most documents of a large
# organisation would otherwise cost a pass over all of them.
MAX_COUNTED = 1000
SNIPPET_CHARS = 180
SNIPPET_LEAD = 50

# bm25 weights of the FTS5 columns (title, subtitle, body).
_BM25_WEIGHTS = (10.0, 4.0, 1.0)


@dataclass(frozen=True)
class SearchHit:
    kind: str
    object_id: int
    parent_id: int | None
    title: str
    subtitle: str
    snippet: SafeString  # escaped text, the matched words in <mark>…</mark>
    rank: float


@dataclass(frozen=True)
class SearchResults:
    query: str
    hits: tuple[SearchHit, ...]
    total: int
    counts: dict[str, int]  # per kind, over the visible documents only
    limit: int
    offset: int
    # False when more than `MAX_COUNTED` documents matched: `total` and `counts`
    # are then lower bounds (show "1,000+"), and the hits are the best of the
    # first `MAX_COUNTED` matches found (a common word: add a word to narrow).
    exact: bool = True


# --- words ----------------------------------------------------------------------------


def _word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN"


def _tokens(text: str) -> list[tuple[int, int]]:
    """(start, end) of every word in `text`: a letter or digit, then letters, digits
    and combining marks (so decomposed accents stay inside their word)."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for index, char in enumerate(text):
        category = unicodedata.category(char)[0]
        if category in "LN" or (category == "M" and start is not None):
            if start is None:
                start = index
        elif start is not None:
            spans.append((start, index))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def words_of(text: str) -> list[str]:
    """The distinct words of a query, lower-cased, in order, at most `MAX_WORDS`
    (letters and digits only: quotes, operators and control characters separate
    words and never reach the database)."""
    normal = unicodedata.normalize("NFC", text)
    words: list[str] = []
    for start, end in _tokens(normal):
        word = normal[start:end].casefold()
        if word not in words:
            words.append(word)
        if len(words) == MAX_WORDS:
            break
    return words


def _plain(text: str) -> str:
    """Case and accents folded, for comparing a word of a text with a query word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_SUFFIXES = ("ments", "ment", "ings", "ing", "nya", "kan", "ies", "ed", "es", "an", "s")


def _root(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _matches(token: str, words: Sequence[str]) -> bool:
    """Whether a word of a text is one the query found: it starts with a query word,
    or both share a root once a common English or Indonesian ending is removed (the
    database's stemmers find more; the mark is a help to the eye, not the match)."""
    for word in words:
        if token.startswith(word):
            return True
        root = _root(word)
        if len(root) >= 4 and _root(token) == root:
            return True
    return False


def highlight(text: str, words: Sequence[str], *, size: int = SNIPPET_CHARS) -> str:
    """A window of `text` around its first matched word, escaped, with the matched
    words in <mark>…</mark> (at most `size` characters of text)."""
    plain_words = [_plain(word) for word in words]
    spans = _tokens(text)
    marked = [
        (start, end)
        for start, end in spans
        if _matches(_plain(text[start:end]), plain_words)
    ]
    begin = 0
    if marked and marked[0][1] > size:
        first = marked[0][0]
        begin = max(0, first - SNIPPET_LEAD)
        # Start on a word's beginning.
        for start, _end in spans:
            if start >= begin:
                begin = start
                break
    finish = min(len(text), begin + size)
    if finish < len(text):
        # End after a whole word.
        for start, end in spans:
            if start < finish < end:
                finish = start
                break
    pieces: list[str] = ["…"] if begin > 0 else []
    cursor = begin
    for start, end in marked:
        if start < begin or end > finish:
            continue
        pieces.append(escape(text[cursor:start]))
        pieces.append(f"<mark>{escape(text[start:end])}</mark>")
        cursor = end
    pieces.append(escape(text[cursor:finish]))
    if finish < len(text):
        pieces.append("…")
    return "".join(pieces)


def _snippet(body: str, subtitle: str, title: str, words: Sequence[str]) -> SafeString:
    source = body or subtitle or ""
    return mark_safe(highlight(" ".join(source.split()), words))


# --- validation ---------------------------------------------------------------------


def _validate(
    text: str, kinds: Sequence[str] | None, limit: int, offset: int
) -> list[str]:
    errors: dict[str, list[str]] = {}
    if not isinstance(text, str):
        errors["q"] = [_("The search text must be text.")]
    elif len(text) > MAX_TEXT:
        errors["q"] = [
            _("Search for at most %(count)d characters.") % {"count": MAX_TEXT}
        ]
    chosen: list[str] = []
    for kind in kinds or ():
        if kind not in SearchKind.values:
            errors.setdefault("kind", []).append(
                _("“%(kind)s” is not a kind of result; choose from %(kinds)s.")
                % {"kind": str(kind)[:30], "kinds": ", ".join(SearchKind.values)}
            )
        elif kind not in chosen:
            chosen.append(kind)
    if isinstance(limit, bool) or not isinstance(limit, int):
        errors["limit"] = [_("The number of results must be a whole number.")]
    elif not 1 <= limit <= MAX_LIMIT:
        errors["limit"] = [
            _("Ask for between 1 and %(max)d results.") % {"max": MAX_LIMIT}
        ]
    if isinstance(offset, bool) or not isinstance(offset, int):
        errors["offset"] = [_("The offset must be a whole number.")]
    elif offset < 0:
        errors["offset"] = [_("The offset cannot be negative.")]
    if errors:
        raise ValidationFailed(errors)
    return chosen


# --- visibility ---------------------------------------------------------------------


def _partner_visible(access: Access) -> dict[str, Any]:
    """A partner's visible objects, kind by kind (primary-key querysets), by the
    owning apps' rules."""
    party_id = access.partner_party_id
    procedures = chains_queries.procedures(access).values("pk")
    # A partner sees the steps its party does, in the published version (as on
    # the procedure's page), of the procedures it sees.
    steps = Step.objects.filter(
        procedure_version__procedure__in=procedures,
        procedure_version__status=VersionStatus.PUBLISHED,
        roles__party_id=party_id,
    ).values("pk")
    return {
        SearchKind.RUN: chains_queries.runs(access).values("pk"),
        SearchKind.PROCEDURE: procedures,
        SearchKind.STEP: steps,
        SearchKind.PERSON: org_queries.people(access).values("pk"),
        SearchKind.POSITION: org_queries.positions(access).values("pk"),
        SearchKind.PARTY: org_queries.parties(access).values("pk"),
        SearchKind.RECORD: evidence_queries.visible_records(access).values("pk"),
        SearchKind.OBSTACLE: obstacles_queries.visible_obstacles(access).values("pk"),
        # Reviews: none (a partner sees only parts of a review).
        SearchKind.TARGET: insight_queries.targets(access).values("pk"),
    }


def _where_sql(condition: Q) -> tuple[str, list[Any]]:
    """`condition` over the (unaliased) document table, as SQL compiled by the ORM."""
    query = SearchDocument.objects.filter(condition).query
    compiler = query.get_compiler(connection=connection)
    sql, params = compiler.compile(query.where)
    return sql, list(params)


def _visibility_sql(access: Access) -> list[tuple[str, list[Any]]]:
    """What the caller may see: WHERE conditions over the unaliased document table,
    compiled by the ORM from the apps' querysets; a document is visible when it
    meets any of them (none: nothing).

    Whole-organisation users: one condition, the organisation. Partners: one per
    kind (kind, organisation and `object_id IN (<visible objects>)`), so that each
    is matched on its own and the database can start from the few visible objects
    of a kind (the unique (kind, object_id) index) instead of checking every
    document matching a common word."""
    organisation = Q(organisation_id=access.organisation.pk)
    if access.sees_whole_organisation:
        # "+ 0": the organisation is checked on the matched rows, never through
        # its own index (which PostgreSQL would otherwise AND with the text index:
        # a bitmap of every document of a large organisation, costing more than
        # the whole search; measured on 1,000,000 documents).
        return [(f"{_column('organisation_id')} + 0 = %s", [access.organisation.pk])]
    if access.partner_party_id is None:
        return []  # a partner without a party (the services never make one)
    return [
        _where_sql(organisation & Q(kind=kind, object_id__in=pks))
        for kind, pks in _partner_visible(access).items()
    ]


# --- matching, per database -----------------------------------------------------------

_TABLE = SearchDocument._meta.db_table
_COLUMNS = ("id", "kind", "object_id", "parent_id", "title", "subtitle", "body")


def _column(name: str) -> str:
    quote = connection.ops.quote_name
    return f"{quote(_TABLE)}.{quote(name)}"


def _postgres_query(words: Sequence[str]) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    for word in words:
        parts.append(
            "(to_tsquery('simple'::regconfig, %s)"
            " || plainto_tsquery('indonesian'::regconfig, %s)"
            " || plainto_tsquery('english'::regconfig, %s))"
        )
        quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "':*"
        params.extend([quoted, word, word])
    return "(" + " && ".join(parts) + ")", params


def _fts_query(words: Sequence[str]) -> str:
    return " ".join('"' + word.replace('"', '""') + '"*' for word in words)


@dataclass(frozen=True)
class _Sql:
    source: str  # FROM …
    match: str  # WHERE part that matches the words
    params: list[Any]
    rank: str  # an expression: higher is better
    rank_params: list[Any]


def _matching(words: Sequence[str]) -> _Sql:
    quote = connection.ops.quote_name
    if connection.vendor == "postgresql":
        tsquery, params = _postgres_query(words)
        vector = _column("search_vector")
        return _Sql(
            source=quote(_TABLE),
            match=f"{vector} @@ {tsquery}",
            params=params,
            rank=f"ts_rank({vector}, {tsquery})",
            rank_params=list(params),
        )
    if connection.vendor == "sqlite":
        weights = ", ".join(str(w) for w in _BM25_WEIGHTS)
        return _Sql(
            source=(
                f"insight_search_fts JOIN {quote(_TABLE)} "
                f"ON {_column('id')} = insight_search_fts.rowid"
            ),
            match="insight_search_fts MATCH %s",
            params=[_fts_query(words)],
            rank=f"-bm25(insight_search_fts, {weights})",
            rank_params=[],
        )
    raise NotImplementedError(f"search on {connection.vendor}")  # pragma: no cover


# --- the search -------------------------------------------------------------------------


def _moment(value: Any) -> Any:
    """`updated_at` as read by the cursor, comparable across rows (SQLite gives
    naive datetimes for texts stored without an offset: those are UTC)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    return value


def _empty(query: str, limit: int, offset: int) -> SearchResults:
    return SearchResults(query, (), 0, {}, limit, offset)


def search(
    access: Access,
    text: str,
    *,
    kinds: Sequence[str] | None = None,
    limit: int = 20,
    offset: int = 0,
) -> SearchResults:
    """The caller's visible documents matching every word of `text`, best first.

    `counts` are per kind over all kinds (for the tabs), `total` over the chosen
    `kinds` (all when none). An empty or word-less text finds nothing. Two queries:
    the counts, then the page (none for a page past the end).
    """
    chosen = _validate(text, kinds, limit, offset)
    query = " ".join(text.split())
    words = words_of(text)
    if not words:
        return _empty(query, limit, offset)
    visibility = _visibility_sql(access)
    if not visibility:
        return _empty(query, limit, offset)
    matching = _matching(words)
    id_column = _column("id")
    if len(visibility) == 1 or connection.vendor != "postgresql":
        # SQLite: one pass, the visibility conditions as one OR (measured faster
        # there; bm25() also needs the MATCH in the query that ranks).
        visible_sql = " OR ".join(f"({sql})" for sql, _params in visibility)
        where = f"{matching.match} AND ({visible_sql})"
        where_params = [*matching.params]
        for _sql, visible_params in visibility:
            where_params.extend(visible_params)
    else:
        # PostgreSQL, a partner: one branch per kind, each matched on its own, so
        # the planner can start from the few visible objects of a kind (the same
        # table in the subquery: its unqualified names resolve to the inner one).
        branches: list[str] = []
        where_params = []
        for visible_sql, visible_params in visibility:
            branches.append(
                f"SELECT {id_column} FROM {matching.source} "  # noqa: S608 - identifiers and ORM-compiled SQL
                f"WHERE {matching.match} AND {visible_sql}"
            )
            where_params.extend([*matching.params, *visible_params])
        where = f"{id_column} IN ({' UNION ALL '.join(branches)})"
    # One pass over the matches, stopped after `MAX_COUNTED` + 1: their kinds
    # give the counts, and their ranks the page, which is then read by primary
    # key (so the text index is searched once, however many pages follow).
    found_sql = ", ".join(_column(name) for name in ("id", "kind", "updated_at"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {found_sql}, {matching.rank} "  # noqa: S608 - identifiers and ORM-compiled SQL; values are parameters
            f"FROM {matching.source} WHERE {where} LIMIT %s",
            [*matching.rank_params, *where_params, MAX_COUNTED + 1],
        )
        found = cursor.fetchall()
    exact = len(found) <= MAX_COUNTED
    counts: dict[str, int] = {}
    for _id, kind, _updated, _rank in found:
        counts[kind] = counts.get(kind, 0) + 1
    ordered = {kind: counts[kind] for kind in SearchKind.values if kind in counts}
    total = sum(n for kind, n in ordered.items() if not chosen or kind in chosen)
    if offset >= total:
        return SearchResults(query, (), total, ordered, limit, offset, exact)
    # Rank at most the first `MAX_COUNTED` matches of the chosen kinds (all of
    # them when the count was exact): best first, then the most recent.
    candidates = [row for row in found if not chosen or row[1] in chosen]
    candidates = candidates[:MAX_COUNTED]
    candidates.sort(
        key=lambda row: (float(row[3]), _moment(row[2]), row[0]), reverse=True
    )
    page = candidates[offset : offset + limit]
    ranks = {row[0]: float(row[3]) for row in page}
    if not page:
        return SearchResults(query, (), total, ordered, limit, offset, exact)
    documents = SearchDocument.objects.in_bulk([row[0] for row in page])
    hits = tuple(
        SearchHit(
            kind=document.kind,
            object_id=int(document.object_id),
            parent_id=document.parent_id,
            title=document.title,
            subtitle=document.subtitle,
            snippet=_snippet(document.body, document.subtitle, document.title, words),
            rank=ranks[document.pk],
        )
        for document in (documents[row[0]] for row in page)
    )
    return SearchResults(query, hits, total, ordered, limit, offset, exact)
