"""Forms of the evidence pages (docs/design-evidence.md): a new information record,
the evidence items added to it (a file, a link or a measured value per row, several
rows), a verdict, evidence attached straight onto a task, the organisation's upload
settings, and the "information this decision rests on" choice of decision forms.

They only read input: every rule (who may record or verify, the author never
verifies, what a file may contain, its size, the allowed types) is checked by the
`rantai.evidence` services the views call, whose errors are shown on these forms
(`rantai.web.access.apply_errors`). A file is only looked at by the service: the
form keeps Django's upload object and hands it over untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from rantai.chains.models import Run, Task
from rantai.evidence.models import (
    EvidenceItem,
    EvidenceSettings,
    InformationRecord,
    RecordKind,
    RecordStatus,
    SourceKind,
    Verdict,
)
from rantai.evidence.records import NewFile, NewItem, NewLink, NewValue
from rantai.org.models import Party
from rantai.web.forms import (
    PartyChoiceField,
    RantaiForm,
    VersionedForm,
)
from rantai.web.forms import (
    help_text as model_help,
)
from rantai.web.forms import (
    label as model_label,
)
from rantai.web.forms_coordination import LocalDateTimeField

# Rows of evidence a form offers (empty rows are ignored) and accepts at most.
EVIDENCE_ROWS = 3
VERIFY_EVIDENCE_ROWS = 1
MAX_EVIDENCE_ROWS = 10
# The kinds a person chooses for a record; evidence of a task is attached to the
# task (or chosen when the record is about a task).
RECORD_KINDS = (RecordKind.CLAIM, RecordKind.STATUS, RecordKind.MEASUREMENT)


def _textarea(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class RunChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Run) -> str:  # type: ignore[override]
        return f"{obj.title} — {obj.procedure.name}"


class TaskChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Task) -> str:  # type: ignore[override]
        return obj.name


# --- evidence items ---------------------------------------------------------------


class EvidenceItemForm(RantaiForm):
    """One piece of evidence: a file, a link or a measured value with its unit
    (one of them), with an optional description. An empty row is ignored."""

    label = forms.CharField(
        label=model_label(EvidenceItem, "label"),
        max_length=200,
        required=False,
        help_text=_('What it shows, e.g. "the forwarder\'s written notice".'),
    )
    file = forms.FileField(
        label=_("File"),
        required=False,
        max_length=255,
        error_messages={
            "empty": _("The file is empty."),
            "invalid": _("That was not a file: choose the file again."),
            "max_length": _("The file name is too long (at most %(max)d characters)."),
        },
    )
    url = forms.URLField(
        label=_("or a link"),
        max_length=2000,
        required=False,
        assume_scheme="https",
        error_messages={"invalid": _("Enter a full web address (https://…).")},
    )
    quantity = forms.DecimalField(
        label=_("or a measured value"),
        max_digits=18,
        decimal_places=4,
        required=False,
        error_messages={"invalid": _("Enter a number, e.g. 12.5.")},
    )
    unit = forms.CharField(
        label=model_label(EvidenceItem, "unit"),
        max_length=50,
        required=False,
        help_text=_("e.g. kg, °C, containers"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        given = [
            name
            for name, present in (
                ("file", bool(data.get("file"))),
                ("url", bool(data.get("url"))),
                ("quantity", data.get("quantity") is not None),
            )
            if present
        ]
        if len(given) > 1:
            raise forms.ValidationError(
                _(
                    "One piece of evidence per row: a file, a link or a measured "
                    "value. Use another row for the next one."
                )
            )
        if data.get("quantity") is not None and not data.get("unit", "").strip():
            self.add_error("unit", _("Give the unit of the measured value."))
        elif data.get("unit", "").strip() and data.get("quantity") is None:
            self.add_error("quantity", _("Give the measured value for this unit."))
        elif not given and data.get("label", "").strip():
            raise forms.ValidationError(
                _("Add a file, a link or a measured value to this description.")
            )
        return data

    def item(self) -> NewItem | None:
        """The row as a service input (None for an empty row)."""
        data = self.cleaned_data
        description = (data.get("label") or "").strip()
        if data.get("file"):
            upload = data["file"]
            return NewFile(upload=upload, name=upload.name or "", label=description)
        if data.get("url"):
            return NewLink(url=data["url"], label=description)
        if data.get("quantity") is not None:
            quantity: Decimal = data["quantity"]
            return NewValue(
                quantity=quantity, unit=data["unit"].strip(), label=description
            )
        return None


class BaseEvidenceFormSet(forms.BaseFormSet):  # type: ignore[type-arg]
    """Several rows of evidence; `items()` are the filled ones, in order."""

    def items(self) -> list[NewItem]:
        found = [form.item() for form in self.forms if form.cleaned_data]
        return [item for item in found if item is not None]


def _formset(extra: int) -> type[BaseEvidenceFormSet]:
    return forms.formset_factory(  # type: ignore[return-value]
        EvidenceItemForm,
        formset=BaseEvidenceFormSet,
        extra=extra,
        max_num=MAX_EVIDENCE_ROWS,
        validate_max=True,
        absolute_max=MAX_EVIDENCE_ROWS,
    )


EvidenceFormSet = _formset(EVIDENCE_ROWS)
VerifyEvidenceFormSet = _formset(VERIFY_EVIDENCE_ROWS)
EVIDENCE_PREFIX = "evidence"
# The verifier's rows share a page with the add-evidence rows: names of their own.
CHECK_PREFIX = "check"


def evidence_formset(
    data: Any = None,
    files: Any = None,
    *,
    rows: int = EVIDENCE_ROWS,
    prefix: str = EVIDENCE_PREFIX,
) -> BaseEvidenceFormSet:
    """The evidence rows of a form."""
    formset_class = (
        VerifyEvidenceFormSet if rows == VERIFY_EVIDENCE_ROWS else (EvidenceFormSet)
    )
    return formset_class(
        data,
        files,
        prefix=prefix,
        error_messages={
            "too_many_forms": str(_("At most %(num)d pieces of evidence at once."))
            % {"num": MAX_EVIDENCE_ROWS},
            "missing_management_form": str(
                _("The evidence rows were not sent whole: please try again.")
            ),
        },
    )


# --- a new information record ----------------------------------------------------


class RecordForm(RantaiForm):
    """What is said or measured, where it came from, and (optionally) the run or
    task it matters to. The evidence rows come with it (`evidence_formset`)."""

    title = forms.CharField(label=_("Title"), max_length=200)
    statement = forms.CharField(
        label=model_label(InformationRecord, "statement"),
        help_text=model_help(InformationRecord, "statement"),
        widget=_textarea(4),
    )
    kind = forms.ChoiceField(
        label=model_label(InformationRecord, "kind"),
        widget=forms.RadioSelect,
    )
    source_kind = forms.ChoiceField(
        label=model_label(InformationRecord, "source_kind"),
        choices=[(value, capfirst(name)) for value, name in SourceKind.choices],
        widget=forms.RadioSelect,
        error_messages={"required": _("Say where the information came from.")},
    )
    source_detail = forms.CharField(
        label=model_label(InformationRecord, "source_detail"),
        help_text=model_help(InformationRecord, "source_detail"),
        max_length=300,
    )
    source_party = PartyChoiceField(
        label=model_label(InformationRecord, "source_party"),
        queryset=Party.objects.none(),
        required=False,
    )
    observed_at = LocalDateTimeField(
        label=model_label(InformationRecord, "observed_at"),
        required=False,
        help_text=_("When it was said or measured, if not just now."),
    )
    run = RunChoiceField(
        label=model_label(InformationRecord, "run"),
        queryset=Run.objects.none(),
        required=False,
        help_text=_("The run this information matters to (none: the organisation)."),
    )
    task = TaskChoiceField(
        label=model_label(InformationRecord, "task"),
        queryset=Task.objects.none(),
        required=False,
    )

    def __init__(
        self,
        *args: Any,
        time_zone: str,
        parties: QuerySet[Party],
        runs: QuerySet[Run] | None,
        tasks: QuerySet[Task] | None,
        with_task_evidence: bool = False,
        run_required: bool = False,
        **kwargs: Any,
    ) -> None:
        """`runs`: the runs to choose from (None: the run is fixed by the page and
        the field left out); `tasks`: the tasks of the fixed run to choose from
        (None: no task field, the page fixes it or there is no run)."""
        super().__init__(*args, **kwargs)
        kinds = list(RECORD_KINDS)
        if with_task_evidence:
            kinds.append(RecordKind.TASK_EVIDENCE)
        self.fields["kind"].choices = [  # type: ignore[attr-defined]
            (kind.value, capfirst(kind.label)) for kind in kinds
        ]
        self.fields["kind"].initial = (
            RecordKind.TASK_EVIDENCE if with_task_evidence else RecordKind.CLAIM
        )
        self.fields["observed_at"].time_zone = time_zone  # type: ignore[attr-defined]
        self.fields["source_party"].queryset = parties  # type: ignore[attr-defined]
        if runs is None:
            del self.fields["run"]
        else:
            self.fields["run"].queryset = runs  # type: ignore[attr-defined]
            if run_required:
                # External partners record only on the runs they work in.
                self.fields["run"].required = True
                self.fields["run"].help_text = _(
                    "External partners record information on the runs they work in."
                )
                self.fields["run"].error_messages["required"] = _(
                    "Choose the run this information is about."
                )
        if tasks is None:
            del self.fields["task"]
        else:
            self.fields["task"].queryset = tasks  # type: ignore[attr-defined]
            self.fields["task"].help_text = _(  # type: ignore[attr-defined]
                "The task of the run it is about, if any."
            )


# --- verifying --------------------------------------------------------------------


class VerifyForm(VersionedForm):
    """Someone other than the author checks the record: their verdict, a note on
    what they checked it against, and optionally their own evidence."""

    verdict = forms.ChoiceField(
        label=_("Your verdict"),
        choices=Verdict.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose verified, disputed or refuted."),
            "invalid_choice": _("Choose verified, disputed or refuted."),
        },
    )
    note = forms.CharField(
        label=_("What you checked it against"),
        widget=_textarea(3),
        max_length=5000,
        help_text=_(
            "Needed for every verdict: the document, call or measurement you "
            "compared it with, and what you found."
        ),
        error_messages={"required": _("Say what you checked it against.")},
    )

    def __init__(self, *args: Any, current_status: str, **kwargs: Any) -> None:
        """The record's current status is not offered again as a verdict."""
        super().__init__(*args, **kwargs)
        self.fields["verdict"].choices = [  # type: ignore[attr-defined]
            (value, capfirst(name))
            for value, name in Verdict.choices
            if value != current_status
        ]


# --- evidence on a task -----------------------------------------------------------


class TaskEvidenceForm(RantaiForm):
    """Evidence straight onto a task (a record of the kind "evidence of a task",
    own observation): an optional title and note; the rows are the evidence."""

    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        required=False,
        help_text=_("Leave empty to name it after the task."),
    )
    statement = forms.CharField(
        label=_("Note"),
        required=False,
        widget=_textarea(2),
        help_text=_("What the evidence shows, if it is not obvious."),
    )


# --- the organisation's upload settings -------------------------------------------


class EvidenceSettingsForm(VersionedForm):
    allowed_types = forms.MultipleChoiceField(
        label=model_label(EvidenceSettings, "allowed_types"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Tick the types people may upload; none ticked means every type of the "
            "standard list. HTML, SVG, scripts and programs are never allowed."
        ),
    )
    max_file_megabytes = forms.IntegerField(
        label=model_label(EvidenceSettings, "max_file_megabytes"),
        min_value=1,
        max_value=500,
        error_messages={
            "min_value": _("The largest file is 1 to 500 MB."),
            "max_value": _("The largest file is 1 to 500 MB."),
        },
    )

    def __init__(
        self, *args: Any, types: Iterable[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["allowed_types"].choices = list(types)  # type: ignore[attr-defined]


# --- decisions that rest on information ---------------------------------------------


def record_choice_label(record: InformationRecord) -> str:
    """A record as a choice: its title and its status (unverified, disputed or
    refuted ones say "hearsay" right in the choice)."""
    if record.status == RecordStatus.VERIFIED:
        return str(_("%(title)s (verified)") % {"title": record.title})
    return str(
        _("%(title)s (%(status)s — hearsay)")
        % {"title": record.title, "status": record.get_status_display()}
    )


class RestsOnField(forms.TypedMultipleChoiceField):
    """Records a decision rests on, chosen among the ones read with the page;
    cleans to the records themselves."""

    def __init__(self, records: Sequence[InformationRecord], **kwargs: Any) -> None:
        self.records = {record.pk: record for record in records}
        super().__init__(
            choices=[(record.pk, record_choice_label(record)) for record in records],
            coerce=int,
            **kwargs,
        )

    def clean(self, value: Any) -> list[InformationRecord]:  # type: ignore[override]
        chosen = super().clean(value)
        return [self.records[pk] for pk in chosen]


REST_ON_FIELD = "rests_on"


def add_rests_on(form: forms.Form, records: Sequence[InformationRecord]) -> None:
    """Give a decision form the optional "information this decision rests on"
    choice (left out when there is nothing to choose)."""
    if not records:
        return
    kept = form.initial.get(REST_ON_FIELD)
    if kept:
        # Kept from a refused decision: the records as their ids.
        form.initial[REST_ON_FIELD] = [getattr(entry, "pk", entry) for entry in kept]
    form.fields[REST_ON_FIELD] = RestsOnField(
        records,
        label=_("Information this decision rests on"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Tick the records you relied on. A decision resting on information "
            "nobody else has checked is shown as such."
        ),
        error_messages={
            "invalid_choice": _(
                "One of the chosen records cannot be cited here any more."
            ),
        },
    )
