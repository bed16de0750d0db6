# mypy: disable-error-code="attr-defined"
# (the test client's responses have .json(); django-stubs types them as HttpResponse)
"""Information records through the API (docs/design-evidence.md): listing and
reading records (partners see only the runs they take part in), recording with
links and values, uploading files (hostile ones refused, nothing stored),
downloading them safely, verification by someone other than the author, a task's
evidence, and citations — each with its refusals (problem+json, nothing written),
stale versions (409) and idempotent replays.

The team (`rantai.evidence.tests.factories`): acme's run of SHIP — `pack` (Export
clerk: Budi and Ani; accountable Rina, acme.member) then `ship` (the forwarder,
Joko = acme.partner). Olga is a partner of the Other Carrier, which takes no
part in the run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.api.tests.conftest import Api, api_for, audit_head, problem_of
from rantai.evidence import verification
from rantai.evidence.models import (
    Citation,
    EvidenceItem,
    InformationRecord,
    RecordKind,
    Verification,
)
from rantai.evidence.tests import factories as ef
from rantai.obstacles import reviews
from rantai.obstacles.models import ReviewTrigger
from rantai.roles.tests import factories as f

BASE = "/orgs/acme"
KEY = {"Idempotency-Key": "0b6c9a1e-5d2f-4c3b-9e8a-7f6d5c4b3a21"}
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body>"
SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
    b"<script>alert(1)</script></svg>"
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Every test stores its files in a folder of its own."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def t(db) -> ef.Team:
    return ef.team(pack="evidence")


@pytest.fixture
def other(db):  # type: ignore[no-untyped-def]
    return f.organisation("globex", prefix="g-")


def _refused(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = problem_of(response)
    if code is not None:
        assert body["code"] == code
    return body


def _items(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["items"])
    return body["items"]  # type: ignore[no-any-return]


def _state() -> list[Any]:
    """Everything an evidence write could have changed."""
    return [
        sorted(InformationRecord.objects.values_list("pk", "version", "status")),
        sorted(EvidenceItem.objects.values_list("pk")),
        sorted(Verification.objects.values_list("pk")),
        sorted(Citation.objects.values_list("pk")),
    ]


class Unchanged:
    """Asserts that a refused request wrote nothing: rows, files, audit trail."""

    def __init__(self, team: ef.Team) -> None:
        self.team = team
        self.state = _state()
        self.files = ef.stored_files(team.o)
        self.head = audit_head(team.organisation)

    def check(self) -> None:
        assert _state() == self.state
        assert ef.stored_files(self.team.o) == self.files
        assert audit_head(self.team.organisation) == self.head


def _record_body(t: ef.Team, **changes: Any) -> dict[str, Any]:
    return {
        "title": "The truck leaves on the 12th",
        "statement": "The forwarder's dispatcher says the truck leaves on the 12th.",
        "source_kind": "person",
        "source_detail": "The forwarder's dispatcher, by phone",
        "run_id": t.run.pk,
        **changes,
    }


def _upload(api: Api, path: str, name: str, content: bytes, **fields: str) -> Any:
    """POST a file as multipart/form-data, as a browser or curl -F does."""
    upload = io.BytesIO(content)
    upload.name = name
    headers = {"Authorization": f"Bearer {api.token}"}
    key = fields.pop("key", None)
    if key:
        headers["Idempotency-Key"] = key
    return api.client.post(
        f"/api/v1{BASE}{path}", {"file": upload, **fields}, headers=headers
    )


def _record(t: ef.Team, **options: Any) -> InformationRecord:
    return ef.make_record(t.o, actor=t.rina_user, run=t.run, **options)


# --- reading --------------------------------------------------------------------------


def test_the_list_shows_each_record_with_its_status_and_evidence(t):
    claim = _record(t, items=[ef.link(), ef.value()])
    checked = ef.verified_record(t.o, actor=t.rina_user, verifier=t.ani_user, run=t.run)

    rows = _items(api_for(t.o.auditor).get(f"{BASE}/records"))

    by_id = {row["id"]: row for row in rows}
    assert list(by_id) == sorted(by_id, reverse=True)
    assert by_id[claim.pk] | {"created_at": None, "updated_at": None} == {
        "id": claim.pk,
        "kind": "claim",
        "title": "The truck leaves on the 12th",
        "statement": "The forwarder's dispatcher says the truck leaves on the 12th.",
        "source_kind": "person",
        "source_detail": "The forwarder's dispatcher, by phone",
        "source_party_id": None,
        "source_party_name": None,
        "run_id": t.run.pk,
        "run_title": t.run.title,
        "task_id": None,
        "task_name": None,
        "observed_at": None,
        "status": "unverified",
        "is_hearsay": True,
        "evidence_count": 2,
        "recorded_by_id": t.rina_user.pk,
        "recorded_by_name": "Member",
        "recorded_at": "2026-03-02T01:30:00Z",
        "verified_by_id": None,
        "verified_at": None,
        "version": 1,
        "created_at": None,
        "updated_at": None,
    }
    assert by_id[checked.pk]["status"] == "verified"
    assert by_id[checked.pk]["is_hearsay"] is False
    assert by_id[checked.pk]["verified_by_id"] == t.ani_user.pk


def test_the_list_filters_by_status_run_task_kind_and_words(t):
    claim = _record(t)
    evidence = _record(
        t,
        task=t.task("pack"),
        kind=RecordKind.TASK_EVIDENCE,
        items=[ef.link()],
        title="Packing list signed",
    )
    admin = api_for(t.admin)

    def ids(**params: Any) -> list[int]:
        return [row["id"] for row in _items(admin.get(f"{BASE}/records", **params))]

    assert ids() == [evidence.pk, claim.pk]
    assert ids(task_id=t.task("pack").pk) == [evidence.pk]
    assert ids(kind="task_evidence") == [evidence.pk]
    assert ids(status="verified") == []
    assert ids(run_id=t.run.pk, q="packing") == [evidence.pk]
    _refused(admin.get(f"{BASE}/records", status="true"), 422)


def test_partners_see_only_the_records_of_runs_they_take_part_in(t):
    on_run = _record(t)
    on_pack = _record(t, task=t.task("pack"), title="Packed")
    on_ship = ef.make_record(
        t.o, actor=t.joko_user, run=t.run, task=t.task("ship"), title="Loaded"
    )
    organisation_wide = ef.make_record(t.o, actor=t.rina_user, title="Port closed")

    joko = [row["id"] for row in _items(api_for(t.joko_user).get(f"{BASE}/records"))]
    olga = _items(api_for(t.olga_user).get(f"{BASE}/records"))

    assert sorted(joko) == sorted([on_run.pk, on_ship.pk])
    assert olga == []
    for hidden in (on_pack, organisation_wide):
        _refused(api_for(t.joko_user).get(f"{BASE}/records/{hidden.pk}"), 404)
    _refused(api_for(t.olga_user).get(f"{BASE}/records/{on_run.pk}"), 404)


def test_a_record_in_detail_with_its_evidence_verifications_and_citations(t):
    record = _record(t, items=[ef.pdf(label="Notice"), ef.value("12.5", "tonnes")])
    verification.verify(
        record,
        actor=t.ani_user,
        verdict="disputed",
        note="The notice says the 14th.",
        expected_version=record.version,
        now=ef.T0 + dt.timedelta(hours=1),
    )

    response = api_for(t.rina_user).get(f"{BASE}/records/{record.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert response["ETag"] == f'"{body["version"]}"'
    assert body["status"] == "disputed"
    assert body["is_hearsay"] is True
    assert body["may_verify"] is False  # Rina is the author
    pdf, value = body["evidence"]
    item = EvidenceItem.objects.get(pk=pdf["id"])
    assert pdf == {
        "id": item.pk,
        "kind": "file",
        "label": "Notice",
        "original_name": "delivery-note.pdf",
        "content_type": "application/pdf",
        "size": len(ef.sample_pdf_bytes()),
        "sha256": hashlib.sha256(ef.sample_pdf_bytes()).hexdigest(),
        "download_url": f"/api/v1{BASE}/evidence-items/{item.pk}/download",
        "url": "",
        "quantity": None,
        "unit": "",
        "verification_id": None,
        "added_by_id": t.rina_user.pk,
        "added_at": pdf["added_at"],
    }
    assert (value["kind"], value["quantity"], value["unit"]) == (
        "value",
        "12.5000",
        "tonnes",
    )
    [check] = body["verifications"]
    assert (check["verdict"], check["note"], check["previous_status"]) == (
        "disputed",
        "The notice says the 14th.",
        "unverified",
    )
    assert check["by_id"] == t.ani_user.pk
    assert body["citations"] == []
    assert api_for(t.ani_user).get(f"{BASE}/records/{record.pk}").json()["may_verify"]


def test_another_organisation_sees_nothing(t, other):
    record = _record(t)

    _refused(api_for(other.admin).get(f"{BASE}/records"), 404)
    _refused(api_for(other.admin).get(f"{BASE}/records/{record.pk}"), 404)
    _refused(api_for(t.admin).get(f"{BASE}/records/999999"), 404)


# --- recording ------------------------------------------------------------------------


def test_a_member_records_information_with_links_and_values_and_a_retry_replays(t):
    rina = api_for(t.rina_user)
    body = _record_body(
        t,
        source_party_id=t.o.forwarder.pk,
        observed_at="2026-03-02T09:00:00+07:00",
        items=[
            {"kind": "link", "url": "https://forwarder.example.com/notice/118"},
            {"kind": "value", "quantity": "500", "unit": "boxes", "label": "Loaded"},
        ],
    )
    head = audit_head(t.organisation)

    first = rina.post(f"{BASE}/records", body, KEY)
    again = rina.post(f"{BASE}/records", body, KEY)

    assert first.status_code == 201, first.content
    created = first.json()
    record = InformationRecord.objects.get()
    assert first["Location"] == f"/api/v1{BASE}/records/{record.pk}"
    assert first["ETag"] == '"1"'
    assert created["status"] == "unverified"
    assert created["is_hearsay"] is True
    assert created["source_party_name"] == "Fast Forwarding"
    assert created["observed_at"] == "2026-03-02T02:00:00Z"
    assert [
        (i["kind"], i["url"], i["quantity"], i["unit"]) for i in created["evidence"]
    ] == [
        ("link", "https://forwarder.example.com/notice/118", None, ""),
        ("value", "", "500.0000", "boxes"),
    ]
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == created
    assert InformationRecord.objects.count() == 1
    assert EvidenceItem.objects.count() == 2
    assert audit_head(t.organisation) == head + 1


def test_a_partner_records_on_its_own_task_and_the_run_but_not_elsewhere(t):
    joko = api_for(t.joko_user)

    on_ship = joko.post(f"{BASE}/records", _record_body(t, task_id=t.task("ship").pk))
    on_run = joko.post(f"{BASE}/records", _record_body(t))

    assert on_ship.status_code == 201, on_ship.content
    assert on_ship.json()["run_id"] == t.run.pk
    assert on_run.status_code == 201, on_run.content
    unchanged = Unchanged(t)
    # another party's task is not visible to it; nor is a run it takes no part in
    pack = joko.post(f"{BASE}/records", _record_body(t, task_id=t.task("pack").pk))
    assert _refused(pack, 422)["errors"] == {
        "task_id": ["There is no such record here."]
    }
    olga = api_for(t.olga_user).post(f"{BASE}/records", _record_body(t))
    assert _refused(olga, 422)["errors"] == {
        "run_id": ["There is no such record here."]
    }
    organisation_wide = joko.post(f"{BASE}/records", _record_body(t, run_id=None))
    _refused(organisation_wide, 403)
    unchanged.check()


def test_auditors_and_other_organisations_record_nothing(t, other):
    unchanged = Unchanged(t)

    _refused(api_for(t.o.auditor).post(f"{BASE}/records", _record_body(t)), 403)
    _refused(api_for(other.admin).post(f"{BASE}/records", _record_body(t)), 404)
    unchanged.check()


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        pytest.param(
            {"title": "  "}, {"title": ["This field is required."]}, id="title"
        ),
        pytest.param(
            {"source_kind": "rumour"}, {"source_kind": None}, id="source-kind"
        ),
        pytest.param(
            {"observed_at": "2026-03-02T09:00:00"}, {"observed_at": None}, id="naive"
        ),
        pytest.param(
            {"observed_at": "2999-01-01T00:00:00Z"},
            {"observed_at": ["This moment is still in the future."]},
            id="future",
        ),
        pytest.param(
            {"items": [{"kind": "link", "url": "javascript:alert(1)"}]},
            {"url": ["Enter a web address starting with http or https."]},
            id="bad-link",
        ),
        pytest.param(
            {"items": [{"kind": "value", "quantity": "12", "unit": " "}]},
            {"unit": ["Give the unit of the value."]},
            id="value-without-unit",
        ),
        pytest.param(
            {"items": [{"kind": "file", "url": "x"}]}, {"items.0": None}, id="kind"
        ),
        pytest.param(
            {"kind": "task_evidence"},
            {"task_id": ["Evidence of a task names the task."]},
            id="task-evidence-without-task",
        ),
        pytest.param(
            {"source_party_id": 999999},
            {"source_party_id": ["There is no such record here."]},
            id="unknown-party",
        ),
    ],
)
def test_recording_validates_each_field(t, changes, errors):
    unchanged = Unchanged(t)

    response = api_for(t.rina_user).post(f"{BASE}/records", _record_body(t, **changes))

    body = _refused(response, 422)
    assert set(body["errors"]) == set(errors)
    for field, messages in errors.items():
        if messages is not None:
            assert body["errors"][field] == messages
    unchanged.check()


def test_a_task_of_another_run_is_refused(t):
    second = f.start_run(t.run.procedure_version, actor=t.admin)
    unchanged = Unchanged(t)

    response = api_for(t.rina_user).post(
        f"{BASE}/records",
        _record_body(t, task_id=f.task(second, "pack").pk),
    )

    assert _refused(response, 422)["errors"] == {
        "task_id": ["This task belongs to another run."]
    }
    unchanged.check()


def test_adding_links_and_values_to_a_record(t):
    record = _record(t)

    response = api_for(t.ani_user).post(
        f"{BASE}/records/{record.pk}/evidence",
        {"items": [{"kind": "value", "quantity": 3, "unit": "pallets"}]},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["evidence_count"] == 1
    assert body["status"] == "unverified"
    assert body["version"] == 2
    assert response["ETag"] == '"2"'
    empty = api_for(t.ani_user).post(
        f"{BASE}/records/{record.pk}/evidence", {"items": []}
    )
    assert _refused(empty, 422)["errors"] == {
        "items": ["Add at least one piece of evidence."]
    }
    _refused(
        api_for(t.o.auditor).post(
            f"{BASE}/records/{record.pk}/evidence",
            {"items": [{"kind": "link", "url": "https://example.com/"}]},
        ),
        403,
    )


# --- files ----------------------------------------------------------------------------


def test_uploading_a_file_stores_it_under_a_generated_name_and_a_retry_replays(t):
    record = _record(t)
    rina = api_for(t.rina_user)
    content = ef.sample_pdf_bytes()

    first = _upload(
        rina,
        f"/records/{record.pk}/files",
        "../../notice.pdf",
        content,
        label="Written notice",
        key="upload-1",
    )
    again = _upload(
        rina,
        f"/records/{record.pk}/files",
        "../../notice.pdf",
        content,
        label="Written notice",
        key="upload-1",
    )

    assert first.status_code == 200, first.content
    [item] = first.json()["evidence"]
    assert item["original_name"] == "notice.pdf"
    assert item["label"] == "Written notice"
    assert item["sha256"] == hashlib.sha256(content).hexdigest()
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    [stored] = ef.stored_files(t.o)
    assert stored == EvidenceItem.objects.get().file.name
    assert "notice" not in stored
    # the same key with another file is another request
    other_file = _upload(
        rina,
        f"/records/{record.pk}/files",
        "notice.pdf",
        ef.sample_pdf_bytes("x"),
        key="upload-1",
    )
    assert list(_refused(other_file, 422)["errors"]) == ["Idempotency-Key"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param(
            "note.pdf",
            HTML,
            "This file is a web page, SVG or XML document; it cannot be uploaded.",
            id="html-named-pdf",
        ),
        pytest.param(
            "chart.txt",
            SVG,
            "This file is a web page, SVG or XML document; it cannot be uploaded.",
            id="svg-named-txt",
        ),
        pytest.param("page.html", HTML, None, id="html"),
        pytest.param(
            "scan.png",
            EXE,
            "This file is a program or a script; it cannot be uploaded.",
            id="program-named-png",
        ),
        pytest.param(
            "letter.docx",
            ef.office_bytes("docx", extra=[("word/vbaProject.bin", b"macro")]),
            "Documents with macros cannot be uploaded.",
            id="docx-with-macros",
        ),
    ],
)
def test_a_hostile_file_is_refused_and_nothing_is_stored(t, name, content, message):
    record = _record(t)
    unchanged = Unchanged(t)

    response = _upload(
        api_for(t.rina_user), f"/records/{record.pk}/files", name, content, key="h-1"
    )

    body = _refused(response, 422)
    assert list(body["errors"]) == ["file"]
    if message is not None:
        assert body["errors"]["file"] == [message]
    unchanged.check()


def test_a_hostile_file_attached_to_a_task_creates_no_record(t):
    unchanged = Unchanged(t)

    response = _upload(
        api_for(t.ani_user), f"/tasks/{t.task('pack').pk}/evidence/files", "x.pdf", HTML
    )

    assert list(_refused(response, 422)["errors"]) == ["file"]
    unchanged.check()


def test_an_upload_without_a_file_is_422(t):
    record = _record(t)
    response = api_for(t.rina_user).client.post(
        f"/api/v1{BASE}/records/{record.pk}/files",
        {"label": "nothing"},
        headers={"Authorization": f"Bearer {api_for(t.rina_user).token}"},
    )

    assert list(_refused(response, 422)["errors"]) == ["file"]


def test_a_file_downloads_as_a_sandboxed_attachment(t):
    record = _record(t, items=[ef.pdf("Delivery note.pdf")])
    item = EvidenceItem.objects.get(record=record)

    response = api_for(t.joko_user).get(f"{BASE}/evidence-items/{item.pk}/download")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == ef.sample_pdf_bytes()
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="Delivery note.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response["Cache-Control"] == "private, no-store"


def test_a_file_is_downloaded_only_by_those_who_see_its_record(t, other):
    hidden = _record(t, task=t.task("pack"), items=[ef.pdf()])
    item = EvidenceItem.objects.get(record=hidden)
    link = _record(t, items=[ef.link()])
    link_item = EvidenceItem.objects.get(record=link)
    path = f"{BASE}/evidence-items/{item.pk}/download"

    _refused(api_for(t.joko_user).get(path), 404)  # another party's task
    _refused(api_for(t.olga_user).get(path), 404)
    _refused(api_for(other.admin).get(path), 404)
    _refused(
        api_for(t.admin).get(f"{BASE}/evidence-items/{link_item.pk}/download"), 404
    )
    assert api_for(t.o.auditor).get(path).status_code == 200


# --- verification ---------------------------------------------------------------------


def test_someone_else_verifies_with_the_version_and_a_retry_replays(t):
    record = _record(t, items=[ef.link()])
    ani = api_for(t.ani_user)
    body = {
        "verdict": "verified",
        "note": "Matches the forwarder's written notice.",
        "version": record.version,
        "items": [{"kind": "link", "url": "https://forwarder.example.com/n/118"}],
    }

    first = ani.post(f"{BASE}/records/{record.pk}/verify", body, KEY)
    again = ani.post(f"{BASE}/records/{record.pk}/verify", body, KEY)

    assert first.status_code == 200, first.content
    checked = first.json()
    assert (checked["status"], checked["is_hearsay"]) == ("verified", False)
    assert checked["verified_by_id"] == t.ani_user.pk
    [verification] = checked["verifications"]
    assert [i["verification_id"] for i in checked["evidence"]] == [
        None,
        verification["id"],
    ]
    assert first["ETag"] == f'"{checked["version"]}"'
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == checked
    assert Verification.objects.count() == 1


def test_verifying_with_if_match(t):
    record = _record(t)

    response = api_for(t.ani_user).post(
        f"{BASE}/records/{record.pk}/verify",
        {"verdict": "refuted", "note": "The ship left on the 10th."},
        {"If-Match": f'"{record.version}"'},
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "refuted"


def test_verification_is_refused_to_the_author_auditors_and_stale_versions(t, other):
    record = _record(t)
    path = f"{BASE}/records/{record.pk}/verify"
    body = {"verdict": "verified", "note": "Checked.", "version": record.version}
    unchanged = Unchanged(t)

    author = _refused(api_for(t.rina_user).post(path, body), 403)
    assert author["detail"] == (
        "You recorded this information; someone else has to check it."
    )
    _refused(api_for(t.o.auditor).post(path, body), 403)
    _refused(api_for(t.olga_user).post(path, body), 404)
    _refused(api_for(other.admin).post(path, body), 404)
    _refused(api_for(t.ani_user).post(path, {**body, "version": 7}), 409, "conflict")
    _refused(
        api_for(t.ani_user).post(path, {"verdict": "verified", "note": "x"}),
        428,
        "version_required",
    )
    note = _refused(api_for(t.ani_user).post(path, {**body, "note": " "}), 422)
    assert note["errors"] == {"note": ["Say what you checked the information against."]}
    verdict = _refused(api_for(t.ani_user).post(path, {**body, "verdict": "true"}), 422)
    assert list(verdict["errors"]) == ["verdict"]
    unchanged.check()


def test_the_same_verdict_twice_is_422_unchanged(t):
    record = ef.verified_record(t.o, actor=t.rina_user, verifier=t.ani_user, run=t.run)

    response = api_for(t.admin).post(
        f"{BASE}/records/{record.pk}/verify",
        {"verdict": "verified", "note": "Again.", "version": record.version},
    )

    body = _refused(response, 422, "unchanged")
    assert body["errors"] == {
        "verdict": ["This information is already marked verified."]
    }


# --- a task's evidence ----------------------------------------------------------------


def test_a_tasks_evidence_shows_what_is_missing_then_what_was_attached(t):
    pack = t.task("pack")
    ani = api_for(t.ani_user)

    before = ani.get(f"{BASE}/tasks/{pack.pk}/evidence")
    attached = ani.post(
        f"{BASE}/tasks/{pack.pk}/evidence",
        {"items": [{"kind": "link", "url": "https://example.com/packing-list"}]},
        KEY,
    )
    replayed = ani.post(
        f"{BASE}/tasks/{pack.pk}/evidence",
        {"items": [{"kind": "link", "url": "https://example.com/packing-list"}]},
        KEY,
    )
    uploaded = _upload(
        ani,
        f"/tasks/{pack.pk}/evidence/files",
        "list.pdf",
        ef.sample_pdf_bytes(),
        title="Signed packing list",
    )
    after = ani.get(f"{BASE}/tasks/{pack.pk}/evidence")

    assert before.json()["missing"] == {
        "required": True,
        "needs_verification": False,
        "attached": 0,
        "verified": 0,
        "description": "The signed delivery note",
        "ok": False,
        "message": "Attach the evidence this task requires before completing it.",
    }
    assert before.json()["records"] == []
    assert attached.status_code == 201, attached.content
    record = attached.json()
    assert (record["kind"], record["task_id"], record["source_kind"]) == (
        "task_evidence",
        pack.pk,
        "observation",
    )
    assert record["title"] == "Evidence: Pack"
    assert attached["Location"] == f"/api/v1{BASE}/records/{record['id']}"
    assert replayed["Idempotent-Replayed"] == "true"
    assert uploaded.status_code == 201, uploaded.content
    assert uploaded.json()["title"] == "Signed packing list"
    body = after.json()
    assert body["missing"]["ok"] is True
    assert body["missing"]["attached"] == 2
    assert [r["id"] for r in body["records"]] == [record["id"], uploaded.json()["id"]]
    assert body["records"][1]["evidence"][0]["kind"] == "file"
    assert body["records"][0]["may_verify"] is False  # Ani attached it


def test_a_tasks_evidence_is_for_those_who_may_record_on_it(t, other):
    pack, ship = t.task("pack"), t.task("ship")
    body = {"items": [{"kind": "link", "url": "https://example.com/bill"}]}
    unchanged = Unchanged(t)

    _refused(api_for(t.joko_user).post(f"{BASE}/tasks/{pack.pk}/evidence", body), 404)
    _refused(api_for(t.joko_user).get(f"{BASE}/tasks/{pack.pk}/evidence"), 404)
    _refused(api_for(t.o.auditor).post(f"{BASE}/tasks/{pack.pk}/evidence", body), 403)
    _refused(api_for(other.admin).post(f"{BASE}/tasks/{pack.pk}/evidence", body), 404)
    empty = api_for(t.ani_user).post(f"{BASE}/tasks/{pack.pk}/evidence", {"items": []})
    assert _refused(empty, 422)["errors"] == {
        "items": ["Add at least one piece of evidence."]
    }
    unchanged.check()
    joko = api_for(t.joko_user).post(f"{BASE}/tasks/{ship.pk}/evidence", body)
    assert joko.status_code == 201, joko.content


# --- citations ------------------------------------------------------------------------


def test_a_review_rests_on_records_of_its_run(t):
    review = reviews.open_review(t.run, trigger=ReviewTrigger.REQUESTED, actor=t.admin)
    heard = _record(t)
    checked = ef.verified_record(t.o, actor=t.rina_user, verifier=t.ani_user, run=t.run)
    body = {
        "citing_kind": "review",
        "citing_id": review.pk,
        "record_ids": [heard.pk, checked.pk],
    }

    first = api_for(t.rina_user).post(f"{BASE}/citations", body, KEY)
    again = api_for(t.rina_user).post(f"{BASE}/citations", body, KEY)
    read = api_for(t.o.auditor).get(
        f"{BASE}/citations", citing_kind="review", citing_id=review.pk
    )

    assert first.status_code == 200, first.content
    answer = first.json()
    assert answer["rests_on_unverified"] is True
    assert sorted(r["id"] for r in answer["records"]) == sorted([heard.pk, checked.pk])
    assert again["Idempotent-Replayed"] == "true"
    assert read.json() == answer
    assert Citation.objects.count() == 2
    detail = api_for(t.admin).get(f"{BASE}/records/{heard.pk}").json()
    assert [(c["citing_kind"], c["citing_id"]) for c in detail["citations"]] == [
        ("review", review.pk)
    ]


def test_citing_is_refused_without_the_right_to_and_for_other_records(t, other):
    review = reviews.open_review(t.run, trigger=ReviewTrigger.REQUESTED, actor=t.admin)
    elsewhere = ef.make_record(t.o, actor=t.rina_user, title="Port closed")
    record = _record(t)
    body = {"citing_kind": "review", "citing_id": review.pk, "record_ids": [record.pk]}
    unchanged = Unchanged(t)

    _refused(api_for(t.o.auditor).post(f"{BASE}/citations", body), 403)
    _refused(api_for(t.joko_user).post(f"{BASE}/citations", body), 403)
    _refused(api_for(other.admin).post(f"{BASE}/citations", body), 404)
    wrong = api_for(t.rina_user).post(
        f"{BASE}/citations", {**body, "record_ids": [elsewhere.pk, 999999]}
    )
    assert _refused(wrong, 422)["errors"] == {
        "record_ids": [
            f"Record {elsewhere.pk} is not a record of this run that you can see.",
            "Record 999999 is not a record of this run that you can see.",
        ]
    }
    obstacle_kind = api_for(t.rina_user).post(
        f"{BASE}/citations", {**body, "citing_kind": "obstacle"}
    )
    assert list(_refused(obstacle_kind, 422)["errors"]) == ["citing_kind"]
    unknown = api_for(t.rina_user).post(
        f"{BASE}/citations", {**body, "citing_kind": "approval_decision"}
    )
    _refused(unknown, 404)
    unchanged.check()


# --- query counts ---------------------------------------------------------------------


def test_the_list_reads_a_fixed_number_of_queries(t):
    admin = api_for(t.admin)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin.get(f"{BASE}/records").status_code == 200
        return len(captured)

    _record(t, items=[ef.link()])
    count()  # the first request also notes the token's use
    few = count()
    for number in range(5):
        _record(t, task=t.task("pack"), title=f"Note {number}", items=[ef.value()])
        ef.make_record(t.o, actor=t.rina_user, title=f"Org {number}")
    assert count() == few
