"""`rantai records list|show|add|verify|attach`: information records and their
evidence on the command line (docs/design-evidence.md). Also the helpers the
anticipation commands (`rantai obstacles`, `rantai warnings`, `rantai reviews`)
share: acting as a member, reading as one (or as the operator), refusals with
their field messages, ids and moments."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management import BaseCommand, CommandError
from django.utils import timezone, translation

from rantai.accounts.access import Access, access_for
from rantai.accounts.models import Organisation
from rantai.chains import queries as chains_queries
from rantai.chains.models import Run, Task
from rantai.cli.management.commands import _output as out
from rantai.core.errors import DomainError, NotFound, ValidationFailed
from rantai.evidence import queries, records, verification
from rantai.evidence.models import (
    EvidenceKind,
    InformationRecord,
    RecordKind,
    RecordStatus,
    SourceKind,
    Verdict,
)
from rantai.org.models import Party

# --- shared by the anticipation commands ---------------------------------------------------


def acting(organisation: Organisation, username: str) -> Access:
    """The access of the member acting (`--as`); exit code 2 for anyone else."""
    user = out.active_user(username)
    try:
        return access_for(user, organisation.slug)
    except NotFound as error:
        raise out.bad_input(
            f"{user.username} is not a member of {organisation.slug}."
        ) from error


def reading(organisation: Organisation, username: str | None) -> Access:
    """Read as the member named (`--as`: what they may see) or, without one, as
    the installation's operator (the whole organisation, changing nothing)."""
    return acting(organisation, username) if username else out.reader(organisation)


def problem_text(error: DomainError) -> str:
    """A refusal in words, with each field's messages."""
    if isinstance(error, ValidationFailed) and error.errors:
        parts = [
            " ".join(messages)
            if field == "__all__"
            else f"{field}: {' '.join(messages)}"
            for field, messages in error.errors.items()
        ]
        return " ".join(parts)
    return error.message


def refusals[T](access: Access, action: Callable[[], T]) -> T:
    """Run a service as the acting member, in their language; a refusal exits
    with code 1 and says why (per field); an unknown object with code 2."""
    with translation.override(access.user.language or "en"):
        try:
            return action()
        except NotFound as error:
            raise out.bad_input(error.message) from error
        except DomainError as error:
            raise CommandError(problem_text(error), returncode=out.REFUSED) from error


def number(raw: Any, what: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise out.bad_input(f"A {what} id is a number, not {raw!r}.") from None


def found[T](lookup: Callable[[], T], message: str) -> T:
    """What a scoped read finds; its NotFound exits with code 2 and `message`."""
    try:
        return lookup()
    except NotFound as error:
        raise out.bad_input(message) from error


def moment(raw: str, option: str, organisation: Organisation) -> dt.datetime:
    """An ISO 8601 date or date and time; without a time zone, the
    organisation's (a date alone: 16:00 that day, the end of a working day)."""
    try:
        if len(raw) == 10:
            parsed = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(16, 0))
        else:
            parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise out.bad_input(
            f"{option} is a date (YYYY-MM-DD) or a date and time "
            f"(YYYY-MM-DDTHH:MM), not {raw!r}."
        ) from None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=zoneinfo.ZoneInfo(organisation.time_zone))
    return parsed


def run_of(access: Access, raw: Any) -> Run:
    pk = number(raw, "run")
    return found(
        lambda: chains_queries.run(access, pk),
        f"No run with the id {raw} that {_who(access)} can see.",
    )


def task_of(access: Access, raw: Any) -> Task:
    pk = number(raw, "task")
    return found(
        lambda: chains_queries.task(access, pk),
        f"No task with the id {raw} that {_who(access)} can see.",
    )


def _who(access: Access) -> str:
    return access.user.username if access.user.pk else "the operator"


def count(total: int, noun: str) -> str:
    return f"{total} {noun}{'' if total == 1 else 's'}"


def add_common(parser: Any, *, acting_required: bool, json: bool = True) -> None:
    parser.add_argument("--org", required=True, help="organisation slug")
    if acting_required:
        parser.add_argument(
            "--as",
            dest="actor",
            required=True,
            metavar="USERNAME",
            help="who acts (a member; recorded in the audit trail)",
        )
    else:
        parser.add_argument(
            "--as",
            dest="actor",
            metavar="USERNAME",
            help="read as this member (default: the whole organisation)",
        )
    if json:
        parser.add_argument("--json", action="store_true", help="write JSON")


# --- the command --------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Information records: `rantai records list --org SLUG [--as USERNAME] "
        "[--run ID] [--task ID] [--status S] [--kind K] [--json]` lists records "
        "with their status (unverified, disputed and refuted ones marked HEARSAY); "
        "`show ID --org SLUG [--as USERNAME] [--json]` prints a record with its "
        "evidence and verifications; `add --org SLUG --as USERNAME --title T "
        "--statement S --source-kind KIND --source DETAIL [--run ID | --task ID] "
        "[--link URL] [--value 'N UNIT'] [--file PATH]` records information; "
        "`verify ID --org SLUG --as USERNAME --verdict verified|disputed|refuted "
        "--note TEXT` checks someone else's record; `attach (ID | --task ID) --org "
        "SLUG --as USERNAME [--file PATH] [--link URL] [--value 'N UNIT']` adds "
        "evidence to a record or a task. Exit code 2: the organisation, user, "
        "record, run, task or file does not exist (or an option is malformed); 1: "
        "the rules refused (nothing was written)."
    )
    # Tests pass a fixed clock; everyone else acts as of now.
    stealth_options = ("now",)

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)

        listing = sub.add_parser("list", help="List information records.")
        add_common(listing, acting_required=False)
        listing.add_argument("--run", metavar="ID", help="of this run")
        listing.add_argument("--task", metavar="ID", help="of this task")
        listing.add_argument("--status", choices=RecordStatus.values)
        listing.add_argument("--kind", choices=RecordKind.values)

        show = sub.add_parser("show", help="Print a record with its evidence.")
        show.add_argument("record_id", metavar="ID", help="the record's id")
        add_common(show, acting_required=False)

        add = sub.add_parser("add", help="Record a piece of information.")
        add_common(add, acting_required=True)
        add.add_argument("--title", required=True)
        add.add_argument("--statement", required=True, help="what is said or measured")
        add.add_argument(
            "--source-kind",
            required=True,
            choices=SourceKind.values,
            dest="source_kind",
        )
        add.add_argument(
            "--source",
            required=True,
            dest="source_detail",
            help="who said it, or which document or system",
        )
        add.add_argument("--kind", choices=RecordKind.values, default=RecordKind.CLAIM)
        add.add_argument("--run", metavar="ID", help="about this run")
        add.add_argument("--task", metavar="ID", help="about this task (and its run)")
        add.add_argument(
            "--source-party",
            metavar="CODE",
            dest="source_party",
            help="the party it came from",
        )
        add.add_argument(
            "--observed-at",
            dest="observed_at",
            metavar="WHEN",
            help="when it was said or measured (YYYY-MM-DDTHH:MM)",
        )
        _item_options(add)

        check = sub.add_parser("verify", help="Check someone else's record.")
        check.add_argument("record_id", metavar="ID", help="the record's id")
        add_common(check, acting_required=True)
        check.add_argument("--verdict", required=True, choices=Verdict.values)
        check.add_argument("--note", required=True, help="what you checked it against")
        check.add_argument(
            "--version",
            type=int,
            metavar="N",
            help="the version you saw (default: the current one)",
        )
        _item_options(check)

        attach = sub.add_parser("attach", help="Add evidence to a record or task.")
        attach.add_argument(
            "record_id", nargs="?", metavar="ID", help="the record's id"
        )
        attach.add_argument(
            "--task", metavar="ID", help="attach as evidence of this task instead"
        )
        attach.add_argument("--title", default="", help="(--task) the record's title")
        add_common(attach, acting_required=True)
        _item_options(attach)

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        self.now = options.get("now") or timezone.now()
        with out.quiet_broken_pipe():
            organisation = out.organisation(options["org"])
            action = options["action"]
            if action == "list":
                self._list(organisation, options)
            elif action == "show":
                self._show(organisation, options)
            elif action == "add":
                self._add(organisation, options)
            elif action == "verify":
                self._verify(organisation, options)
            else:
                self._attach(organisation, options)

    # --- list and show -------------------------------------------------------------------

    def _list(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = reading(organisation, options["actor"])
        found_records = list(
            queries.records(
                access,
                run=number(options["run"], "run") if options["run"] else None,
                task=number(options["task"], "task") if options["task"] else None,
                status=options["status"],
                kind=options["kind"],
            )
        )
        if options["json"]:
            self.stdout.write(out.to_json([record_data(r) for r in found_records]))
            return
        if not found_records:
            self.stdout.write(f"No information records in {organisation.slug}.")
            return
        rows = [
            [
                str(record.pk),
                status_text(record),
                record.kind,
                record.title,
                record.source_detail,
                str(record.run_id or "-"),
                str(record.evidence_count),  # type: ignore[attr-defined]
                out.local(record.recorded_at, organisation),
            ]
            for record in found_records
        ]
        header = ["ID", "STATUS", "KIND", "TITLE", "SOURCE", "RUN", "ITEMS", "RECORDED"]
        for line in out.table(header, rows, right=(0, 5, 6)):
            self.stdout.write(line)
        hearsay = sum(1 for record in found_records if record.is_hearsay)
        self.stdout.write(
            f"{count(len(found_records), 'record')}, {hearsay} not verified "
            f"(HEARSAY); times in {organisation.time_zone}."
        )

    def _show(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = reading(organisation, options["actor"])
        record = _record(access, options["record_id"])
        items = list(record.evidence.all())
        checks = list(record.verifications.all())
        if options["json"]:
            data = record_data(record, evidence_count=len(items))
            data["evidence"] = [_item_data(item) for item in items]
            data["verifications"] = [
                {
                    "id": check.pk,
                    "verdict": check.verdict,
                    "note": check.note,
                    "previous_status": check.previous_status,
                    "by": check.by.username,
                    "at": check.at,
                }
                for check in checks
            ]
            self.stdout.write(out.to_json(data))
            return
        write = self.stdout.write
        write(f"Record {record.pk}: {record.title} [{status_text(record)}]")
        write(f"Kind: {record.kind}. {record.statement}")
        party = f" ({record.source_party.name})" if record.source_party else ""
        write(f"Source: {record.source_kind}, {record.source_detail}{party}")
        if record.run is not None:
            task = (
                f", task {record.task_id} ({record.task.name})" if record.task else ""
            )
            write(f"About: run {record.run_id} ({record.run.title}){task}")
        else:
            write("About: the organisation as a whole")
        if record.observed_at:
            write(f"Said or measured at: {out.local(record.observed_at, organisation)}")
        write(
            f"Recorded by {record.recorded_by.username} at "
            f"{out.local(record.recorded_at, organisation)}; version {record.version}."
        )
        write("")
        if items:
            rows = [[str(item.pk), item.kind, _item_text(item)] for item in items]
            for line in out.table(["ITEM", "KIND", "EVIDENCE"], rows, right=(0,)):
                write(line)
        else:
            write("No evidence yet.")
        if checks:
            write("")
            for check in checks:
                write(
                    f"{out.local(check.at, organisation)} {check.by.username}: "
                    f"{check.verdict} (was {check.previous_status}) — {check.note}"
                )
        elif record.is_hearsay:
            write("Not checked by anyone else yet: hearsay.")

    # --- writing -------------------------------------------------------------------------

    def _add(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = acting(organisation, options["actor"])
        task = task_of(access, options["task"]) if options["task"] else None
        run = run_of(access, options["run"]) if options["run"] else None
        source_party = None
        if options["source_party"]:
            source_party = Party.objects.filter(
                organisation=organisation, code=options["source_party"]
            ).first()
            if source_party is None:
                raise out.bad_input(
                    f"No party with the code {options['source_party']!r} in "
                    f"{organisation.slug}."
                )
        observed_at = (
            moment(options["observed_at"], "--observed-at", organisation)
            if options["observed_at"]
            else None
        )
        with EvidenceOptions(options) as items:
            record = refusals(
                access,
                lambda: records.record_information(
                    organisation,
                    actor=access.user,
                    title=options["title"],
                    statement=options["statement"],
                    source_kind=options["source_kind"],
                    source_detail=options["source_detail"],
                    kind=options["kind"],
                    run=run,
                    task=task,
                    source_party=source_party,
                    observed_at=observed_at,
                    items=items,
                    now=self.now,
                ),
            )
        self._done(
            options,
            record,
            f"Recorded {record.pk}: {record.title} (unverified, "
            f"{count(len(items), 'evidence item')}).",
        )

    def _verify(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = acting(organisation, options["actor"])
        record = _record(access, options["record_id"])
        version = options["version"] or record.version
        with EvidenceOptions(options) as items:
            refusals(
                access,
                lambda: verification.verify(
                    record,
                    actor=access.user,
                    verdict=options["verdict"],
                    note=options["note"],
                    expected_version=version,
                    items=items,
                    now=self.now,
                ),
            )
        self._done(
            options,
            record,
            f"Record {record.pk} is now {record.status} (checked by "
            f"{access.user.username}).",
        )

    def _attach(self, organisation: Organisation, options: dict[str, Any]) -> None:
        if bool(options["record_id"]) == bool(options["task"]):
            raise out.bad_input("Name either a record (ID) or a task (--task ID).")
        access = acting(organisation, options["actor"])
        with EvidenceOptions(options) as items:
            if not items:
                raise out.bad_input("Give the evidence: --file, --link or --value.")
            if options["task"]:
                task = task_of(access, options["task"])
                record = refusals(
                    access,
                    lambda: records.attach_task_evidence(
                        task,
                        actor=access.user,
                        items=items,
                        title=options["title"],
                        now=self.now,
                    ),
                )
                said = f"Attached to task {task.pk} ({task.name}) as record {record.pk}"
            else:
                record = _record(access, options["record_id"])
                refusals(
                    access,
                    lambda: records.add_evidence(
                        record, actor=access.user, items=items, now=self.now
                    ),
                )
                said = f"Added to record {record.pk}"
        self._done(
            options,
            record,
            f"{said}: {count(len(items), 'evidence item')} ({record.status}).",
        )

    def _done(
        self, options: dict[str, Any], record: InformationRecord, said: str
    ) -> None:
        if options["json"]:
            record = InformationRecord.objects.get(pk=record.pk)
            self.stdout.write(
                out.to_json(record_data(record, evidence_count=record.evidence.count()))
            )
        else:
            self.stdout.write(said)


# --- evidence from the command line --------------------------------------------------------


def _item_options(parser: Any) -> None:
    parser.add_argument(
        "--file", action="append", default=[], metavar="PATH", help="a file (repeat)"
    )
    parser.add_argument(
        "--link", action="append", default=[], metavar="URL", help="a link (repeat)"
    )
    parser.add_argument(
        "--value",
        action="append",
        default=[],
        metavar="'N UNIT'",
        help="a measured value and its unit, e.g. '12.5 tonnes' (repeat)",
    )
    parser.add_argument("--label", default="", help="what the evidence shows")


class EvidenceOptions:
    """The evidence options as service inputs; the files are open inside."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.handles: list[Any] = []

    def __enter__(self) -> list[records.NewItem]:
        label = self.options.get("label", "")
        items: list[records.NewItem] = []
        for raw in self.options.get("value", []):
            quantity, _space, unit = raw.strip().partition(" ")
            try:
                amount = Decimal(quantity)
            except InvalidOperation:
                raise out.bad_input(
                    f"--value is a number and a unit, e.g. '12.5 tonnes', not {raw!r}."
                ) from None
            items.append(
                records.NewValue(quantity=amount, unit=unit.strip(), label=label)
            )
        items.extend(
            records.NewLink(url=url, label=label)
            for url in self.options.get("link", [])
        )
        for raw in self.options.get("file", []):
            path = Path(raw)
            try:
                handle = path.open("rb")
            except OSError as error:
                self.__exit__()
                raise out.bad_input(f"Cannot read {path}: {error.strerror}.") from error
            self.handles.append(handle)
            items.append(
                records.NewFile(
                    upload=File(handle, name=path.name), name=path.name, label=label
                )
            )
        return items

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.close()
        self.handles = []


# --- reading ------------------------------------------------------------------------------


def _record(access: Access, raw: Any) -> InformationRecord:
    pk = number(raw, "record")
    return found(
        lambda: queries.record(access, pk),
        f"No information record with the id {raw} that {_who(access)} can see.",
    )


def status_text(record: InformationRecord) -> str:
    """The status, marked HEARSAY unless verified."""
    return record.status if not record.is_hearsay else f"{record.status} HEARSAY"


def record_data(
    record: InformationRecord, *, evidence_count: int | None = None
) -> dict[str, Any]:
    return {
        "id": record.pk,
        "kind": record.kind,
        "title": record.title,
        "statement": record.statement,
        "source_kind": record.source_kind,
        "source_detail": record.source_detail,
        "source_party_id": record.source_party_id,
        "run_id": record.run_id,
        "task_id": record.task_id,
        "observed_at": record.observed_at,
        "status": record.status,
        "is_hearsay": record.is_hearsay,
        "evidence_count": getattr(record, "evidence_count", evidence_count)
        if evidence_count is None
        else evidence_count,
        "recorded_by": record.recorded_by.username,
        "recorded_at": record.recorded_at,
        "verified_by": record.verified_by.username if record.verified_by else None,
        "verified_at": record.verified_at,
        "version": record.version,
    }


def _item_data(item: Any) -> dict[str, Any]:
    return {
        "id": item.pk,
        "kind": item.kind,
        "label": item.label,
        "name": item.original_name,
        "content_type": item.content_type,
        "size": item.size,
        "sha256": item.sha256,
        "url": item.url,
        "quantity": item.quantity,
        "unit": item.unit,
        "verification_id": item.verification_id,
        "added_by": item.added_by.username,
        "added_at": item.added_at,
    }


def _item_text(item: Any) -> str:
    label = f" — {item.label}" if item.label else ""
    if item.kind == EvidenceKind.FILE:
        return (
            f"{item.original_name} ({item.content_type}, {item.size:,} bytes, "
            f"sha256 {item.sha256[:12]}…){label}"
        )
    if item.kind == EvidenceKind.LINK:
        return f"{item.url}{label}"
    return f"{item.quantity.normalize():f} {item.unit}{label}"


__all__ = [
    "Command",
    "acting",
    "count",
    "found",
    "moment",
    "number",
    "reading",
    "refusals",
    "run_of",
    "task_of",
]
