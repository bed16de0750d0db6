"""Search (docs/design-insight.md, "Search"): `search/?q=&kind=&page=`.

The results of `rantai.insight.search`, which decides what the caller may find
(a partner finds only what it may open, and the counts per kind count only that);
this page groups them by kind (a chip per kind with its count), shows each hit
with its kind, its title linking to its page, its subtitle and the snippet (safe
HTML from the domain, the matched words in <mark>), and pages through them. The
search box of the page header sends a plain GET here; on this page, typing
updates the results through htmx, and the form works the same without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import unescape
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import strip_tags
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from rantai.accounts.access import Access
from rantai.chains.models import ProcedureVersion
from rantai.core.errors import ValidationFailed
from rantai.insight import search as searching
from rantai.insight.models import SearchKind
from rantai.web.access import org_view, render_page

PAGE_SIZE = 20
# Where each kind of result opens: the URL name and which id it takes.
PAGES: dict[str, tuple[str, str]] = {
    SearchKind.RUN: ("run-detail", "object_id"),
    SearchKind.PROCEDURE: ("procedure-detail", "object_id"),
    SearchKind.STEP: ("procedure-version", "parent_id"),
    SearchKind.PERSON: ("person-detail", "object_id"),
    SearchKind.POSITION: ("position-detail", "object_id"),
    SearchKind.PARTY: ("party-detail", "object_id"),
    SearchKind.RECORD: ("record-detail", "object_id"),
    SearchKind.OBSTACLE: ("obstacle-detail", "object_id"),
    SearchKind.REVIEW: ("review-detail", "object_id"),
    SearchKind.TARGET: ("target-detail", "object_id"),
}
# A step opens on its procedure version's page, at the list of steps.
ANCHORS = {SearchKind.STEP: "#steps"}


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def hit_url(
    access: Access, hit: Any, procedure_of: dict[int, int] | None = None
) -> str:
    """The page a result opens, from its kind and ids; "" when there is none
    (a kind without a page yet, or a step without its version).

    A partner opens no version page: its steps show on the procedure's page,
    found through `procedure_of` (version id → procedure id)."""
    if hit.kind == SearchKind.STEP and access.partner_party_id is not None:
        procedure_id = (procedure_of or {}).get(hit.parent_id)
        if procedure_id is None:
            return ""
        return reverse(
            "procedure-detail", args=[access.organisation.slug, procedure_id]
        )
    name, attribute = PAGES.get(hit.kind, ("", ""))
    object_id = getattr(hit, attribute, None) if attribute else None
    if not name or object_id is None:
        return ""
    try:
        url = reverse(name, args=[access.organisation.slug, object_id])
    except NoReverseMatch:
        return ""
    return url + ANCHORS.get(hit.kind, "")


@dataclass(frozen=True)
class Hit:
    hit: Any
    url: str
    kind_label: str

    @property
    def snippet_text(self) -> str:
        return unescape(strip_tags(self.hit.snippet or ""))

    @property
    def marked_subtitle(self) -> bool:
        """The snippet is the subtitle with the words marked: show it once."""
        return bool(self.hit.subtitle) and self.snippet_text == self.hit.subtitle

    @property
    def show_snippet(self) -> bool:
        return bool(self.snippet_text) and self.snippet_text not in (
            self.hit.title,
            self.hit.subtitle,
        )


@dataclass(frozen=True)
class Chip:
    kind: str
    label: str
    count: int
    url: str
    current: bool


@dataclass(frozen=True)
class Pages:
    """What web/_pagination.html needs of a page, for results that were never a
    queryset: the total is the domain's, one page was fetched."""

    number: int
    num_pages: int

    @property
    def paginator(self) -> Pages:
        return self

    def has_previous(self) -> bool:
        return self.number > 1

    def has_next(self) -> bool:
        return self.number < self.num_pages

    def previous_page_number(self) -> int:
        return self.number - 1

    def next_page_number(self) -> int:
        return self.number + 1


def _page_number(value: str | None) -> int:
    try:
        number = int(value or "1")
    except ValueError:
        return 1
    return number if number > 0 else 1


@org_view
@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    """The search: results grouped by kind, a chip per kind with its count."""
    access = _access(request)
    text = request.GET.get("q", "")
    kind = request.GET.get("kind", "")
    number = _page_number(request.GET.get("page"))
    labels = dict(SearchKind.choices)
    context: dict[str, Any] = {
        "nav": "search",
        "q": text,
        "kind": kind if kind in labels else "",
        "error": "",
        "results": None,
        "hits": [],
        "chips": [],
        "page": None,
    }
    if kind and kind not in labels:
        context["error"] = _("There is no such kind of result: showing every kind.")
        kind = ""
    if text.strip():
        try:
            results = searching.search(
                access,
                text,
                kinds=[kind] if kind else None,
                limit=PAGE_SIZE,
                offset=(number - 1) * PAGE_SIZE,
            )
        except ValidationFailed as error:
            context["error"] = (
                " ".join(
                    str(problem)
                    for problems in error.errors.values()
                    for problem in problems
                )
                or error.message
            )
        else:
            context.update(_results(access, request, results, text, kind, number))
    return render_page(
        request, "web/search/search.html", partial="search-results", **context
    )


def _results(
    access: Access,
    request: HttpRequest,
    results: Any,
    text: str,
    kind: str,
    number: int,
) -> dict[str, Any]:
    labels = dict(SearchKind.choices)
    base = request.path
    everything = sum(results.counts.values())

    def chip_url(value: str) -> str:
        query = {"q": text, **({"kind": value} if value else {})}
        return f"{base}?{urlencode(query)}"

    chips = [Chip("", _("All"), everything, chip_url(""), not kind)]
    chips += [
        Chip(
            value,
            str(label),
            results.counts.get(value, 0),
            chip_url(value),
            kind == value,
        )
        for value, label in SearchKind.choices
        if results.counts.get(value, 0) or kind == value
    ]
    procedure_of: dict[int, int] = {}
    versions = {
        hit.parent_id
        for hit in results.hits
        if hit.kind == SearchKind.STEP and hit.parent_id is not None
    }
    if versions and access.partner_party_id is not None:
        procedure_of = dict(
            ProcedureVersion.objects.filter(
                organisation=access.organisation, pk__in=versions
            ).values_list("pk", "procedure_id")
        )
    hits = [
        Hit(
            hit, hit_url(access, hit, procedure_of), str(labels.get(hit.kind, hit.kind))
        )
        for hit in results.hits
    ]
    pages = max(1, -(-results.total // PAGE_SIZE))
    return {
        "results": results,
        "hits": hits,
        "chips": chips,
        "page": Pages(min(number, pages), pages),
        "total": results.total,
        "exact": results.exact,
    }
