"""`rantai reviews list|show|open|complete`: blameless reviews of runs on the command
line (docs/design-obstacles.md, "Blameless reviews")."""

from __future__ import annotations

from typing import Any

from django.core.management import BaseCommand
from django.utils import timezone, translation

from rantai.accounts.models import Organisation
from rantai.cli.management.commands import _output as out
from rantai.cli.management.commands.records import (
    acting,
    add_common,
    count,
    found,
    number,
    reading,
    refusals,
    run_of,
)
from rantai.obstacles import review_queries, reviews
from rantai.obstacles.models import Review, ReviewStatus, ReviewTrigger


class Command(BaseCommand):
    help = (
        "Blameless reviews: `rantai reviews list --org SLUG [--as USERNAME] [--run "
        "ID] [--status open|completed] [--json]`; `show ID --org SLUG [--as "
        "USERNAME] [--json]` prints a review — what happened, the contributing "
        "factors, the action items and the run's timeline (a partner reading with "
        "--as sees only its own party's part); `open --org SLUG --as USERNAME --run "
        "ID` opens a review of a run on request (or answers the one already open); "
        "`complete ID --org SLUG --as USERNAME` completes it (it needs a factor and "
        "an action item). Exit code 2: the organisation, user, run or review does "
        "not exist; 1: the rules refused (nothing was written)."
    )
    # Tests pass a fixed clock; everyone else acts as of now.
    stealth_options = ("now",)

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)

        listing = sub.add_parser("list", help="List reviews, newest first.")
        add_common(listing, acting_required=False)
        listing.add_argument("--run", metavar="ID", help="of this run")
        listing.add_argument("--status", choices=ReviewStatus.values)

        show = sub.add_parser("show", help="Print a review.")
        show.add_argument("review_id", metavar="ID")
        add_common(show, acting_required=False)

        opening = sub.add_parser("open", help="Open a review of a run.")
        add_common(opening, acting_required=True)
        opening.add_argument("--run", required=True, metavar="ID")

        completing = sub.add_parser("complete", help="Complete a review.")
        completing.add_argument("review_id", metavar="ID")
        add_common(completing, acting_required=True)
        completing.add_argument("--version", type=int, metavar="N")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        self.now = options.get("now") or timezone.now()
        with out.quiet_broken_pipe():
            organisation = out.organisation(options["org"])
            getattr(self, f"_{options['action']}")(organisation, options)

    def _list(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = reading(organisation, options["actor"])
        shown = list(
            review_queries.reviews(
                access,
                run=number(options["run"], "run") if options["run"] else None,
                status=options["status"],
            )
        )
        if options["json"]:
            partial = access.partner_party_id is not None
            self.stdout.write(
                out.to_json([_data(review, partial=partial) for review in shown])
            )
            return
        if not shown:
            self.stdout.write(f"No reviews in {organisation.slug}.")
            return
        rows = [
            [
                str(review.pk),
                review.status,
                review.trigger,
                str(review.run_id),
                review.run.title,
                out.local(review.opened_at, organisation),
            ]
            for review in shown
        ]
        header = ["ID", "STATUS", "OPENED BECAUSE", "RUN", "TITLE", "OPENED"]
        for line in out.table(header, rows, right=(0, 3)):
            self.stdout.write(line)
        still_open = sum(1 for r in shown if r.status == ReviewStatus.OPEN)
        self.stdout.write(f"{count(len(shown), 'review')}, {still_open} open.")

    def _show(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = reading(organisation, options["actor"])
        pk = number(options["review_id"], "review")
        with translation.override(access.user.language or "en"):
            view = found(
                lambda: review_queries.review(access, pk),
                f"No review with the id {options['review_id']} in {organisation.slug}.",
            )
        review = view.review
        if options["json"]:
            data = _data(review, partial=view.is_partial)
            data["factors"] = [
                {
                    "id": factor.pk,
                    "area": factor.area,
                    "task_id": factor.task_id,
                    "next_task_id": factor.next_task_id,
                    "party_id": factor.party_id,
                    "description": factor.description,
                }
                for factor in view.factors
            ]
            data["actions"] = [
                {
                    "id": action.pk,
                    "description": action.description,
                    "owner": {"id": action.owner_id, "name": action.owner.full_name},
                    "due_on": action.due_on.isoformat() if action.due_on else None,
                    "status": action.status,
                    "proposes_change": action.proposes_change,
                    "step_id": action.step_id,
                    "version": action.version,
                }
                for action in view.actions
            ]
            data["timeline"] = [
                {"at": entry.at, "actor": entry.actor, "sentence": entry.sentence}
                for entry in view.timeline
            ]
            self.stdout.write(out.to_json(data))
            return
        write = self.stdout.write
        write(
            f"Review {review.pk} of run {review.run_id} ({review.run.title}) "
            f"[{review.status}]: opened {out.local(review.opened_at, organisation)} "
            f"because {review.get_trigger_display()}; version {review.version}."
        )
        if not view.is_partial:
            write(f"What happened: {review.summary or '-'}")
            write(f"What we learned: {review.learned or '-'}")
        write("")
        if view.factors:
            write("Contributing factors:")
            for factor in view.factors:
                about = _about(factor)
                write(f"  {factor.pk} [{factor.area}{about}] {factor.description}")
        else:
            write("No contributing factors yet.")
        if view.actions:
            write("Action items:")
            for action in view.actions:
                due = f", due {action.due_on.isoformat()}" if action.due_on else ""
                change = (
                    " (proposed change to the procedure)"
                    if (action.proposes_change)
                    else ""
                )
                write(
                    f"  {action.pk} [{action.status}] {action.description} — "
                    f"{action.owner.full_name}{due}{change}"
                )
        else:
            write("No action items yet.")
        if view.timeline:
            write("")
            write("Timeline:")
            for entry in view.timeline:
                write(f"  {out.local(entry.at, organisation)}  {entry.sentence}")

    def _open(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = acting(organisation, options["actor"])
        run = run_of(access, options["run"])
        existing = set(Review.objects.filter(run=run).values_list("pk", flat=True))
        review = refusals(
            access,
            lambda: reviews.open_review(
                run,
                trigger=ReviewTrigger.REQUESTED,
                actor=access.user,
                now=self.now,
            ),
        )
        if options["json"]:
            self.stdout.write(out.to_json(_data(review, partial=False)))
            return
        opened = review.pk not in existing
        self.stdout.write(
            f"Opened review {review.pk} of run {run.pk} ({run.title})."
            if opened
            else f"Run {run.pk} is already under review: review {review.pk} "
            f"({review.get_trigger_display()})."
        )

    def _complete(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = acting(organisation, options["actor"])
        pk = number(options["review_id"], "review")
        review = review_queries.reviews(access).filter(pk=pk).first()
        if review is None:
            raise out.bad_input(
                f"No review with the id {options['review_id']} in {organisation.slug}."
            )
        completed = refusals(
            access,
            lambda: reviews.complete_review(
                review,
                actor=access.user,
                expected_version=options["version"] or review.version,
                now=self.now,
            ),
        )
        if options["json"]:
            self.stdout.write(out.to_json(_data(completed, partial=False)))
            return
        self.stdout.write(f"Review {completed.pk} completed.")


def _about(factor: Any) -> str:
    if factor.next_task_id:
        return f": {factor.task.name} → {factor.next_task.name}"
    if factor.task_id:
        return f": {factor.task.name}"
    if factor.party_id:
        return f": {factor.party.name}"
    return ""


def _data(review: Review, *, partial: bool) -> dict[str, Any]:
    return {
        "id": review.pk,
        "run_id": review.run_id,
        "obstacle_id": review.obstacle_id,
        "trigger": review.trigger,
        "status": review.status,
        "summary": "" if partial else review.summary,
        "learned": "" if partial else review.learned,
        "opened_at": review.opened_at,
        "completed_at": review.completed_at,
        "version": review.version,
    }
