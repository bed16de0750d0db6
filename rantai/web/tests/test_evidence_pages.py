"""The evidence pages: the records list, recording information (free, on a run, on
a task) with evidence rows, a record's page with its evidence, checks and what
rests on it, verifying (never by the author), adding evidence, downloading a file
(attachment, nosniff, sandbox), evidence attached straight onto a task, the upload
settings, the task and run panels, and decisions that rest on records — who sees
and may do what, and that every refused form writes nothing.

The team (rantai/evidence/tests/factories.py `team`): Rina (member, head of
export) is accountable for `pack` (export clerks: Budi, Ani) and `ship` (the
forwarder: Joko, a partner login); Olga is a partner of another carrier, not in
the run; the auditor reads.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rantai.accounts.access import access_for
from rantai.approvals.models import Decision
from rantai.audit.models import AuditEvent
from rantai.chains import services as chains
from rantai.chains.models import TaskStatus
from rantai.evidence import records, verification
from rantai.evidence.models import (
    Citation,
    CitingKind,
    EvidenceItem,
    EvidenceSettings,
    InformationRecord,
    RecordKind,
    RecordStatus,
    Verdict,
    Verification,
)
from rantai.evidence.tests import factories as ef
from rantai.web.tests.test_approval_pages import (
    ask,
    assert_csp_clean,
    build_coord,
    start_run,
)
from rantai.web.views import evidence as evidence_views

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "list-results"}
AUTHOR_REFUSAL = "You recorded this information; someone else has to check it."
PROGRAM = "This file is a program or a script; it cannot be uploaded."
MARKUP = "This file is a web page, SVG or XML document; it cannot be uploaded."
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body>"
SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
    b"<script>alert(1)</script></svg>"
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Every test stores its files in a folder of its own."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def t() -> ef.Team:
    return ef.team()


def url(name: str, t: Any, *args: object) -> str:
    organisation = t.organisation if hasattr(t, "organisation") else t
    return reverse(name, args=[organisation.slug, *args])


def text(response: Any) -> str:
    return str(response.content.decode())


def events() -> list[int]:
    return list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))


def snapshot() -> dict[str, list[Any]]:
    """Every row recording or verifying could write, for "nothing was written"."""
    return {
        "records": list(InformationRecord.objects.order_by("pk").values_list()),
        "items": list(EvidenceItem.objects.order_by("pk").values_list()),
        "checks": list(Verification.objects.order_by("pk").values_list()),
        "events": events(),
    }


def rows(prefix: Any = "evidence", total: Any = 3, **values: Any) -> dict[str, Any]:
    """The management form of `total` evidence rows and the given values
    (`"0-url": ...` for the first row's link)."""
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "10",
    }
    for key, value in values.items():
        data[f"{prefix}-{key}"] = value
    return data


def record_data(**changes: Any) -> dict[str, Any]:
    data = {
        "title": "The truck leaves on the 12th",
        "statement": "The forwarder's dispatcher says the truck leaves on the 12th.",
        "kind": RecordKind.CLAIM,
        "source_kind": "person",
        "source_detail": "The forwarder's dispatcher, by phone",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def section(html: str, element_id: str) -> str:
    assert f'id="{element_id}"' in html, element_id
    return html.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


def badges(html: str) -> list[str]:
    return re.findall(r'class="badge badge-record badge-record-(\w+)', html)


def count_queries(client: Any, page: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(page)
    assert response.status_code == 200
    return len(captured.captured_queries)


def run_record(t: ef.Team, **kwargs: Any) -> InformationRecord:
    return ef.make_record(t.o, actor=t.rina_user, run=t.run, **kwargs)


# --- the records list -----------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "rina", "auditor", "joko"])
def test_the_list_shows_each_record_with_its_status_and_the_hearsay_mark(
    client: Any, t: ef.Team, who: str
) -> None:
    heard = run_record(t, title="Truck leaves on the 12th", items=[ef.link()])
    checked = ef.verified_record(t.o, actor=t.rina_user, verifier=t.ani_user, run=t.run)
    checked.title = "Checked"
    InformationRecord.objects.filter(pk=checked.pk).update(title="Notice checked")
    user = {
        "admin": t.admin,
        "rina": t.rina_user,
        "auditor": t.o.auditor,
        "joko": t.joko_user,
    }[who]
    client.force_login(user)
    response = client.get(url("record-list", t))
    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    assert "2 records" in html
    assert url("record-detail", t, heard.pk) in html
    assert url("record-detail", t, checked.pk) in html
    assert sorted(badges(html)) == ["unverified", "verified"]
    row = html.split(f'id="record-{heard.pk}"', 1)[1].split("</tr>", 1)[0]
    assert ">hearsay</abbr>" in row
    checked_row = html.split(f'id="record-{checked.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "hearsay" not in checked_row
    # who may record sees the button; the auditor reads only
    assert (url("record-new", t) in html) == (who != "auditor")
    assert (url("evidence-settings", t) in html) == (who == "admin")


def test_partners_see_only_their_runs_and_their_own_party_tasks(
    client: Any, t: ef.Team
) -> None:
    on_run = run_record(t, title="On the run")
    on_pack = ef.make_record(
        t.o, actor=t.rina_user, task=t.task("pack"), title="On the clerks' task"
    )
    on_ship = ef.make_record(
        t.o, actor=t.rina_user, task=t.task("ship"), title="On the forwarder's task"
    )
    of_organisation = ef.make_record(t.o, actor=t.rina_user, title="Company-wide")

    client.force_login(t.joko_user)
    html = text(client.get(url("record-list", t)))
    assert "On the run" in html and "On the forwarder&#x27;s task" in html
    assert "clerks" not in html and "Company-wide" not in html
    assert client.get(url("record-detail", t, on_run.pk)).status_code == 200
    assert client.get(url("record-detail", t, on_ship.pk)).status_code == 200
    assert client.get(url("record-detail", t, on_pack.pk)).status_code == 404
    assert client.get(url("record-detail", t, of_organisation.pk)).status_code == 404

    client.force_login(t.olga_user)
    html = text(client.get(url("record-list", t)))
    assert "0 records" in html
    for record in (on_run, on_pack, on_ship, of_organisation):
        assert client.get(url("record-detail", t, record.pk)).status_code == 404
        assert client.get(url("record-verify", t, record.pk)).status_code == 404


def test_the_list_filters_by_status_kind_run_and_words(client: Any, t: ef.Team) -> None:
    run_record(t, title="Truck leaves on the 12th")
    ef.verified_record(t.o, actor=t.rina_user, verifier=t.ani_user, run=t.run)
    ef.make_record(
        t.o,
        actor=t.rina_user,
        title="Scale reading",
        kind=RecordKind.MEASUREMENT,
        items=[ef.value("480", "kg")],
    )
    client.force_login(t.admin)
    page = url("record-list", t)
    assert "3 records" in text(client.get(page))
    assert "1 record<" in text(client.get(page + "?status=verified"))
    assert "2 records" in text(client.get(page + "?status=unverified"))
    html = text(client.get(page + "?kind=measurement"))
    assert "1 record<" in html and "Scale reading" in html
    assert "2 records" in text(client.get(page + f"?run={t.run.pk}"))
    assert "1 record<" in text(client.get(page + "?q=scale"))
    assert "No information matches." in text(client.get(page + "?q=nothing-like-it"))
    # unknown values are ignored, not errors
    assert "3 records" in text(client.get(page + "?status=bogus&kind=x&run=abc"))
    # htmx asks for the results only
    partial = client.get(page + "?status=verified", **HTMX)
    assert partial.status_code == 200
    assert "<html" not in text(partial) and 'id="list-results"' in text(partial)


def test_the_list_keeps_a_fixed_number_of_queries(client: Any, t: ef.Team) -> None:
    run_record(t, items=[ef.link()])
    client.force_login(t.admin)
    page = url("record-list", t)
    count_queries(client, page)  # warm caches
    small = count_queries(client, page)
    for number in range(12):
        run_record(t, title=f"Record {number}", items=[ef.link(), ef.value()])
        ef.make_record(t.o, actor=t.ani_user, task=t.task("pack"), title=f"T{number}")
    assert count_queries(client, page) == small
    client.force_login(t.joko_user)
    count_queries(client, page)
    assert count_queries(client, page) == small


# --- recording information --------------------------------------------------------


def test_the_new_record_form_records_information_with_several_pieces_of_evidence(
    client: Any, t: ef.Team, media_root: Path
) -> None:
    client.force_login(t.ani_user)
    page = url("record-new", t)
    response = client.get(page)
    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    assert 'enctype="multipart/form-data"' in html
    assert 'name="evidence-0-file"' in html and 'name="evidence-2-url"' in html
    assert 'accept=".pdf,.png,' in html
    assert "at most 20 MB" in html
    assert f'<option value="{t.run.pk}">' in html  # the run may be chosen

    response = client.post(
        page,
        {
            **record_data(run=t.run.pk),
            **rows(
                **{
                    "0-file": ef.upload("notice.pdf", ef.sample_pdf_bytes()),
                    "0-label": "The forwarder's notice",
                    "1-url": "https://forwarder.example.com/notice/118",
                    "2-quantity": "12.5",
                    "2-unit": "t",
                }
            ),
        },
    )
    record = InformationRecord.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("record-detail", t, record.pk)
    assert record.run_id == t.run.pk and record.task_id is None
    assert record.status == RecordStatus.UNVERIFIED
    assert record.recorded_by_id == t.ani_user.pk
    items = list(record.evidence.order_by("pk"))
    assert [item.kind for item in items] == ["file", "link", "value"]
    assert items[0].original_name == "notice.pdf"
    assert items[0].label == "The forwarder's notice"
    assert items[2].quantity == 12.5 and items[2].unit == "t"
    assert ef.stored_files(t.o) == [items[0].file.name]

    html = text(client.get(response["Location"]))
    assert "It stays unverified until someone other than you checks it." in html
    assert "notice.pdf" in html and "12.5 t" in html


def test_a_record_about_a_run_or_a_task_is_prefilled(client: Any, t: ef.Team) -> None:
    pack = t.task("pack")
    client.force_login(t.rina_user)

    html = text(client.get(url("run-record-new", t, t.run.pk)))
    assert t.run.title in html
    assert 'name="run"' not in html  # the page names the run
    assert f'<option value="{pack.pk}">pack' in html.lower() or pack.name in html
    response = client.post(
        url("run-record-new", t, t.run.pk),
        {**record_data(task=pack.pk), **rows(**{"0-url": "https://example.com/a"})},
    )
    assert response.status_code == 302
    made = InformationRecord.objects.get()
    assert (made.run_id, made.task_id) == (t.run.pk, pack.pk)

    html = text(client.get(url("task-record-new", t, pack.pk)))
    assert 'name="run"' not in html and 'name="task"' not in html
    assert 'value="task_evidence"' in html
    response = client.post(
        url("task-record-new", t, pack.pk),
        {
            **record_data(kind=RecordKind.TASK_EVIDENCE),
            **rows(**{"0-url": "https://example.com/b"}),
        },
    )
    assert response.status_code == 302
    latest = InformationRecord.objects.order_by("-pk").first()
    assert latest is not None
    assert (latest.run_id, latest.task_id, latest.kind) == (
        t.run.pk,
        pack.pk,
        RecordKind.TASK_EVIDENCE,
    )


def test_after_recording_the_caller_goes_back_where_they_came_from(
    client: Any, t: ef.Team
) -> None:
    client.force_login(t.rina_user)
    back = url("run-detail", t, t.run.pk) + "#information"
    page = url("run-record-new", t, t.run.pk) + "?next=" + quote(back)
    html = text(client.get(page))
    assert f'<input type="hidden" name="next" value="{back}">' in html
    response = client.post(
        url("run-record-new", t, t.run.pk),
        {**record_data(), "next": back, **rows(**{"0-url": "https://example.com"})},
    )
    assert response.status_code == 302 and response["Location"] == back
    # another site is never where it goes
    response = client.post(
        url("run-record-new", t, t.run.pk),
        {
            **record_data(),
            "next": "https://evil.example.com/",
            **rows(**{"0-url": "https://example.com"}),
        },
    )
    latest = InformationRecord.objects.order_by("-pk").first()
    assert latest is not None
    assert response["Location"] == url("record-detail", t, latest.pk)


def test_who_may_not_record_gets_no_form(client: Any, t: ef.Team) -> None:
    pack = t.task("pack")
    before = snapshot()
    client.force_login(t.o.auditor)
    assert client.get(url("record-new", t)).status_code == 403
    assert client.post(url("record-new", t), record_data()).status_code == 403
    client.force_login(t.joko_user)  # a partner: only runs and tasks of their own
    html = text(client.get(url("record-new", t)))
    assert f'<option value="{t.run.pk}">' in html
    response = client.post(url("record-new", t), {**record_data(), **rows()})
    assert response.status_code == 422
    assert "Choose the run this information is about." in text(response)
    assert client.get(url("task-record-new", t, pack.pk)).status_code == 404
    assert client.get(url("run-record-new", t, t.run.pk)).status_code == 200
    assert client.get(url("task-record-new", t, t.task("ship").pk)).status_code == 200
    client.force_login(t.olga_user)
    assert client.get(url("run-record-new", t, t.run.pk)).status_code == 404
    assert snapshot() == before


def test_form_errors_are_specific_and_nothing_is_written(
    client: Any, t: ef.Team
) -> None:
    client.force_login(t.rina_user)
    before = snapshot()
    response = client.post(
        url("record-new", t),
        {
            **record_data(title="", source_kind="", source_detail=""),
            **rows(
                **{
                    "0-url": "https://example.com/x",
                    "0-quantity": "3",
                    "0-unit": "kg",
                    "1-quantity": "4",
                    "2-url": "not a web address",
                }
            ),
        },
    )
    assert response.status_code == 422
    html = text(response)
    assert "Nothing was saved." in html
    assert "Say where the information came from." in html
    assert "One piece of evidence per row: a file, a link or a measured value." in html
    assert "Give the unit of the measured value." in html
    assert "Enter a full web address (https://…)." in html
    assert snapshot() == before


def test_a_moment_in_the_future_is_refused_on_its_field(
    client: Any, t: ef.Team
) -> None:
    client.force_login(t.rina_user)
    later = timezone.localtime(
        timezone.now() + dt.timedelta(days=3), timezone=dt.UTC
    ).strftime("%Y-%m-%dT%H:%M")
    before = snapshot()
    response = client.post(
        url("record-new", t), {**record_data(observed_at=later), **rows()}
    )
    assert response.status_code == 422
    field = text(response).split('data-field="observed_at"', 1)[1].split("</div>")[0:3]
    assert "This moment is still in the future." in "".join(field)
    assert snapshot() == before


HOSTILE = [
    pytest.param(
        "drawing.svg", SVG, "Files of type .svg cannot be uploaded.", id="svg"
    ),
    pytest.param("invoice.pdf", HTML, MARKUP, id="html-named-pdf"),
    pytest.param("invoice.pdf", EXE, PROGRAM, id="program-named-pdf"),
    pytest.param(
        "notes.txt",
        b"line one\x00\x01\x02",
        "This text file contains NUL bytes",
        id="binary-named-text",
    ),
    pytest.param("empty.pdf", b"", "The file is empty.", id="empty"),
]


@pytest.mark.parametrize(("name", "content", "message"), HOSTILE)
def test_hostile_uploads_show_an_error_and_store_nothing(
    client: Any, t: ef.Team, media_root: Path, name: str, content: bytes, message: str
) -> None:
    client.force_login(t.rina_user)
    before = snapshot()
    response = client.post(
        url("record-new", t),
        {
            **record_data(run=t.run.pk),
            **rows(
                **{
                    "0-url": "https://example.com/fine",
                    "1-file": ef.upload(name, content),
                }
            ),
        },
    )
    assert response.status_code == 422
    html = text(response)
    assert "Nothing was saved." in html
    assert "Choose the files again" in html or not content
    # the message sits on the row of the refused file
    fieldsets = html.split('<fieldset class="evidence-row')[1:]
    assert message in fieldsets[1]
    assert fieldsets[1].startswith(" has-error")
    assert message not in fieldsets[0]
    assert snapshot() == before
    assert ef.stored_files(t.o) == []
    assert not any(media_root.rglob("*.*"))


def test_a_refused_second_file_stores_neither_file(
    client: Any, t: ef.Team, media_root: Path
) -> None:
    client.force_login(t.rina_user)
    before = snapshot()
    response = client.post(
        url("record-new", t),
        {
            **record_data(run=t.run.pk),
            **rows(
                **{
                    "0-file": ef.upload("good.pdf", ef.sample_pdf_bytes()),
                    "1-file": ef.upload("bad.png", HTML),
                }
            ),
        },
    )
    assert response.status_code == 422
    fieldsets = text(response).split('<fieldset class="evidence-row')[1:]
    assert MARKUP in fieldsets[1] and MARKUP not in fieldsets[0]
    assert snapshot() == before
    assert not any(media_root.rglob("*.*"))


def test_the_organisation_settings_limit_what_the_form_accepts(
    client: Any, t: ef.Team
) -> None:
    EvidenceSettings.objects.update_or_create(
        organisation=t.organisation,
        defaults={"allowed_types": ["png"], "max_file_megabytes": 1},
    )
    client.force_login(t.rina_user)
    html = text(client.get(url("record-new", t)))
    assert 'accept=".png"' in html and "PNG; at most 1 MB." in html
    before = snapshot()
    response = client.post(
        url("record-new", t),
        {
            **record_data(),
            **rows(**{"0-file": ef.upload("note.pdf", ef.sample_pdf_bytes())}),
        },
    )
    assert response.status_code == 422
    assert "Files of type .pdf cannot be uploaded. Allowed: .png." in text(response)
    response = client.post(
        url("record-new", t),
        {
            **record_data(),
            **rows(
                **{
                    "0-file": ef.upload(
                        "big.png", ef.sample_png_bytes() + b"\x00" * 1_100_000
                    )
                }
            ),
        },
    )
    assert response.status_code == 422
    assert "The file is larger than 1 MB." in text(response)
    assert snapshot() == before


# --- a record's page ---------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "ani", "auditor", "joko"])
def test_the_record_page_shows_status_source_evidence_and_checks(
    client: Any, t: ef.Team, who: str
) -> None:
    record = run_record(t, items=[ef.pdf(label="Scan"), ef.link(), ef.value("3", "t")])
    user = {
        "admin": t.admin,
        "ani": t.ani_user,
        "auditor": t.o.auditor,
        "joko": t.joko_user,
    }[who]
    client.force_login(user)
    response = client.get(url("record-detail", t, record.pk))
    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    assert badges(html) == ["unverified"]
    assert ">hearsay</abbr>" in html
    assert "Nobody other than its author has checked this information" in html
    assert "The forwarder&#x27;s dispatcher, by phone" in html
    file_item = record.evidence.get(kind="file")
    assert url("evidence-download", t, file_item.pk) in html
    assert "delivery-note.pdf" in html and "3 t" in html
    assert 'href="https://forwarder.example.com/notice/118"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert "Nobody has checked this information yet." in html
    verify_action = f'action="{url("record-verify", t, record.pk)}"'
    add_action = f'action="{url("record-add-evidence", t, record.pk)}"'
    # who may record on the run may check and add; the auditor only reads
    assert (verify_action in html) == (who != "auditor")
    assert (add_action in html) == (who != "auditor")


def test_the_author_cannot_verify(client: Any, t: ef.Team) -> None:
    record = run_record(t, items=[ef.link()])
    client.force_login(t.rina_user)
    html = text(client.get(url("record-detail", t, record.pk)))
    assert f'action="{url("record-verify", t, record.pk)}"' not in html
    assert AUTHOR_REFUSAL in section(html, "checks-title")
    assert f'action="{url("record-add-evidence", t, record.pk)}"' in html

    response = client.get(url("record-verify", t, record.pk))
    assert response.status_code == 403
    assert AUTHOR_REFUSAL in text(response)
    assert 'name="verdict"' not in text(response)

    before = snapshot()
    response = client.post(
        url("record-verify", t, record.pk),
        {"verdict": Verdict.VERIFIED, "note": "I am sure", "version": record.version}
        | rows("check", 1),
    )
    assert response.status_code == 403
    assert AUTHOR_REFUSAL in text(response)
    assert "Nothing was saved." in text(response)
    assert snapshot() == before
    record.refresh_from_db()
    assert record.status == RecordStatus.UNVERIFIED


def test_the_auditor_cannot_verify(client: Any, t: ef.Team) -> None:
    record = run_record(t)
    client.force_login(t.o.auditor)
    before = snapshot()
    assert client.get(url("record-verify", t, record.pk)).status_code == 403
    response = client.post(
        url("record-verify", t, record.pk),
        {"verdict": "verified", "note": "x", "version": record.version}
        | rows("check", 1),
    )
    assert response.status_code == 403
    assert snapshot() == before


def test_verifying_as_someone_else_changes_the_status_and_shows_the_history(
    client: Any, t: ef.Team
) -> None:
    record = run_record(t, items=[ef.link()])
    client.force_login(t.ani_user)
    page = url("record-detail", t, record.pk)
    html = text(client.get(page))
    assert 'name="verdict"' in html and 'value="unverified"' not in html

    response = client.post(
        url("record-verify", t, record.pk),
        {
            "verdict": Verdict.VERIFIED,
            "note": "Matches the forwarder's written notice.",
            "version": record.version,
            **rows(
                prefix="check",
                total=1,
                **{"0-file": ef.upload("notice.pdf", ef.sample_pdf_bytes())},
            ),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == page + "#checks"
    record.refresh_from_db()
    assert record.status == RecordStatus.VERIFIED
    assert record.verified_by_id == t.ani_user.pk
    check = Verification.objects.get()
    assert check.evidence.get().original_name == "notice.pdf"

    html = text(client.get(page))
    assert "the information is now verified." in html
    assert badges(html)[0] == "verified"
    assert ">hearsay</abbr>" not in html
    checks = section(html, "checks-title")
    assert "Matches the forwarder&#x27;s written notice." in checks
    assert "(was unverified)" in checks and "notice.pdf" in checks
    # the verdict it has is not offered again
    assert 'value="verified"' not in html.split('id="verify"', 1)[1]

    # someone else disputes it: both checks are listed, the newest decides
    client.force_login(t.admin)
    response = client.post(
        url("record-verify", t, record.pk),
        {
            "verdict": Verdict.DISPUTED,
            "note": "The notice is dated a week earlier.",
            "version": record.version,
            **rows("check", 1),
        },
    )
    assert response.status_code == 302
    html = text(client.get(page))
    assert badges(html)[0] == "disputed" and ">hearsay</abbr>" in html
    checks = section(html, "checks-title")
    assert checks.count('class="deviation ') == 2
    assert "(was verified)" in checks


def test_a_verdict_needs_a_note_and_a_stale_page_is_refused(
    client: Any, t: ef.Team
) -> None:
    record = run_record(t)
    client.force_login(t.ani_user)
    before = snapshot()
    response = client.post(
        url("record-verify", t, record.pk),
        {"verdict": Verdict.REFUTED, "note": "", "version": record.version}
        | rows("check", 1),
    )
    assert response.status_code == 422
    assert "Say what you checked it against." in text(response)
    response = client.post(
        url("record-verify", t, record.pk),
        {"verdict": "maybe", "note": "x", "version": record.version} | rows("check", 1),
    )
    assert "Choose verified, disputed or refuted." in text(response)
    records.add_evidence(record, actor=t.rina_user, items=[ef.link()])
    before = snapshot()
    response = client.post(
        url("record-verify", t, record.pk),
        {"verdict": Verdict.VERIFIED, "note": "ok", "version": record.version - 1}
        | rows("check", 1),
    )
    assert response.status_code == 409
    assert "The page below shows the current state." in text(response)
    assert snapshot() == before


def test_adding_evidence_keeps_the_status(client: Any, t: ef.Team) -> None:
    record = ef.verified_record(t.o, actor=t.rina_user, verifier=t.ani_user, run=t.run)
    client.force_login(t.admin)
    response = client.post(
        url("record-add-evidence", t, record.pk),
        rows(**{"0-url": "https://example.com/photo", "0-label": "Photo"}),
    )
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.status == RecordStatus.VERIFIED
    assert record.evidence.filter(url="https://example.com/photo").exists()
    assert "The evidence was added." in text(client.get(response["Location"]))


def test_adding_a_hostile_file_shows_the_error_and_stores_nothing(
    client: Any, t: ef.Team, media_root: Path
) -> None:
    record = run_record(t)
    client.force_login(t.ani_user)
    before = snapshot()
    response = client.post(
        url("record-add-evidence", t, record.pk),
        rows(**{"0-file": ef.upload("pic.png", SVG)}),
    )
    assert response.status_code == 422
    html = text(response)
    assert MARKUP in section(html, "evidence-title")
    assert '<details class="inline-form" id="add-evidence" open>' in html
    response = client.post(url("record-add-evidence", t, record.pk), rows())
    assert "Add at least one piece of evidence" in text(response)
    assert snapshot() == before
    assert not any(media_root.rglob("*.*"))
    client.force_login(t.o.auditor)
    assert (
        client.post(
            url("record-add-evidence", t, record.pk),
            rows(**{"0-url": "https://example.com"}),
        ).status_code
        == 403
    )
    assert snapshot() == before


def test_the_record_page_keeps_a_fixed_number_of_queries(
    client: Any, t: ef.Team
) -> None:
    small = run_record(t, items=[ef.link()])
    big = run_record(
        t, items=[ef.link(), ef.pdf(), ef.value(), ef.pdf("b.pdf"), ef.link()]
    )
    for verdict, user in (
        (Verdict.VERIFIED, t.ani_user),
        (Verdict.DISPUTED, t.admin),
        (Verdict.VERIFIED, t.ani_user),
    ):
        big.refresh_from_db()
        verification.verify(
            big,
            actor=user,
            verdict=verdict,
            note="checked",
            expected_version=big.version,
            items=[ef.link()],
        )
    Citation.objects.create(
        organisation=t.organisation,
        record=big,
        citing_kind=CitingKind.DEVIATION_DECISION,
        citing_id=1,
        status_when_cited="verified",
        cited_by=t.admin,
        cited_at=timezone.now(),
    )
    client.force_login(t.joko_user)
    count_queries(client, url("record-detail", t, small.pk))
    assert count_queries(client, url("record-detail", t, small.pk)) == count_queries(
        client, url("record-detail", t, big.pk)
    )


# --- downloads --------------------------------------------------------------------


def test_a_download_is_an_attachment_never_sniffed_and_sandboxed(
    client: Any, t: ef.Team
) -> None:
    name = 'Surat jalan №5 "final".pdf'
    content = ef.sample_pdf_bytes("Surat jalan")
    record = run_record(
        t,
        items=[records.NewFile(upload=ef.upload(name, content), name=name)],
    )
    item = record.evidence.get()
    client.force_login(t.o.auditor)
    response = client.get(url("evidence-download", t, item.pk))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert response["Content-Type"] == "application/pdf"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "inline" not in disposition
    assert f"filename*=utf-8''{quote(name)}" in disposition
    assert "\n" not in disposition and "\r" not in disposition
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].split(";")[0] == "sandbox"
    assert "no-store" in response["Cache-Control"]


def test_only_who_may_see_the_record_downloads_its_files(
    client: Any, t: ef.Team
) -> None:
    on_pack = ef.make_record(
        t.o, actor=t.rina_user, task=t.task("pack"), items=[ef.pdf()]
    )
    on_run = run_record(t, items=[ef.pdf("run.pdf")])
    pack_file = on_pack.evidence.get()
    run_file = on_run.evidence.get()
    client.force_login(t.joko_user)
    assert client.get(url("evidence-download", t, pack_file.pk)).status_code == 404
    assert client.get(url("evidence-download", t, run_file.pk)).status_code == 200
    client.force_login(t.olga_user)
    assert client.get(url("evidence-download", t, run_file.pk)).status_code == 404
    client.logout()
    response = client.get(url("evidence-download", t, run_file.pk))
    assert response.status_code == 302 and "login" in response["Location"]
    # a link or value item has nothing to download
    linked = run_record(t, items=[ef.link()]).evidence.get()
    client.force_login(t.admin)
    assert client.get(url("evidence-download", t, linked.pk)).status_code == 404


def test_text_files_download_with_their_stored_type(client: Any, t: ef.Team) -> None:
    content = b"Tanggal;Berat\n2026-03-02;480,5 kg\n"
    record = run_record(
        t,
        items=[
            records.NewFile(upload=ef.upload("notes.csv", content), name="notes.csv")
        ],
    )
    client.force_login(t.admin)
    response = client.get(url("evidence-download", t, record.evidence.get().pk))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


# --- evidence on a task, and the task and run panels ------------------------------------


def test_attaching_evidence_completes_a_task_awaiting_it(client: Any) -> None:
    t = ef.team(pack="evidence")
    pack = t.task("pack")
    chains.complete_task(pack, actor=t.rina_user, expected_version=pack.version)
    pack.refresh_from_db()
    assert pack.status == TaskStatus.AWAITING
    client.force_login(t.ani_user)
    page = url("task-evidence-attach", t, pack.pk)
    response = client.get(page)
    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    assert "Attach the evidence this task requires before completing it." in html
    assert "The signed delivery note" in html

    before = snapshot()
    response = client.post(page, {"title": "", "statement": "", **rows()})
    assert response.status_code == 422
    assert "Add at least one piece of evidence" in text(response)
    assert snapshot() == before

    response = client.post(
        page,
        {
            "title": "",
            "statement": "",
            **rows(**{"0-file": ef.upload("note.pdf", ef.sample_pdf_bytes())}),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url("task-detail", t, pack.pk) + "#task-evidence"
    record = InformationRecord.objects.get()
    assert record.kind == RecordKind.TASK_EVIDENCE and record.task_id == pack.pk
    pack.refresh_from_db()
    assert pack.status == TaskStatus.DONE


def test_attaching_is_refused_to_readers_and_other_parties(
    client: Any, t: ef.Team
) -> None:
    pack = t.task("pack")
    before = snapshot()
    client.force_login(t.o.auditor)
    assert client.get(url("task-evidence-attach", t, pack.pk)).status_code == 403
    client.force_login(t.joko_user)
    assert client.get(url("task-evidence-attach", t, pack.pk)).status_code == 404
    response = client.post(
        url("task-evidence-attach", t, pack.pk),
        rows(**{"0-url": "https://example.com"}),
    )
    assert response.status_code == 404
    assert snapshot() == before


def panel_context(t: ef.Team, user: Any, **extra: Any) -> dict[str, Any]:
    access = access_for(user, t.organisation.slug)
    request = RequestFactory().get("/")
    request.user = user
    return {
        "access": access,
        "organisation": t.organisation,
        "request": request,
        **extra,
    }


def test_the_task_panel_says_what_is_missing_and_lists_the_evidence(
    django_assert_max_num_queries: Any,
) -> None:
    t = ef.team(pack="verified")
    pack = t.task("pack")
    context = panel_context(t, t.ani_user, task=pack)
    panels = evidence_views.task_panels(context["request"], context["access"], pack)
    html = render_to_string("web/evidence/_task_panel.html", {**context, **panels})
    assert "Attach the evidence this task requires before completing it." in html
    assert "Someone other than you then has to check it." in html
    assert url("task-evidence-attach", t, pack.pk) in html
    assert "No evidence or information has been recorded for this task yet." in html

    ef.make_record(
        t.o,
        actor=t.ani_user,
        task=pack,
        kind=RecordKind.TASK_EVIDENCE,
        items=[ef.pdf()],
        title="Packing photo",
    )
    with django_assert_max_num_queries(8):
        panels = evidence_views.task_panels(context["request"], context["access"], pack)
    html = render_to_string("web/evidence/_task_panel.html", {**context, **panels})
    assert "The evidence is attached but not yet checked" in html
    assert "Packing photo" in html and ">hearsay</abbr>" in html

    # the auditor reads the panel without the form
    auditor = panel_context(t, t.o.auditor, task=pack)
    panels = evidence_views.task_panels(auditor["request"], auditor["access"], pack)
    html = render_to_string("web/evidence/_task_panel.html", {**auditor, **panels})
    assert url("task-evidence-attach", t, pack.pk) not in html
    assert "Packing photo" in html


def test_the_run_panel_lists_the_run_records_with_their_status(t: ef.Team) -> None:
    run_record(t, title="Truck delayed")
    ef.verified_record(t.o, actor=t.rina_user, verifier=t.ani_user, run=t.run)
    ef.make_record(t.o, actor=t.rina_user, task=t.task("pack"), title="Clerks only")
    context = panel_context(t, t.joko_user, run=t.run)
    panels = evidence_views.run_panels(context["request"], context["access"], t.run)
    html = render_to_string("web/evidence/_run_panel.html", {**context, **panels})
    assert "Truck delayed" in html and "Clerks only" not in html
    assert sorted(badges(html)) == ["unverified", "verified"]
    assert "1 record is not verified" in html
    assert url("run-record-new", t, t.run.pk) in html
    auditor = panel_context(t, t.o.auditor, run=t.run)
    panels = evidence_views.run_panels(auditor["request"], auditor["access"], t.run)
    html = render_to_string("web/evidence/_run_panel.html", {**auditor, **panels})
    assert "Clerks only" in html and url("run-record-new", t, t.run.pk) not in html


# --- the upload settings ----------------------------------------------------------


def test_administrators_change_the_upload_settings(client: Any, t: ef.Team) -> None:
    page = url("evidence-settings", t)
    for user in (t.rina_user, t.o.auditor, t.joko_user):
        client.force_login(user)
        assert client.get(page).status_code == 403
    client.force_login(t.admin)
    response = client.get(page)
    assert response.status_code == 200
    assert_csp_clean(response)
    assert 'value="docx"' in text(response) and "20 MB" in text(response)
    settings = EvidenceSettings.objects.get(organisation=t.organisation)
    response = client.post(
        page,
        {
            "allowed_types": ["pdf", "png"],
            "max_file_megabytes": "5",
            "version": settings.version,
        },
    )
    assert response.status_code == 302
    settings.refresh_from_db()
    assert (settings.allowed_types, settings.max_file_megabytes) == (["pdf", "png"], 5)
    before = snapshot()
    response = client.post(
        page,
        {"allowed_types": ["exe"], "max_file_megabytes": "900", "version": 99},
    )
    assert response.status_code == 200
    html = text(response)
    assert "The largest file is 1 to 500 MB." in html
    assert "Select a valid choice." in html
    assert snapshot()["events"] == before["events"]


# --- decisions that rest on information ---------------------------------------------


def test_an_approval_decision_rests_on_records_and_says_when_they_are_unverified(
    client: Any, acme: Any
) -> None:
    coord = build_coord(acme)
    run = start_run(coord)
    request = ask(coord, run)
    heard = ef.make_record(
        acme,
        actor=coord.team.dina,
        run=run,
        title="The customer says the ship is late",
        now=timezone.now(),
    )
    checked = ef.verified_record(
        acme,
        actor=coord.team.dina,
        verifier=acme.admin,
        run=run,
        now=timezone.now(),
    )
    InformationRecord.objects.filter(pk=checked.pk).update(title="The carrier's notice")
    page = url("approval-detail", acme.organisation, request.pk)
    client.force_login(coord.rina)
    html = text(client.get(page))
    decide_part = section(html, "decide-title")
    assert "Information this decision rests on" in decide_part
    assert "The customer says the ship is late (unverified — hearsay)" in decide_part
    assert "The carrier&#x27;s notice (verified)" in decide_part

    response = client.post(
        url("approval-decide", acme.organisation, request.pk),
        {
            "outcome": "approve",
            "comment": "",
            "version": request.version,
            "rests_on": [heard.pk, checked.pk],
        },
    )
    assert response.status_code == 302
    decision = Decision.objects.get(request=request)
    cited = Citation.objects.filter(
        citing_kind=CitingKind.APPROVAL_DECISION, citing_id=decision.pk
    )
    assert sorted(cited.values_list("record_id", flat=True)) == sorted(
        [heard.pk, checked.pk]
    )
    assert {c.record_id: c.status_when_cited for c in cited} == {
        heard.pk: "unverified",
        checked.pk: "verified",
    }

    html = text(client.get(page))
    decisions = section(html, "decisions-title")
    assert "rests on unverified information" in decisions
    assert "Rests on unverified information." in decisions
    assert url("record-detail", acme.organisation, heard.pk) in decisions
    assert "badge-record-unverified" in decisions and ">hearsay</abbr>" in decisions

    # the record says what rests on it, with a link to the request
    html = text(client.get(url("record-detail", acme.organisation, heard.pk)))
    cited_by = section(html, "cited-title")
    assert "Approval decision on" in cited_by
    assert url("approval-detail", acme.organisation, request.pk) in cited_by

    # once verified, the decision no longer rests on unverified information
    for record in (heard,):
        record.refresh_from_db()
        verification.verify(
            record,
            actor=acme.admin,
            verdict=Verdict.VERIFIED,
            note="Confirmed by the shipping line",
            expected_version=record.version,
        )
    html = text(client.get(page))
    assert "Rests on unverified information." not in section(html, "decisions-title")


def test_a_decision_citing_a_record_it_may_not_cite_writes_nothing(
    client: Any, acme: Any
) -> None:
    coord = build_coord(acme)
    run = start_run(coord)
    other = start_run(coord, title="Another run")
    request = ask(coord, run)
    elsewhere = ef.make_record(
        acme, actor=coord.team.dina, run=other, now=timezone.now()
    )
    ef.make_record(acme, actor=coord.team.dina, run=run, now=timezone.now())
    client.force_login(coord.rina)
    decisions_before = Decision.objects.count()
    response = client.post(
        url("approval-decide", acme.organisation, request.pk),
        {
            "outcome": "approve",
            "comment": "",
            "version": request.version,
            "rests_on": [elsewhere.pk],
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice." in text(response) or (
        "cannot be cited here" in text(response)
    )
    assert Decision.objects.count() == decisions_before
    assert not Citation.objects.exists()
