"""The owner's dashboard (docs/design-insight.md, "Owner's dashboard"):

* `dashboard/`: choose a procedure or a party and a period (this month, the last
  three months — the default —, this year, or dates of one's own);
* a procedure's or a party's dashboard over the period: the headline figures
  (runs finished, on-time rate, lead time, waiting against working), the trend by
  month or week, the steps, the handovers between parties, the positions on the
  critical path and the obstacles by cause — drawn where a picture says it faster,
  and always as tables too (the text alternative of every drawing);
* the runs behind any figure (`dashboard-runs`, `?figure=`): every number on the
  page links there;
* the same figures as an Excel workbook or a PDF.

Every figure comes from `rantai.insight.dashboard`, which decides who may see what
(a partner is refused or sees nothing it may not see, as the domain says); the
pages only draw and link. The drawings are pure functions of the figures, built
from the shared SVG primitives of `rantai.web.svg` (no style attribute, colours
from the palette, every value escaped). A page keeps a fixed number of queries,
whatever the number of runs.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import formats
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext_lazy, ngettext, pgettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from rantai.accounts.access import Access
from rantai.chains import queries as chains_queries
from rantai.chains.models import Run, Step
from rantai.core.errors import ValidationFailed
from rantai.insight import dashboard as figures
from rantai.insight import exports
from rantai.obstacles.models import Cause
from rantai.org import queries as org_queries
from rantai.org.models import Party
from rantai.web.access import org_view, render_page
from rantai.web.forms import DateInput, RantaiForm
from rantai.web.svg import (
    PALETTE,
    check_href,
    element,
    escape,
    fit_text,
    legend,
    num,
    svg_root,
    title_element,
    token,
)
from rantai.web.svg.workload import (
    BarLabels,
    BarRow,
    Series,
    axis_end,
    nice_step,
    render_bars,
)
from rantai.workload.numbers import format_decimal

PAGE_SIZE = 25
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_CONTENT_TYPE = "application/pdf"
# The path segment of a scope in the dashboard's URLs, and back.
SEGMENTS = {"procedure": "procedures", "party": "parties"}
KINDS = {"procedures": "procedure", "parties": "party"}
DEFAULT_PERIOD = "last_3_months"


# --- shared helpers -------------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _language() -> str:
    return get_language() or "en"


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def decimal_text(value: Any, places: int = 1) -> str:
    """A figure the reader's way, rounded to `places` decimals without trailing
    zeros: 12,5 (Indonesian) or 12.5; "—" when there is none."""
    number = _decimal(value)
    if number is None:
        return "—"
    rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return format_decimal(
        rounded.normalize() if rounded else Decimal(0), None, _language()
    )


def hours_text(value: Any) -> str:
    """Hours of wall-clock time: "12,5 h"; "—" when there is none."""
    text = decimal_text(value)
    return text if text == "—" else _("%(hours)s h") % {"hours": text}


def percent_text(share: Any) -> str:
    """A share from 0 to 1 as a percentage: "87,5 %"; "—" when there is none."""
    number = _decimal(share)
    if number is None:
        return "—"
    return f"{decimal_text(number * 100)} %"


def _share(part: Any, whole: Any) -> Decimal | None:
    part_value, whole_value = _decimal(part), _decimal(whole)
    if part_value is None or not whole_value:
        return None
    return part_value / whole_value


def _download(data: bytes, content_type: str, file_name: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- the period -----------------------------------------------------------------------


def _months_back(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months` before the month of `day`."""
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def preset_dates(preset: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The dates of a preset period, both included, ending today: this month; the
    last three months (this month and the two before it); this year."""
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "this_year":
        return dt.date(today.year, 1, 1), today
    return _months_back(today, 2), today


class PeriodForm(RantaiForm):
    """The period of the dashboard: a preset, or dates of one's own (both
    included, in the organisation's time zone)."""

    PRESETS = (
        ("this_month", gettext_lazy("This month")),
        ("last_3_months", gettext_lazy("Last 3 months")),
        ("this_year", gettext_lazy("This year")),
        ("custom", gettext_lazy("Dates of my own")),
    )

    period = forms.ChoiceField(
        label=gettext_lazy("Period"), choices=PRESETS, required=False
    )
    start = forms.DateField(
        label=gettext_lazy("From"), widget=DateInput(), required=False
    )
    end = forms.DateField(
        label=gettext_lazy("Until"), widget=DateInput(), required=False
    )

    def __init__(self, data: Any, *, today: dt.date) -> None:
        # `from` and `to` in the address; `start` and `end` in Python.
        values = {
            "period": data.get("period", ""),
            "start": data.get("from", ""),
            "end": data.get("to", ""),
        }
        super().__init__(values, auto_id="period-%s")
        self.today = today

    @property
    def preset(self) -> str:
        """The preset as chosen (dates alone mean dates of one's own)."""
        value = self.data.get("period") or ""
        if value in dict(self.PRESETS):
            return str(value)
        return (
            "custom"
            if (self.data.get("start") or self.data.get("end"))
            else (DEFAULT_PERIOD)
        )

    def _date_value(self, name: str) -> str:
        if self.is_valid():
            value = self.cleaned_data.get(name)
            return value.isoformat() if value else ""
        return str(self.data.get(name) or "")

    @property
    def start_value(self) -> str:
        """What the "from" box shows: the period's first day, or what was typed."""
        return self._date_value("start")

    @property
    def end_value(self) -> str:
        return self._date_value("end")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        preset = data.get("period") or ""
        start: dt.date | None = data.get("start")
        end: dt.date | None = data.get("end")
        if not preset:
            # Dates alone mean dates of one's own; nothing at all, the default.
            preset = "custom" if (start or end) else DEFAULT_PERIOD
        if preset != "custom":
            start, end = preset_dates(preset, self.today)
        else:
            if start is None and "start" not in self.errors:
                self.add_error("start", _("Give the first day of the period."))
            if end is None and "end" not in self.errors:
                self.add_error("end", _("Give the last day of the period."))
            if start and end and end < start:
                raise ValidationError(
                    _("The period ends before it starts."), code="period"
                )
        data.update(period=preset, start=start, end=end)
        return data


@dataclass(frozen=True)
class Period:
    preset: str
    start: dt.date
    end: dt.date

    @property
    def query(self) -> dict[str, str]:
        """The period in an address: the preset as chosen, and its dates."""
        return {
            "period": self.preset,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
        }

    @property
    def dates(self) -> dict[str, str]:
        """Only the dates: what the runs behind a figure and the exports need."""
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def _period(form: PeriodForm) -> Period | None:
    if not form.is_valid():
        return None
    data = form.cleaned_data
    return Period(data["period"], data["start"], data["end"])


def _apply_period_errors(form: PeriodForm, error: ValidationFailed) -> None:
    """The domain's refusal of a period, on the field it names (or the form)."""
    fields = {"start": "start", "from": "start", "end": "end", "to": "end"}
    for name, problems in error.errors.items():
        for problem in problems:
            form.add_error(fields.get(name), problem)


# --- scopes and links -----------------------------------------------------------------


def _scope(access: Access, kind: str, pk: int) -> figures.Scope:
    """The procedure or party, as the domain allows (NotFound → 404, a refusal
    → 403 through `org_view`)."""
    try:
        return figures.scope_for(access, kind, pk)
    except ValidationFailed as error:
        raise Http404(error.message) from error


def page_url(access: Access, scope: figures.Scope, **query: str) -> str:
    name = "dashboard-procedure" if scope.kind == "procedure" else "dashboard-party"
    url = reverse(name, args=[access.organisation.slug, scope.id])
    return f"{url}?{urlencode(query)}" if query else url


def runs_url(access: Access, scope: figures.Scope, period: Period, figure: str) -> str:
    """The runs behind one figure of the dashboard."""
    url = reverse(
        "dashboard-runs",
        args=[access.organisation.slug, SEGMENTS[scope.kind], scope.id],
    )
    return f"{url}?{urlencode({'figure': figure, **period.dates})}"


def export_url(
    access: Access, scope: figures.Scope, period: Period, file_format: str
) -> str:
    url = reverse(
        "dashboard-export",
        args=[access.organisation.slug, SEGMENTS[scope.kind], scope.id, file_format],
    )
    return f"{url}?{urlencode(period.dates)}"


def handover_figure(from_party_id: int | None, to_party_id: int | None) -> str:
    return (
        f"handover:{'none' if from_party_id is None else from_party_id}:"
        f"{'none' if to_party_id is None else to_party_id}"
    )


def _step_name(scope: figures.Scope, key: str) -> str:
    """A step's name: in a procedure, that of its newest version naming the key;
    in a party's dashboard steps go by name already."""
    if scope.kind != "procedure":
        return key
    name = (
        Step.objects.filter(procedure_version__procedure_id=scope.id, key=key)
        .order_by("-procedure_version__number")
        .values_list("name", flat=True)
        .first()
    )
    return name or key


def figure_label(access: Access, scope: figures.Scope, figure: str) -> str:
    """What a figure counts, in words, for the heading of its runs (one query at
    most, for the name of a party, a position or a step)."""
    kind, _sep, rest = figure.partition(":")
    if kind in ("step", "critical", "delay"):
        rest = _step_name(scope, rest)
    if kind == "finished":
        return _("Runs finished")
    if kind == "on_time":
        return _("Runs finished on time")
    if kind == "late":
        return _("Runs finished late")
    if kind == "step":
        return _("Runs through the step %(step)s") % {"step": rest}
    if kind == "critical":
        return _("Runs with the step %(step)s on the critical path") % {"step": rest}
    if kind == "delay":
        return _("Late runs in which the step %(step)s caused delay") % {"step": rest}
    if kind == "handover":
        ends = rest.split(":")
        ids = [int(end) for end in ends if end.isdigit()]
        names = dict(
            org_queries.parties(access).filter(pk__in=ids).values_list("pk", "name")
        )

        def party(end: str) -> str:
            name = names.get(int(end)) if end.isdigit() else None
            return str(name) if name else _("(no party)")

        if len(ends) == 2:
            return _("Runs with a handover from %(from)s to %(to)s") % {
                "from": party(ends[0]),
                "to": party(ends[1]),
            }
    if kind == "position" and rest.isdigit():
        title = (
            org_queries.positions(access)
            .filter(pk=int(rest))
            .values_list("title", flat=True)
            .first()
        )
        return _("Runs with %(position)s on the critical path") % {
            "position": title or rest
        }
    if kind == "cause":
        return _("Runs with obstacles caused by %(cause)s") % {
            "cause": dict(Cause.choices).get(rest, rest)
        }
    if kind == "period":
        try:
            start = dt.date.fromisoformat(rest)
        except ValueError:
            return figure
        return _("Runs finished in the period from %(date)s") % {
            "date": formats.date_format(start, "j M Y")
        }
    return figure


# --- what the page shows --------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    label: str
    value: str
    href: str
    note: str = ""


@dataclass(frozen=True)
class StepLine:
    step: Any
    runs_href: str
    critical_href: str
    delay_href: str


@dataclass(frozen=True)
class HandoverLine:
    handover: Any
    label: str
    href: str


@dataclass(frozen=True)
class FigureLine:
    item: Any
    href: str
    text: str = ""


@dataclass(frozen=True)
class TrendLine:
    point: Any
    label: str
    late: int
    href: str


def bucket_label(start: dt.date, end: dt.date) -> str:
    """A month ("Mar 2026") or a week ("2 Mar"), in the reader's language."""
    whole_month = (
        start.day == 1 and end.day == calendar.monthrange(end.year, end.month)[1]
    )
    if whole_month and start.month == end.month and start.year == end.year:
        return formats.date_format(start, "M Y")
    return formats.date_format(start, "j M")


def _headlines(board: figures.Dashboard, link: Callable[[str], str]) -> list[Headline]:
    late = board.finished - board.on_time
    working_share = _share(
        board.working_hours,
        (_decimal(board.waiting_hours) or 0) + (_decimal(board.working_hours) or 0),
    )
    waiting_share = None if working_share is None else 1 - working_share
    return [
        Headline(_("Runs finished"), str(board.finished), link("finished")),
        Headline(
            _("On time"),
            percent_text(board.on_time_rate),
            link("on_time"),
            ngettext("%(count)d run on time", "%(count)d runs on time", board.on_time)
            % {"count": board.on_time},
        ),
        Headline(
            _("Late"),
            str(late),
            link("late"),
            ngettext("%(count)d run late", "%(count)d runs late", late)
            % {"count": late},
        ),
        Headline(
            _("Lead time, median"),
            hours_text(board.lead.median_hours),
            link("finished"),
            _("90th percentile: %(hours)s")
            % {"hours": hours_text(board.lead.p90_hours)},
        ),
        Headline(
            _("Waiting against working"),
            f"{percent_text(waiting_share)} / {percent_text(working_share)}",
            link("finished"),
            _("%(waiting)s waiting, %(working)s working")
            % {
                "waiting": hours_text(board.waiting_hours),
                "working": hours_text(board.working_hours),
            },
        ),
    ]


# --- the drawings ---------------------------------------------------------------------

MARGIN = 12.0
FONT = 13.0
SMALL = 12.0
COLOURS = {
    "finished": PALETTE["primary"],
    "on_time": PALETTE["success"],
    "lead": PALETTE["warning-text"],
    "waiting": PALETTE["warning-border"],
    "working": PALETTE["primary"],
}


def _nice_end(maximum: Decimal) -> tuple[Decimal, Decimal]:
    """An axis from 0 with 1-2-2.5-5 steps covering `maximum`: (step, end)."""
    step = nice_step(maximum)
    return step, axis_end(maximum, step)


def _icon(colour: str, *, line: bool = False) -> tuple[float, str]:
    if line:
        return 24.0, element(
            "line",
            {
                "x1": 0,
                "x2": 24,
                "y1": 0,
                "y2": 0,
                "stroke": colour,
                "stroke-width": 2.5,
            },
        ) + element("circle", {"cx": 12, "cy": 0, "r": 3.5, "fill": colour})
    return 24.0, element(
        "rect",
        {"x": 0, "y": -6, "width": 24, "height": 12, "rx": 2, "fill": colour},
    )


def render_trend(
    lines: Sequence[TrendLine],
    *,
    labels: dict[str, str],
    number: Callable[[Decimal], str],
    id_prefix: str = "dashboard-trend",
) -> SafeString:
    """Per period: runs finished and runs on time as bars (left axis), the median
    lead time as a line (right axis, hours). Every period links to its runs."""
    count = max(len(lines), 1)
    slot = max(44.0, min(160.0, 720.0 / count))
    left, plot_top, plot_height = MARGIN + 44, MARGIN + 24, 200.0
    plot_bottom = plot_top + plot_height
    right = left + slot * count
    width = right + 56 + MARGIN
    runs_max = Decimal(max([1, *(line.point.finished for line in lines)]))
    run_step, run_end = _nice_end(runs_max)
    if run_step < 1:  # runs are whole: no tick at half a run
        run_step, run_end = Decimal(1), axis_end(runs_max, Decimal(1))
    leads = [_decimal(line.point.lead.median_hours) for line in lines]
    lead_max = max([Decimal(1), *(value for value in leads if value is not None)])
    lead_step, lead_end = _nice_end(lead_max)

    def y_runs(value: Decimal) -> float:
        return plot_bottom - float(value / run_end) * plot_height

    def y_lead(value: Decimal) -> float:
        return plot_bottom - float(value / lead_end) * plot_height

    parts = [
        element(
            "rect",
            {"x": 0, "y": 0, "width": width, "height": 1, "fill": PALETTE["surface"]},
        ),
        '<g class="svg-axis" aria-hidden="true">',
    ]
    tick = Decimal(0)
    while tick <= run_end:
        at = y_runs(tick)
        parts.append(
            element(
                "line",
                {
                    "x1": left,
                    "x2": right,
                    "y1": at,
                    "y2": at,
                    "stroke": PALETTE["border-strong"] if tick == 0 else "#e8ecf1",
                },
            )
            + element(
                "text",
                {
                    "x": left - 6,
                    "y": at + 4,
                    "text-anchor": "end",
                    "font-size": SMALL,
                    "fill": PALETTE["text-muted"],
                },
                escape(number(tick)),
            )
        )
        tick += run_step
    tick = Decimal(0)
    while tick <= lead_end:
        parts.append(
            element(
                "text",
                {
                    "x": right + 6,
                    "y": y_lead(tick) + 4,
                    "font-size": SMALL,
                    "fill": COLOURS["lead"],
                },
                escape(number(tick)),
            )
        )
        tick += lead_step
    parts.append(
        element(
            "text",
            {
                "x": left - 6,
                "y": MARGIN + 8,
                "text-anchor": "end",
                "font-size": SMALL,
                "fill": PALETTE["text-muted"],
            },
            escape(labels["runs_axis"]),
        )
        + element(
            "text",
            {
                "x": right + 6,
                "y": MARGIN + 8,
                "font-size": SMALL,
                "fill": COLOURS["lead"],
            },
            escape(labels["lead_axis"]),
        )
    )
    parts.append("</g>")
    bar = min(18.0, (slot - 10) / 2)
    parts.append('<g class="svg-trend-periods">')
    points: list[tuple[float, float]] = []
    for index, line in enumerate(lines):
        point = line.point
        centre = left + slot * index + slot / 2
        tooltip = labels["tooltip"] % {
            "period": line.label,
            "finished": point.finished,
            "on_time": point.on_time,
            "lead": labels["hours"](point.lead.median_hours),
        }
        body = [title_element(tooltip)]
        body.append(
            element(
                "rect",
                {
                    "class": "svg-row-band",
                    "x": centre - slot / 2 + 2,
                    "y": plot_top,
                    "width": slot - 4,
                    "height": plot_height,
                    "fill": PALETTE["bg"] if index % 2 else PALETTE["surface"],
                    "opacity": 0.6,
                },
            )
        )
        for offset, key, value in (
            (-bar - 1, "finished", point.finished),
            (1.0, "on_time", point.on_time),
        ):
            if value:
                top = y_runs(Decimal(value))
                body.append(
                    element(
                        "rect",
                        {
                            "class": f"svg-bar svg-series-{token(key)}",
                            "x": centre + offset,
                            "y": top,
                            "width": bar,
                            "height": plot_bottom - top,
                            "rx": 2,
                            "fill": COLOURS[key],
                            "data-value": value,
                        },
                    )
                )
        body.append(
            element(
                "text",
                {
                    "class": "svg-row-label",
                    "x": centre,
                    "y": plot_bottom + 17,
                    "text-anchor": "middle",
                    "font-size": SMALL,
                    "fill": PALETTE["primary"],
                    "text-decoration": "underline",
                },
                escape(fit_text(line.label, slot - 4, SMALL)),
            )
        )
        median = leads[index]
        if median is not None and point.lead.count:
            points.append((centre, y_lead(median)))
        link = element(
            "a",
            {"class": "svg-row-link", "href": check_href(line.href)},
            "".join(body),
        )
        parts.append(
            element(
                "g",
                {"id": f"{id_prefix}-period-{index}", "class": "svg-trend-period"},
                link,
            )
        )
    parts.append("</g>")
    if points:
        parts.append(
            element(
                "polyline",
                {
                    "class": "svg-trend-lead",
                    "points": " ".join(f"{num(x)},{num(y)}" for x, y in points),
                    "fill": "none",
                    "stroke": COLOURS["lead"],
                    "stroke-width": 2.5,
                    "aria-hidden": "true",
                },
            )
        )
        parts.extend(
            element(
                "circle",
                {
                    "cx": x,
                    "cy": y,
                    "r": 3.5,
                    "fill": COLOURS["lead"],
                    "aria-hidden": "true",
                },
            )
            for x, y in points
        )
    legend_markup, legend_height = legend(
        [
            (*_icon(COLOURS["finished"]), labels["finished"]),
            (*_icon(COLOURS["on_time"]), labels["on_time"]),
            (*_icon(COLOURS["lead"], line=True), labels["lead"]),
        ],
        left=MARGIN,
        right=width - MARGIN,
        top=plot_bottom + 28,
    )
    parts.append(legend_markup)
    height = plot_bottom + 28 + legend_height + MARGIN
    parts[0] = element(
        "rect",
        {
            "class": "svg-background",
            "x": 0,
            "y": 0,
            "width": width,
            "height": height,
            "fill": PALETTE["surface"],
        },
    )
    return mark_safe(  # every text and attribute value went through escape()
        svg_root(
            id_prefix=id_prefix,
            kind="trend",
            width=width,
            height=height,
            title_text=labels["title"],
            description=labels["description"],
            interactive=bool(lines),
            body=parts,
        )
    )


def render_steps(
    lines: Sequence[StepLine],
    *,
    labels: dict[str, Any],
    number: Callable[[Decimal], str],
    id_prefix: str = "dashboard-steps",
) -> SafeString:
    """Per step, two horizontal bars: the median and the 90th percentile of its
    cycle time, each split into waiting and working in the proportion of the
    step's median waiting and working times. The step's name links to its runs."""
    label_width, plot_width, value_room = 220.0, 460.0, 110.0
    left = MARGIN + label_width
    right = left + plot_width
    width = right + value_room + MARGIN
    row_height = 48.0
    plot_top = MARGIN
    plot_bottom = plot_top + row_height * len(lines)
    maximum = max(
        [Decimal(1), *(_decimal(line.step.cycle.p90_hours) or 0 for line in lines)]
    )
    step, end = _nice_end(Decimal(maximum))

    def x(value: Decimal) -> float:
        return left + float(value / end) * plot_width

    parts = ['<g class="svg-axis" aria-hidden="true">']
    tick = Decimal(0)
    while tick <= end:
        at = x(tick)
        parts.append(
            element(
                "line",
                {
                    "x1": at,
                    "x2": at,
                    "y1": plot_top,
                    "y2": plot_bottom + 4,
                    "stroke": PALETTE["border-strong"] if tick == 0 else "#e8ecf1",
                },
            )
            + element(
                "text",
                {
                    "x": at,
                    "y": plot_bottom + 17,
                    "text-anchor": "middle",
                    "font-size": SMALL,
                    "fill": PALETTE["text-muted"],
                },
                escape(number(tick)),
            )
        )
        tick += step
    parts.append(
        element(
            "text",
            {
                "x": right,
                "y": plot_bottom + 32,
                "text-anchor": "end",
                "font-size": SMALL,
                "fill": PALETTE["text-muted"],
            },
            escape(labels["axis"]),
        )
    )
    parts.append("</g>")
    parts.append('<g class="svg-bar-rows">')
    for index, line in enumerate(lines):
        item = line.step
        top = plot_top + index * row_height
        waiting = _decimal(item.waiting.median_hours) or Decimal(0)
        working = _decimal(item.working.median_hours) or Decimal(0)
        total = waiting + working
        waiting_part = waiting / total if total else Decimal(0)
        body = [
            title_element(
                labels["tooltip"]
                % {
                    "step": item.name,
                    "median": labels["hours"](item.cycle.median_hours),
                    "p90": labels["hours"](item.cycle.p90_hours),
                    "waiting": labels["hours"](item.waiting.median_hours),
                    "working": labels["hours"](item.working.median_hours),
                    "runs": item.runs,
                }
            ),
            element(
                "rect",
                {
                    "class": "svg-row-band",
                    "x": MARGIN,
                    "y": top,
                    "width": right - MARGIN,
                    "height": row_height,
                    "fill": PALETTE["bg"] if index % 2 else PALETTE["surface"],
                },
            ),
            element(
                "a",
                {"class": "svg-row-link", "href": check_href(line.runs_href)},
                element(
                    "text",
                    {
                        "class": "svg-row-label",
                        "x": MARGIN + 8,
                        "y": top + row_height / 2 + 4,
                        "font-size": FONT,
                        "fill": PALETTE["primary"],
                        "text-decoration": "underline",
                    },
                    escape(fit_text(item.name, label_width - 16, FONT)),
                ),
            ),
        ]
        for offset, key, value in (
            (9.0, "median", item.cycle.median_hours),
            (26.0, "p90", item.cycle.p90_hours),
        ):
            amount = _decimal(value)
            y = top + offset
            if amount:
                start = x(Decimal(0))
                split = x(amount * waiting_part)
                finish = x(amount)
                opacity = 1 if key == "median" else 0.55
                for part, a, b in (
                    ("waiting", start, split),
                    ("working", split, finish),
                ):
                    if b - a >= 0.5:
                        body.append(
                            element(
                                "rect",
                                {
                                    "class": f"svg-bar svg-series-{part}",
                                    "x": a,
                                    "y": y,
                                    "width": b - a,
                                    "height": 13,
                                    "fill": COLOURS[part],
                                    "opacity": opacity,
                                },
                            )
                        )
            body.append(
                element(
                    "text",
                    {
                        "class": "svg-bar-value",
                        "x": (x(amount) if amount else x(Decimal(0))) + 5,
                        "y": y + 11,
                        "font-size": SMALL,
                        "fill": PALETTE["text"],
                    },
                    escape(f"{labels[key]} {labels['hours'](value)}"),
                )
            )
        parts.append(
            element(
                "g",
                {"id": f"{id_prefix}-row-{index}", "class": "svg-bar-row"},
                "".join(body),
            )
        )
    parts.append("</g>")
    legend_markup, legend_height = legend(
        [
            (*_icon(COLOURS["waiting"]), labels["waiting"]),
            (*_icon(COLOURS["working"]), labels["working"]),
        ],
        left=MARGIN,
        right=width - MARGIN,
        top=plot_bottom + 40,
    )
    parts.append(legend_markup)
    height = plot_bottom + 40 + legend_height + MARGIN
    background = element(
        "rect",
        {
            "class": "svg-background",
            "x": 0,
            "y": 0,
            "width": width,
            "height": height,
            "fill": PALETTE["surface"],
        },
    )
    return mark_safe(  # every text and attribute value went through escape()
        svg_root(
            id_prefix=id_prefix,
            kind="steps",
            width=width,
            height=height,
            title_text=labels["title"],
            description=labels["description"],
            interactive=bool(lines),
            body=[background, *parts],
        )
    )


def _number(value: Decimal) -> str:
    return format_decimal(value.normalize() if value else Decimal(0), None, _language())


def _trend_chart(lines: Sequence[TrendLine]) -> str:
    if not any(line.point.finished for line in lines):
        return ""
    return render_trend(
        lines,
        labels={
            "title": _("Runs finished, on time, and lead time"),
            "description": _(
                "Per period: the runs finished and those on time as bars, the "
                "median lead time as a line (hours, right axis). Each period links "
                "to its runs."
            ),
            "runs_axis": _("runs"),
            "lead_axis": _("hours"),
            "finished": _("Finished"),
            "on_time": _("On time"),
            "lead": _("Lead time, median"),
            "tooltip": _(
                "%(period)s: %(finished)s finished, %(on_time)s on time, "
                "median lead time %(lead)s"
            ),
            "hours": hours_text,
        },
        number=_number,
    )


def _steps_chart(lines: Sequence[StepLine]) -> str:
    if not any(line.step.runs for line in lines):
        return ""
    return render_steps(
        lines,
        labels={
            "title": _("Cycle time per step"),
            "description": _(
                "Per step: the median and the 90th percentile of its cycle time, "
                "each split into waiting and working in the proportion of the "
                "step's median waiting and working times. Each step links to its "
                "runs."
            ),
            "axis": _("hours"),
            "median": pgettext("statistics", "median"),
            "p90": _("p90"),
            "waiting": _("Waiting"),
            "working": _("Working"),
            "tooltip": _(
                "%(step)s: cycle time median %(median)s, 90th percentile %(p90)s; "
                "median waiting %(waiting)s, median working %(working)s; %(runs)s runs"
            ),
            "hours": hours_text,
        },
        number=_number,
    )


def _handover_chart(lines: Sequence[HandoverLine]) -> str:
    rows = [
        BarRow(
            id=index,
            label=line.label,
            values=(
                _decimal(line.handover.wait.median_hours),
                _decimal(line.handover.wait.p90_hours),
            ),
            texts=(
                hours_text(line.handover.wait.median_hours),
                hours_text(line.handover.wait.p90_hours),
            ),
            tooltip=ngettext(
                "%(count)d handover", "%(count)d handovers", line.handover.wait.count
            )
            % {"count": line.handover.wait.count},
            href=line.href,
        )
        for index, line in enumerate(lines)
        if line.handover.wait.count
    ]
    if not rows:
        return ""
    return render_bars(
        rows,
        series=[
            Series("median", _("Wait, median"), "primary"),
            Series("p90", _("Wait, 90th percentile"), "muted"),
        ],
        labels=BarLabels(
            description=_(
                "The wait at each handover between two parties, longest first. "
                "Each handover links to its runs."
            ),
            axis=_("hours"),
        ),
        number=_number,
        title=_("Waits at handovers between parties"),
        id_prefix="dashboard-handovers",
    )


# --- pages ----------------------------------------------------------------------------


def _scope_options(
    procedures: list[Any], parties: list[Party]
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The choices of the scope list, grouped: (group, [(value, name)])."""
    groups = [
        (_("Procedures"), [(f"procedure:{item.pk}", item.name) for item in procedures]),
        (_("Parties"), [(f"party:{item.pk}", item.name) for item in parties]),
    ]
    return [(label, options) for label, options in groups if options]


def _choices(access: Access) -> tuple[list[Any], list[Party]]:
    """The procedures and parties one may choose (two queries)."""
    procedures = list(chains_queries.procedures(access).order_by("name", "id"))
    parties = org_queries.parties(access).filter(is_active=True)
    return procedures, list(parties.order_by("name", "id"))


@org_view
@require_GET
def dashboard_home(request: HttpRequest) -> HttpResponse:
    """Choose what to look at: a procedure or a party, and the period."""
    access = _access(request)
    access.require_whole_organisation()  # as the dashboards themselves (404)
    form = PeriodForm(request.GET, today=org_queries.today_for(access))
    procedures, parties = _choices(access)
    chosen = request.GET.get("scope", "")
    status = 200
    scope_error = ""
    if chosen:
        kind, _sep, number = chosen.partition(":")
        known = {("procedure", str(item.pk)) for item in procedures} | {
            ("party", str(item.pk)) for item in parties
        }
        period = _period(form)
        if (kind, number) not in known:
            scope_error = _("Choose a procedure or a party from the list.")
            status = 400
        elif period is None:
            status = 400
        else:
            name = "dashboard-procedure" if kind == "procedure" else "dashboard-party"
            url = reverse(name, args=[access.organisation.slug, int(number)])
            return redirect(f"{url}?{urlencode(period.query)}")
    period = _period(form) if form.is_bound else None
    query = urlencode(period.query) if period else ""
    return render_page(
        request,
        "web/dashboard/home.html",
        status=status,
        nav="dashboard",
        form=form,
        procedures=procedures,
        parties=parties,
        scope_options=_scope_options(procedures, parties),
        chosen=chosen,
        scope_error=scope_error,
        query=query,
    )


def _board(
    request: HttpRequest, kind: str, pk: int
) -> tuple[Access, figures.Scope, PeriodForm, Period | None, Any]:
    access = _access(request)
    scope = _scope(access, kind, pk)
    form = PeriodForm(request.GET, today=org_queries.today_for(access))
    period = _period(form)
    board = None
    if period is not None:
        try:
            board = figures.dashboard(access, scope, start=period.start, end=period.end)
        except ValidationFailed as error:
            _apply_period_errors(form, error)
            period = None
    return access, scope, form, period, board


def _dashboard_page(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    access, scope, form, period, board = _board(request, kind, pk)
    context: dict[str, Any] = {
        "nav": "dashboard",
        "scope": scope,
        "form": form,
        "period": period,
        "board": board,
        "other_kind": "party" if scope.kind == "procedure" else "procedure",
    }
    if board is None or period is None:
        return render_page(
            request, "web/dashboard/dashboard.html", status=400, **context
        )

    def link(figure: str) -> str:
        return runs_url(access, scope, period, figure)

    steps = [
        StepLine(
            step,
            link(f"step:{step.key}"),
            link(f"critical:{step.key}"),
            link(f"delay:{step.key}"),
        )
        for step in board.steps
    ]
    handovers = [
        HandoverLine(
            item,
            f"{item.from_party} → {item.to_party}",
            link(handover_figure(item.from_party_id, item.to_party_id)),
        )
        for item in board.handovers
    ]
    trend = [
        TrendLine(
            point,
            bucket_label(point.start, point.end),
            point.finished - point.on_time,
            link(f"period:{point.start.isoformat()}"),
        )
        for point in board.trend
    ]
    context.update(
        headlines=_headlines(board, link),
        steps=steps,
        handovers=handovers,
        positions=[
            FigureLine(item, link(f"position:{item.position_id}"))
            for item in board.positions
        ],
        causes=[
            FigureLine(
                item,
                link(f"cause:{item.cause}"),
                hours_text(Decimal(item.delay_minutes) / 60),
            )
            for item in board.causes
        ],
        trend=trend,
        trend_chart=_trend_chart(trend),
        steps_chart=_steps_chart(steps),
        handover_chart=_handover_chart(handovers),
        by_week=(period.end - period.start).days < 62,
        xlsx_url=export_url(access, scope, period, "xlsx"),
        pdf_url=export_url(access, scope, period, "pdf"),
        period_text=_("%(start)s to %(end)s")
        % {
            "start": formats.date_format(period.start, "j M Y"),
            "end": formats.date_format(period.end, "j M Y"),
        },
    )
    return render_page(request, "web/dashboard/dashboard.html", **context)


@org_view
@require_GET
def dashboard_procedure(request: HttpRequest, pk: int) -> HttpResponse:
    """A procedure's dashboard (all its versions) over the period."""
    return _dashboard_page(request, "procedure", pk)


@org_view
@require_GET
def dashboard_party(request: HttpRequest, pk: int) -> HttpResponse:
    """A party's dashboard (the runs in which it had a task) over the period."""
    return _dashboard_page(request, "party", pk)


@dataclass(frozen=True)
class RunLine:
    run: Run
    lead: str


@org_view
@require_GET
def dashboard_runs(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """The runs behind one figure (`?figure=&from=&to=`), as a run list."""
    access = _access(request)
    if kind not in KINDS:
        raise Http404
    scope = _scope(access, KINDS[kind], pk)
    form = PeriodForm(request.GET, today=org_queries.today_for(access))
    period = _period(form)
    figure = request.GET.get("figure", "")
    context: dict[str, Any] = {
        "nav": "dashboard",
        "scope": scope,
        "form": form,
        "figure": figure,
        "period": period,
        "error": "",
    }
    ids: list[int] | None = None
    if period is not None:
        try:
            ids = figures.runs_behind(
                access, scope, start=period.start, end=period.end, figure=figure
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
    if ids is None:
        return render_page(request, "web/dashboard/runs.html", status=400, **context)
    assert period is not None
    page = Paginator(ids, PAGE_SIZE).get_page(request.GET.get("page"))
    page_ids = list(page.object_list)
    found = {run.pk: run for run in chains_queries.runs(access).filter(pk__in=page_ids)}
    lines = [
        RunLine(
            run,
            hours_text(
                Decimal((run.completed_at - run.started_at).total_seconds()) / 3600
            )
            if run.completed_at
            else "—",
        )
        for run in (found.get(pk) for pk in page_ids)
        if run is not None
    ]
    context.update(
        page=page,
        lines=lines,
        label=figure_label(access, scope, figure),
        back_url=page_url(access, scope, **period.query),
        period_text=_("%(start)s to %(end)s")
        % {
            "start": formats.date_format(period.start, "j M Y"),
            "end": formats.date_format(period.end, "j M Y"),
        },
    )
    return render_page(request, "web/dashboard/runs.html", **context)


@org_view
@require_GET
def dashboard_export(
    request: HttpRequest, kind: str, pk: int, file_format: str
) -> HttpResponse:
    """The dashboard's figures as an Excel workbook or a PDF, for download."""
    if kind not in KINDS or file_format not in ("xlsx", "pdf"):
        raise Http404
    _caller, scope, form, period, board = _board(request, KINDS[kind], pk)
    if board is None or period is None:
        return render_page(
            request,
            "web/dashboard/dashboard.html",
            status=400,
            nav="dashboard",
            scope=scope,
            form=form,
            period=None,
            board=None,
        )
    stem = (
        f"dashboard-{scope.kind}-{scope.id}-"
        f"{period.start.isoformat()}-{period.end.isoformat()}"
    )
    if file_format == "xlsx":
        return _download(
            exports.dashboard_xlsx(board), XLSX_CONTENT_TYPE, f"{stem}.xlsx"
        )
    return _download(exports.dashboard_pdf(board), PDF_CONTENT_TYPE, f"{stem}.pdf")


__all__ = [
    "PeriodForm",
    "bucket_label",
    "dashboard_export",
    "dashboard_home",
    "dashboard_party",
    "dashboard_procedure",
    "dashboard_runs",
    "decimal_text",
    "figure_label",
    "hours_text",
    "percent_text",
    "preset_dates",
    "render_steps",
    "render_trend",
]
