"""Information records and their evidence (issue 7, docs/design-evidence.md):

* the records list, filtered by status, kind, run and words;
* recording a piece of information — what was said or measured, its source, the
  run or task it matters to, and evidence rows (a file, a link or a measured
  value each) — from the list, a run or a task;
* a record's page: its status (unverified, disputed and refuted records are
  hearsay, and say so), its evidence, the history of its checks, what rests on it,
  adding evidence, and the verify form for anyone but its author (who reads
  "someone else has to check it");
* downloading a file of evidence: only for those who may see the record, always
  as an attachment with its stored type, `nosniff` and a sandboxing CSP;
* evidence attached straight onto a task, and the task page's and run page's
  panels (`task_panels`, `run_panels`);
* the organisation's upload settings (administrators);
* the "information this decision rests on" choice of decision forms
  (`citable_records`, `cite_decision`, `cited`), used by the approval and
  deviation decisions.

Reads go through `rantai.evidence.queries` (partners see the records of runs
their party takes part in, and only their own party's task records; 404
otherwise); every write calls one `rantai.evidence` service, which decides again.
A refused upload writes nothing (the service stores files only after every check
and removes them again when it fails).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from rantai.accounts.access import Access
from rantai.approvals.models import Decision
from rantai.chains import queries as chains_queries
from rantai.chains import services as chains_services
from rantai.chains.models import Run, RunStatus, Task, TaskStatus
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.evidence import citations, guards, policy, records, uploads, verification
from rantai.evidence import queries as evidence_queries
from rantai.evidence.models import (
    Citation,
    CitingKind,
    EvidenceItem,
    InformationRecord,
    RecordKind,
    RecordStatus,
    Verification,
)
from rantai.obstacles import queries as obstacle_queries
from rantai.obstacles import review_queries
from rantai.web import forms_evidence
from rantai.web.access import admin_only, handle_form, org_view
from rantai.web.access import render_page as _render
from rantai.web.forms import active_parties
from rantai.web.forms_evidence import BaseEvidenceFormSet, EvidenceItemForm

PAGE_SIZE = 25
# The run and task panels show this many records (newest first); the list has all.
PANEL_RECORDS = 10
# The runs offered on the new-record form (newest first).
FORM_RUNS = 200
# Fields of the evidence rows: a service's error about one of them is shown on
# the row it belongs to.
ITEM_FIELDS = ("file", "url", "quantity", "unit", "label")


# --- shared helpers ---------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _page(request: HttpRequest, template: str, **options: Any) -> HttpResponse:
    """A page in the information navigation unless told otherwise."""
    options.setdefault("nav", "information")
    return _render(request, template, **options)


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


def _next_url(request: HttpRequest) -> str:
    """Where the page that sent the caller here wants them back ("" for none):
    only a path of this site."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return ""


def _record(access: Access, pk: int) -> InformationRecord:
    try:
        return evidence_queries.record(access, pk)
    except NotFound as error:
        raise Http404 from error


def _visible_run(access: Access, pk: int) -> Run:
    run = chains_queries.runs(access).filter(pk=pk).first()
    if run is None:
        raise Http404
    run.organisation = access.organisation
    return run


def _visible_task(access: Access, pk: int) -> Task:
    task = (
        chains_queries.tasks(access)
        .select_related("run__procedure", "step")
        .filter(pk=pk)
        .first()
    )
    if task is None:
        raise Http404
    task.organisation = access.organisation
    task.run.organisation = access.organisation
    return task


def upload_rules(access: Access) -> tuple[str, str]:
    """(what may be uploaded, in words; the `accept` list of extensions)."""
    settings = policy.settings_for(access.organisation)
    codes = policy.allowed_types(settings)
    types = [uploads.FILE_TYPES[code] for code in codes]
    names = ", ".join(str(file_type.label) for file_type in types)
    text = _("%(types)s; at most %(size)d MB.") % {
        "types": names,
        "size": settings.max_file_megabytes,
    }
    accept = ",".join(
        f".{extension}" for file_type in types for extension in file_type.extensions
    )
    return text, accept


def evidence_formset(
    access: Access,
    request: HttpRequest | None = None,
    *,
    rows: int = forms_evidence.EVIDENCE_ROWS,
    rules: tuple[str, str] | None = None,
    prefix: str = forms_evidence.EVIDENCE_PREFIX,
) -> BaseEvidenceFormSet:
    """The evidence rows of a form, bound to the request's POST and files when
    given; the file fields say what may be uploaded."""
    formset = forms_evidence.evidence_formset(
        request.POST if request is not None else None,
        request.FILES if request is not None else None,
        rows=rows,
        prefix=prefix,
    )
    text, accept = rules if rules is not None else upload_rules(access)
    formset.upload_rules = text  # type: ignore[attr-defined]
    for row in formset.forms:
        row.fields["file"].widget.attrs.update(
            {
                "accept": accept,
                "aria-describedby": f"{formset.prefix}-upload-rules",
            }
        )
    return formset


def formset_has_errors(formset: BaseEvidenceFormSet) -> bool:
    return formset.is_bound and bool(
        formset.non_form_errors() or any(form.errors for form in formset.forms)
    )


def formset_has_files(formset: BaseEvidenceFormSet) -> bool:
    """Whether a refused form had files chosen (the browser must send them again)."""
    return formset.is_bound and bool(formset.files)


def _file_rows(formset: BaseEvidenceFormSet) -> list[EvidenceItemForm]:
    return [
        form
        for form in formset.forms
        if form.cleaned_data and form.cleaned_data.get("file")
    ]


def _row_for(
    formset: BaseEvidenceFormSet, name: str, access: Access
) -> EvidenceItemForm | None:
    """The row a service's refusal about `name` belongs to. The service checks the
    rows in order and stops at the first refusal: for a file, the first file the
    same check refuses (nothing is stored by this check); for the other fields,
    the first row that gave one."""
    if name == "file":
        rows = _file_rows(formset)
        if len(rows) == 1:
            return rows[0]
        settings = policy.settings_for(access.organisation)
        for row in rows:
            upload = row.cleaned_data["file"]
            try:
                uploads.check(
                    upload,
                    name=upload.name or "",
                    allowed=policy.allowed_types(settings),
                    max_bytes=policy.max_file_bytes(settings),
                )
            except ValidationFailed:
                return row
        return None
    wanted = {"url": "url", "quantity": "quantity", "unit": "quantity"}.get(name)
    for row in formset.forms:
        data = row.cleaned_data or {}
        if wanted is None:
            if name == "label" and (data.get("label") or "").strip():
                return row
        elif data.get(wanted) not in (None, ""):
            return row
    return None


def show_errors(
    form: Any,
    formset: BaseEvidenceFormSet,
    error: ValidationFailed,
    access: Access,
) -> list[str]:
    """Put a service's refusal on the field it is about: the form's own field, the
    evidence row's field, or (returned) the messages that belong to neither."""
    rest: list[str] = []
    for name, problems in error.errors.items():
        if form is not None and name in form.fields:
            for problem in problems:
                form.add_error(name, problem)
            continue
        row = _row_for(formset, name, access) if name in ITEM_FIELDS else None
        if row is not None:
            for problem in problems:
                row.add_error(name, problem)
            continue
        rest.extend(str(problem) for problem in problems)
    return rest


# --- the records list -------------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD"])
def record_list(request: HttpRequest) -> HttpResponse:
    """The information the caller may see, newest first: its status (hearsay
    marked), source, what it is about and how much evidence it has. Filtered by
    status, kind, run and words; a fixed number of queries."""
    access = _access(request)
    status = request.GET.get("status", "")
    status = status if status in RecordStatus.values else ""
    kind = request.GET.get("kind", "")
    kind = kind if kind in RecordKind.values else ""
    query = request.GET.get("q", "").strip()[:100]
    run_pk = _positive_int(request.GET.get("run"))
    records_qs = evidence_queries.records(
        access,
        run=run_pk,
        status=status or None,
        kind=kind or None,
        search=query or None,
    )
    page = Paginator(records_qs, PAGE_SIZE).get_page(request.GET.get("page"))
    runs = list(
        chains_queries.runs(access)
        .filter(
            pk__in=evidence_queries.visible_records(access)
            .filter(run__isnull=False)
            .values("run_id")
        )
        .order_by("-started_at", "-id")[:FORM_RUNS]
    )
    run_filter = next((run for run in runs if run.pk == run_pk), None)
    return _page(
        request,
        "web/evidence/record_list.html",
        partial="list-results",
        page=page,
        records=list(page.object_list),
        statuses=RecordStatus.choices,
        kinds=RecordKind.choices,
        runs=runs,
        status_filter=status,
        kind_filter=kind,
        run_filter=run_filter,
        query=query,
        filtered=bool(status or kind or query or run_pk),
        may_record=_may_record_somewhere(access),
    )


# --- recording information --------------------------------------------------------


def _may_record_somewhere(access: Access) -> bool:
    """Whether the free form is offered: members and administrators record
    anywhere; partners on a run they take part in (chosen on the form)."""
    return access.is_partner or evidence_queries.may_record(access)


def _form_runs(access: Access) -> Any:
    """The runs a record may be about: visible ones, newest first."""
    ids = list(
        chains_queries.runs(access)
        .order_by("-started_at", "-id")
        .values_list("pk", flat=True)[:FORM_RUNS]
    )
    return (
        Run.objects.filter(pk__in=ids)
        .select_related("procedure")
        .order_by("-started_at", "-id")
    )


def _parties(access: Access) -> Any:
    """Parties information may come from: for a partner only their own party."""
    parties = active_parties(access.organisation)
    if access.partner_party_id is not None:
        parties = parties.filter(pk=access.partner_party_id)
    return parties


def _record_form(
    request: HttpRequest,
    access: Access,
    *,
    run: Run | None = None,
    task: Task | None = None,
) -> HttpResponse:
    """The new-record page: free (from the list), about a run, or about a task."""
    free = run is None and task is None
    if not (
        _may_record_somewhere(access)
        if free
        else evidence_queries.may_record(access, run=run, task=task)
    ):
        raise DjangoPermissionDenied
    tasks = None
    if run is not None and task is None:
        tasks = chains_queries.tasks(access).filter(run=run).order_by("id")
    form = forms_evidence.RecordForm(
        request.POST if request.method == "POST" else None,
        time_zone=access.organisation.time_zone,
        parties=_parties(access),
        runs=_form_runs(access) if free else None,
        tasks=tasks,
        with_task_evidence=task is not None,
        run_required=free and access.is_partner,
    )
    formset = evidence_formset(access, request if request.method == "POST" else None)
    problems: list[str] = []
    status = 200
    next_url = _next_url(request)
    if request.method == "POST":
        form_ok = form.is_valid()
        rows_ok = formset.is_valid()
        if form_ok and rows_ok:
            data = form.cleaned_data
            chosen_task = task or data.get("task")
            chosen_run = run or data.get("run")
            if chosen_task is not None:
                chosen_run = None  # the service takes the task's run
            try:
                record = records.record_information(
                    access.organisation,
                    actor=access.user,
                    title=data["title"],
                    statement=data["statement"],
                    source_kind=data["source_kind"],
                    source_detail=data["source_detail"],
                    kind=data["kind"],
                    run=chosen_run,
                    task=chosen_task,
                    source_party=data.get("source_party"),
                    observed_at=data.get("observed_at"),
                    items=formset.items(),
                )
            except ValidationFailed as error:
                problems = show_errors(form, formset, error, access)
                status = 422
            except PermissionDenied as error:
                problems = [error.message]
                status = 403
            else:
                messages.success(
                    request,
                    _(
                        "The information was recorded. It stays unverified until "
                        "someone other than you checks it."
                    ),
                )
                return redirect(next_url or _url("record-detail", access, record.pk))
        else:
            status = 422
    if task is not None:
        title = _("Information about “%(task)s”") % {"task": task.name}
        cancel_url = _url("task-detail", access, task.pk)
    elif run is not None:
        title = _("Information about “%(run)s”") % {"run": run.title}
        cancel_url = _url("run-detail", access, run.pk)
    else:
        title = _("Record information")
        cancel_url = _url("record-list", access)
    cancel_url = next_url or cancel_url
    return _page(
        request,
        "web/evidence/record_form.html",
        status=status,
        form=form,
        formset=formset,
        formset_has_errors=formset_has_errors(formset),
        formset_has_files=status != 200 and formset_has_files(formset),
        problems=problems,
        title=title,
        submit=_("Record the information"),
        cancel_url=cancel_url,
        next_url=next_url,
        run=task.run if task is not None else run,
        task=task,
    )


@org_view
@require_http_methods(["GET", "HEAD", "POST"])
def record_new(request: HttpRequest) -> HttpResponse:
    """Record information (about the organisation, or a run chosen on the form)."""
    return _record_form(request, _access(request))


@org_view
@require_http_methods(["GET", "HEAD", "POST"])
def run_record_new(request: HttpRequest, pk: int) -> HttpResponse:
    """Record information about a run (and, if chosen, one of its tasks)."""
    access = _access(request)
    return _record_form(request, access, run=_visible_run(access, pk))


@org_view
@require_http_methods(["GET", "HEAD", "POST"])
def task_record_new(request: HttpRequest, pk: int) -> HttpResponse:
    """Record information about a task."""
    access = _access(request)
    return _record_form(request, access, task=_visible_task(access, pk))


# --- a record's page --------------------------------------------------------------


@dataclass
class CitationRow:
    citation: Citation
    text: str
    url: str = ""


def _citation_rows(access: Access, record: InformationRecord) -> list[CitationRow]:
    """What rests on the record, each with a link where the caller may follow it:
    two queries at most (the citations, and the approval decisions' requests)."""
    found = list(
        Citation.objects.filter(record_id=record.pk)
        .select_related("cited_by")
        .order_by("cited_at", "id")
    )
    decision_ids = [
        c.citing_id for c in found if c.citing_kind == CitingKind.APPROVAL_DECISION
    ]
    requests: dict[int, tuple[int, str]] = {}
    if decision_ids and access.sees_whole_organisation:
        requests = {
            pk: (request_id, title)
            for pk, request_id, title in Decision.objects.filter(
                pk__in=decision_ids, request__organisation=access.organisation
            ).values_list("pk", "request_id", "request__title")
        }
    titles = _citing_titles(access, found)
    rows = []
    for citation in found:
        kind_label = str(citation.get_citing_kind_display())
        text = kind_label[:1].upper() + kind_label[1:]
        title = titles.get((citation.citing_kind, citation.citing_id))
        if title:
            text = f"{text}: {title}"
        url = ""
        if citation.citing_kind == CitingKind.APPROVAL_DECISION:
            if citation.citing_id in requests:
                request_id, title = requests[citation.citing_id]
                text = _("Approval decision on “%(title)s”") % {"title": title}
                url = _url("approval-detail", access, request_id) + "#decisions"
        elif citation.citing_kind == CitingKind.DEVIATION_DECISION:
            if record.run_id is not None:
                url = (
                    _url("run-detail", access, record.run_id)
                    + f"#deviation-{citation.citing_id}"
                )
        else:
            url = _citing_url(access, citation)
        rows.append(CitationRow(citation=citation, text=text, url=url))
    return rows


def _citing_titles(access: Access, found: list[Citation]) -> dict[tuple[str, int], str]:
    """The titles of the obstacles and reviews that cite the record and that the
    caller may see (one query for each kind present)."""
    wanted: dict[str, set[int]] = {}
    for citation in found:
        wanted.setdefault(citation.citing_kind, set()).add(citation.citing_id)
    obstacle_ids = wanted.get(CitingKind.OBSTACLE, set()) | wanted.get(
        CitingKind.OBSTACLE_RESOLUTION, set()
    )
    titles: dict[tuple[str, int], str] = {}
    if obstacle_ids:
        for pk, title in (
            obstacle_queries.obstacles(access)
            .filter(pk__in=sorted(obstacle_ids))
            .values_list("pk", "title")
        ):
            titles[(CitingKind.OBSTACLE, pk)] = title
            titles[(CitingKind.OBSTACLE_RESOLUTION, pk)] = title
    review_ids = wanted.get(CitingKind.REVIEW)
    if review_ids:
        for pk, run_title in (
            review_queries.reviews(access)
            .filter(pk__in=sorted(review_ids))
            .values_list("pk", "run__title")
        ):
            titles[(CitingKind.REVIEW, pk)] = run_title
    return titles


# Pages of the other things that may cite a record (obstacles, reviews), when
# their pages exist.
_CITING_PAGES = {
    CitingKind.OBSTACLE: "obstacle-detail",
    CitingKind.OBSTACLE_RESOLUTION: "obstacle-detail",
    CitingKind.REVIEW: "review-detail",
}


def _citing_url(access: Access, citation: Citation) -> str:
    name = _CITING_PAGES.get(citation.citing_kind)  # type: ignore[call-overload]
    if name is None:
        return ""
    try:
        return _url(name, access, citation.citing_id)
    except NoReverseMatch:
        return ""


@dataclass
class VerificationRow:
    verification: Verification
    items: list[EvidenceItem] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.verification, name)


def _verification_rows(
    record: InformationRecord,
) -> tuple[list[EvidenceItem], list[VerificationRow]]:
    """(the record's own evidence, its checks with the evidence given with each)."""
    own: list[EvidenceItem] = []
    given: dict[int, list[EvidenceItem]] = {}
    for item in record.evidence.all():
        if item.verification_id is None:
            own.append(item)
        else:
            given.setdefault(item.verification_id, []).append(item)
    rows = [
        VerificationRow(check, given.get(check.pk, []))
        for check in record.verifications.all()
    ]
    return own, rows


def _detail_page(
    request: HttpRequest,
    access: Access,
    record: InformationRecord,
    *,
    status: int = 200,
    add_formset: BaseEvidenceFormSet | None = None,
    add_problems: Sequence[str] = (),
    verify_form: forms_evidence.VerifyForm | None = None,
    verify_formset: BaseEvidenceFormSet | None = None,
    verify_problems: Sequence[str] = (),
    refusal: str = "",
    conflict: str = "",
) -> HttpResponse:
    items, checks = _verification_rows(record)
    may_add = evidence_queries.may_record(access, run=record.run, task=record.task)
    may_verify = evidence_queries.may_verify(access, record)
    rules = upload_rules(access) if may_add or may_verify else None
    if may_add and add_formset is None:
        add_formset = evidence_formset(access, rules=rules)
    if may_verify and verify_form is None:
        verify_form = forms_evidence.VerifyForm(
            initial={"version": record.version}, current_status=record.status
        )
        verify_formset = evidence_formset(
            access,
            rows=forms_evidence.VERIFY_EVIDENCE_ROWS,
            prefix=forms_evidence.CHECK_PREFIX,
            rules=rules,
        )
    return _page(
        request,
        "web/evidence/record_detail.html",
        status=status,
        record=record,
        items=items,
        verifications=checks,
        citations=_citation_rows(access, record),
        add_form=may_add,
        add_formset=add_formset if may_add else None,
        add_formset_has_errors=bool(add_formset) and formset_has_errors(add_formset),  # type: ignore[arg-type]
        add_formset_has_files=bool(add_problems or status != 200)
        and add_formset is not None
        and formset_has_files(add_formset),
        add_problems=list(add_problems),
        verify_form=verify_form if may_verify else None,
        verify_formset=verify_formset,
        verify_formset_has_errors=verify_formset is not None
        and formset_has_errors(verify_formset),
        verify_problems=list(verify_problems),
        is_author=record.recorded_by_id == access.user.pk,
        refusal=refusal,
        conflict=conflict,
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def record_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A record with its status, source, evidence, checks and what rests on it;
    adding evidence and the verify form for those who may. A fixed number of
    queries."""
    access = _access(request)
    return _detail_page(request, access, _record(access, pk))


@org_view
@require_POST
def record_add_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    """Add evidence to a record (anyone who may record on its run or task); the
    status stays what it was."""
    access = _access(request)
    record = _record(access, pk)
    formset = evidence_formset(access, request)
    problems: list[str] = []
    if formset.is_valid():
        items = formset.items()
        if not items:
            problems = [
                _("Add at least one piece of evidence: a file, a link or a value.")
            ]
        else:
            try:
                records.add_evidence(record, actor=access.user, items=items)
            except ValidationFailed as error:
                problems = show_errors(None, formset, error, access)
            except PermissionDenied as error:
                raise DjangoPermissionDenied(error.message) from error
            else:
                messages.success(
                    request,
                    _(
                        "The evidence was added. The information keeps its status "
                        "until someone other than its author checks it."
                    ),
                )
                return redirect(_url("record-detail", access, record.pk) + "#evidence")
    if not evidence_queries.may_record(access, run=record.run, task=record.task):
        raise DjangoPermissionDenied
    return _detail_page(
        request,
        access,
        record,
        status=422,
        add_formset=formset,
        add_problems=problems,
    )


# --- verifying --------------------------------------------------------------------


def _author_refusal() -> str:
    return _("You recorded this information; someone else has to check it.")


@org_view
@require_http_methods(["GET", "HEAD", "POST"])
def record_verify(request: HttpRequest, pk: int) -> HttpResponse:
    """Check a record: verified, disputed or refuted, with a note and optionally
    evidence. Never its author (who is told someone else has to); auditors read
    only."""
    access = _access(request)
    record = _record(access, pk)
    is_author = record.recorded_by_id == access.user.pk
    if not is_author and not evidence_queries.may_verify(access, record):
        raise DjangoPermissionDenied
    refusal = _author_refusal() if is_author else ""
    form = None
    formset = None
    problems: list[str] = []
    conflict = ""
    status = 403 if is_author else 200
    if request.method == "POST":
        form = forms_evidence.VerifyForm(
            request.POST,
            initial={"version": record.version},
            current_status=record.status,
        )
        formset = evidence_formset(
            access,
            request,
            rows=forms_evidence.VERIFY_EVIDENCE_ROWS,
            prefix=forms_evidence.CHECK_PREFIX,
        )
        form_ok = form.is_valid()
        rows_ok = formset.is_valid()
        status = 422
        if form_ok and rows_ok:
            data = form.cleaned_data
            try:
                verification.verify(
                    record,
                    actor=access.user,
                    verdict=data["verdict"],
                    note=data["note"],
                    expected_version=data["version"],
                    items=formset.items(),
                )
            except Conflict as error:
                conflict = error.message
                status = 409
                record = _record(access, pk)
                form = forms_evidence.VerifyForm(
                    initial={"version": record.version, "note": data["note"]},
                    current_status=record.status,
                )
            except PermissionDenied as error:
                refusal = error.message
                form = None
                status = 403
            except ValidationFailed as error:
                problems = show_errors(form, formset, error, access)
            else:
                messages.success(
                    request,
                    _("Your verdict was recorded: the information is now %(status)s.")
                    % {"status": record.get_status_display()},
                )
                return redirect(_url("record-detail", access, record.pk) + "#checks")
    elif not is_author:
        form = forms_evidence.VerifyForm(
            initial={"version": record.version}, current_status=record.status
        )
    if form is not None and formset is None:
        formset = evidence_formset(
            access,
            rows=forms_evidence.VERIFY_EVIDENCE_ROWS,
            prefix=forms_evidence.CHECK_PREFIX,
        )
    if is_author:
        form = None
        refusal = _author_refusal()
    return _page(
        request,
        "web/evidence/verify.html",
        status=status,
        record=record,
        verify_form=form,
        verify_formset=formset,
        verify_formset_has_errors=formset is not None and formset_has_errors(formset),
        formset_has_files=formset is not None
        and status != 200
        and formset_has_files(formset),
        verify_problems=problems,
        conflict=conflict,
        refusal=refusal,
    )


# --- downloading evidence ---------------------------------------------------------

# The stored type is served as it is; anything else is a plain download.
FALLBACK_CONTENT_TYPE = "application/octet-stream"


@org_view
@require_http_methods(["GET", "HEAD"])
def evidence_download(request: HttpRequest, pk: int) -> HttpResponse:
    """A file of evidence, for those who may see its record (404 otherwise): always
    an attachment with the type stored when it was checked, never sniffed, and
    sandboxed should a browser open it anyway."""
    access = _access(request)
    try:
        item = evidence_queries.evidence_item(access, pk)
    except NotFound as error:
        raise Http404 from error
    if not item.file or not item.file.name:
        raise Http404
    try:
        handle = default_storage.open(item.file.name, "rb")
    except (FileNotFoundError, OSError) as error:
        raise Http404(_("The file is no longer stored.")) from error
    name = item.original_name or f"evidence-{item.pk}"
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=name,
        content_type=item.content_type or FALLBACK_CONTENT_TYPE,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response  # type: ignore[return-value]


# --- evidence straight onto a task ------------------------------------------------


def _recheck(access: Access, task: Task) -> None:
    """A task awaiting its evidence is checked again once some is attached (it may
    complete now); who may not act on it leaves that to the task's people."""
    task.refresh_from_db(fields=["status", "awaiting_reasons", "version"])
    if (
        task.status != TaskStatus.AWAITING
        or guards.REASON not in (task.awaiting_reasons or [])
        or task.run.status != RunStatus.ACTIVE
    ):
        return
    try:
        chains_services.recheck_task(task, actor=access.user, expected_version=None)
    except (PermissionDenied, Conflict, ValidationFailed):
        return


@org_view
@require_http_methods(["GET", "HEAD", "POST"])
def task_evidence_attach(request: HttpRequest, pk: int) -> HttpResponse:
    """Attach evidence of a task's work (a file, a link or a value per row) as the
    caller's own observation; a task awaiting it is checked again."""
    access = _access(request)
    task = _visible_task(access, pk)
    if not evidence_queries.may_record(access, task=task):
        raise DjangoPermissionDenied
    form = forms_evidence.TaskEvidenceForm(
        request.POST if request.method == "POST" else None, auto_id="attach-%s"
    )
    formset = evidence_formset(access, request if request.method == "POST" else None)
    problems: list[str] = []
    status = 200
    task_url = _url("task-detail", access, task.pk)
    if request.method == "POST":
        status = 422
        form_ok = form.is_valid()
        rows_ok = formset.is_valid()
        if form_ok and rows_ok:
            items = formset.items()
            if not items:
                problems = [
                    _("Add at least one piece of evidence: a file, a link or a value.")
                ]
            else:
                try:
                    record = records.attach_task_evidence(
                        task,
                        actor=access.user,
                        items=items,
                        title=form.cleaned_data["title"],
                        statement=form.cleaned_data["statement"],
                    )
                except ValidationFailed as error:
                    problems = show_errors(form, formset, error, access)
                except PermissionDenied as error:
                    problems = [error.message]
                    status = 403
                else:
                    _recheck(access, task)
                    task.refresh_from_db(fields=["status"])
                    if task.status == TaskStatus.DONE:
                        text = _("The evidence was attached and the task is now done.")
                    elif record.task is not None and task.requires_verified_evidence:
                        text = _(
                            "The evidence was attached. Someone other than you has "
                            "to check it before the task can be completed."
                        )
                    else:
                        text = _("The evidence was attached.")
                    messages.success(request, text)
                    return redirect(task_url + "#task-evidence")
    return _page(
        request,
        "web/evidence/task_attach.html",
        status=status,
        nav="runs",
        task=task,
        run=task.run,
        form=form,
        formset=formset,
        formset_has_errors=formset_has_errors(formset),
        formset_has_files=status != 200 and formset_has_files(formset),
        problems=problems,
        missing=guards.missing_evidence(task),
        cancel_url=task_url,
    )


# --- the panels of the task page and the run page ------------------------------------


def task_panels(request: HttpRequest, access: Access, task: Task) -> dict[str, Any]:
    """The task page's evidence panel (`web/evidence/_task_panel.html`): what the
    step requires and what is missing, the task's records with their status, and
    the attach form for those who may record on the task. A fixed number of
    queries (none for what is missing when the step requires nothing)."""
    shown = list(evidence_queries.records(access, task=task.pk)[: PANEL_RECORDS + 1])
    may_attach = task.run.status == RunStatus.ACTIVE and evidence_queries.may_record(
        access, task=task
    )
    attach_form = None
    attach_formset = None
    if may_attach:
        attach_form = forms_evidence.TaskEvidenceForm(auto_id="attach-%s")
        attach_formset = evidence_formset(access, rows=1)
    return {
        "evidence_records": shown[:PANEL_RECORDS],
        "evidence_more": len(shown) > PANEL_RECORDS,
        "evidence_list_url": _url("record-list", access) + f"?run={task.run_id}",
        "evidence_missing": guards.missing_evidence(task),
        "evidence_attach_form": attach_form,
        "evidence_attach_formset": attach_formset,
        "evidence_attach_url": _url("task-evidence-attach", access, task.pk),
        "evidence_attach_open": False,
        "evidence_record_new_url": _url("task-record-new", access, task.pk)
        if evidence_queries.may_record(access, task=task)
        else "",
    }


def run_panels(request: HttpRequest, access: Access, run: Run) -> dict[str, Any]:
    """The run page's information panel (`web/evidence/_run_panel.html`): the
    run's newest records with their status, how many are hearsay, and the link
    to record more. Two queries (and one for a partner's right to record)."""
    visible = evidence_queries.records(access, run=run.pk)
    shown = list(visible[:PANEL_RECORDS])
    counts = (
        evidence_queries.visible_records(access)
        .filter(run_id=run.pk)
        .aggregate(
            total=Count("pk"),
            hearsay=Count("pk", filter=~Q(status=RecordStatus.VERIFIED)),
        )
        if len(shown) >= PANEL_RECORDS
        else {
            "total": len(shown),
            "hearsay": sum(1 for record in shown if record.is_hearsay),
        }
    )
    may_record = not run.is_final and evidence_queries.may_record(access, run=run)
    return {
        "run_records": shown,
        "run_records_total": counts["total"],
        "run_records_hearsay": counts["hearsay"],
        "run_records_more": counts["total"] > len(shown),
        "run_records_url": _url("record-list", access) + f"?run={run.pk}",
        "run_record_new_url": _url("run-record-new", access, run.pk)
        if may_record
        else "",
    }


# --- decisions that rest on information ---------------------------------------------


@dataclass(frozen=True)
class Cited:
    """What one decision rests on, as its page shows it."""

    records: list[InformationRecord]

    @property
    def rests_on_unverified(self) -> bool:
        return citations.rests_on_unverified(self.records)


def citable_records(access: Access, run_id: int | None) -> list[InformationRecord]:
    """The records of a run the caller may see and cite on a decision about it
    (newest first); none for auditors or without a run. One query."""
    if run_id is None or access.is_auditor:
        return []
    return list(
        evidence_queries.visible_records(access)
        .filter(run_id=run_id)
        .order_by("-recorded_at", "-id")[:FORM_RUNS]
    )


def cite_decision(
    chosen: Iterable[InformationRecord] | None,
    *,
    citing_kind: str,
    citing_id: int,
    access: Access,
) -> None:
    """Let a decision rest on the chosen records (nothing chosen: nothing written).
    Call it inside the decision's own transaction."""
    chosen = list(chosen or [])
    if chosen:
        citations.cite(
            chosen, citing_kind=citing_kind, citing_id=citing_id, actor=access.user
        )


def cited(citing_kind: str, citing_ids: Iterable[int]) -> dict[int, Cited]:
    """{citing id: what it rests on} for the ids asked; one query."""
    return {
        pk: Cited(found)
        for pk, found in citations.citations_for(citing_kind, citing_ids).items()
    }


# --- the upload settings ------------------------------------------------------------


def _type_choices() -> list[tuple[str, str]]:
    return [
        (code, f"{file_type.label!s} (.{', .'.join(file_type.extensions)})")
        for code, file_type in uploads.FILE_TYPES.items()
    ]


@org_view
@require_http_methods(["GET", "HEAD", "POST"])
def evidence_settings(request: HttpRequest) -> HttpResponse:
    """Which files may be attached as evidence and how large (administrators)."""
    access = _access(request)
    admin_only(access)
    settings = policy.settings_for(access.organisation)
    form = forms_evidence.EvidenceSettingsForm(
        request.POST if request.method == "POST" else None,
        initial={
            "allowed_types": list(settings.allowed_types or []),
            "max_file_megabytes": settings.max_file_megabytes,
            "version": settings.version,
        },
        types=_type_choices(),
    )
    allowed = policy.allowed_types(settings)

    def page(status: int) -> HttpResponse:
        return _page(
            request,
            "web/evidence/settings.html",
            status=status,
            nav="settings",
            form=form,
            settings=settings,
            allowed_text=", ".join(
                str(uploads.FILE_TYPES[code].label) for code in allowed
            ),
        )

    def save(data: dict[str, Any]) -> str:
        expected = data.pop("version")
        policy.update_settings(
            access.organisation, actor=access.user, expected_version=expected, **data
        )
        return _url("evidence-settings", access)

    return handle_form(
        request,
        form,
        save,
        success=_("The upload settings were saved."),
        page=page,
    )


__all__ = [
    "Cited",
    "citable_records",
    "cite_decision",
    "cited",
    "run_panels",
    "task_panels",
]
