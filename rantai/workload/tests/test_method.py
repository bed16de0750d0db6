"""The workload method and its calculation (pure: no database).

Worked examples come from public documents, each cited where it is used; where no
public figure was found, the case is computed by hand in the test's docstring.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
from decimal import Decimal

import pytest
from django.utils import translation
from django.utils.translation import gettext
from hypothesis import given, settings
from hypothesis import strategies as st

from rantai.core.errors import ValidationFailed
from rantai.workload.method import (
    Calendar,
    CustomDerivation,
    EffectiveTime,
    EntryInput,
    FteCategory,
    FteConvention,
    GradeBand,
    Method,
    Preset,
    Rounding,
    available_minutes,
    default_grades,
    derivation_steps,
    entry_result,
    grade_for,
    load_per_holder,
    position_result,
)

D = Decimal
PANRB = Method.default()
YEAR_OF_PANRB = D(75_000)


def duty(volume, period="year", standard=None, unit="minute") -> EntryInput:
    return EntryInput(
        volume=None if volume is None else D(volume),
        period=period,
        standard_time=None if standard is None else D(standard),
        time_unit=unit,
    )


def word(msgid: str, language: str) -> str:
    with translation.override(language):
        return gettext(msgid)


def position(
    entries, *, holders=1, acting=0, method=PANRB, available=YEAR_OF_PANRB, **kw
):
    return position_result(
        entries,
        holders=holders,
        acting=acting,
        method=method,
        available_minutes=available,
        **kw,
    )


def refusal(method: Method) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as refused:
        method.validate()
    return refused.value.errors


# -- effective working time (WKE) presets -----------------------------------


def test_the_default_method_is_permenpan_rb_1_2020_with_1250_hours_a_year():
    """Permenpan RB No. 1/2020 states 1,250 hours = 75,000 minutes a year; the
    per-period figures are Rantai's derivation over 250 days, 50 weeks, 12 months:
    75,000 ÷ 250 = 300, ÷ 50 = 1,500, ÷ 12 = 6,250. The same 1,250 hours appear in
    "E-Book PANDAN PEJABAT", page 11
    (http://online.flipbuilder.com/pnhky/dmzo/files/basic-html/page11.html):
    "235 hr x 5 jam 30 menit/hari = 1.245 jam dibulatkan 1.250 jam"."""
    method = Method.default()
    assert method.preset == Preset.PANRB_2020
    assert method.effective == EffectiveTime(
        day=D(300), week=D(1_500), month=D(6_250), year=D(75_000)
    )
    assert method.effective.year == 1_250 * 60
    assert method.calendar == Calendar(250, 50, 12)
    assert method.rounding == Rounding.HALF_UP_AT_LEAST_ONE
    assert method.acting_holders_count is False
    assert method.fte_allowance_percent == D(15)
    assert method.fte_convention == FteConvention.ALLOWANCE_ADDED
    assert (method.fte_underload_below, method.fte_overload_above) == (
        D("1.00"),
        D("1.28"),
    )
    method.validate()


def test_permendagri_12_2008_has_1300_hours_a_year():
    """Permendagri No. 12/2008: 1,300 hours = 78,000 minutes a year; per period
    Rantai's derivation over 260 days, 52 weeks, 12 months: 300, 1,500, 6,500.
    The 1,300 hours are worked out in "Contoh Hasil Olah Produktivitas" (Ade Johan,
    https://id.scribd.com/document/61176493/Contoh-Hasil-Olah-Produktivitas):
    "235 hr x 5 jam 36 mnt/hr = 1.324 jam = 1.300 jam"."""
    method = Method.from_preset(Preset.PERMENDAGRI_2008)
    assert method.effective == EffectiveTime(
        day=D(300), week=D(1_500), month=D(6_500), year=D(78_000)
    )
    assert method.effective.year == 1_300 * 60
    assert method.calendar == Calendar(260, 52, 12)
    method.validate()


def test_perka_bkn_19_2011_per_period_figures_are_the_regulations_own():
    """Perka BKN No. 19/2011, quoted in the Kemenristekdikti ABK guideline
    ("Jam kerja efektif adalah jumlah jam kerja formal ...", Course Hero,
    https://www.coursehero.com/file/p3kbnogc/Jam-kerja-efektif-adalah-jumlah-jam-kerja-formal-dikurangi-dengan-waktu-kerja/):
    per day 1 × 5 h = 300 min; per week 5 × 5 h = 1,500 min; per month 20 × 5 h =
    6,000 min; per year 240 × 5 h = 1,200 h = 72,000 min."""
    method = Method.from_preset(Preset.BKN_2011)
    assert method.effective == EffectiveTime(
        day=D(300), week=D(1_500), month=D(6_000), year=D(72_000)
    )
    assert method.effective.day == 1 * 5 * 60
    assert method.effective.week == 5 * 5 * 60
    assert method.effective.month == 20 * 5 * 60
    assert method.effective.year == 240 * 5 * 60
    assert method.calendar == Calendar(240, 48, 12)
    method.validate()


def test_an_unknown_preset_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        Method.from_preset("permenpan_1999")
    assert list(refused.value.errors) == ["preset"]


def test_a_custom_wke_is_derived_step_by_step():
    """Computed by hand (the default derivation): working days = 5 × 52 − 16 − 12 =
    232; minutes a day = 8 × 60 × (1 − 30/100) = 336; year = 232 × 336 = 77,952;
    week = 5 × 336 = 1,680; month = 77,952 ÷ 12 = 6,496; weeks = 232 ÷ 5 = 46.4 → 46.
    """
    custom = CustomDerivation()
    method = Method.from_preset(Preset.CUSTOM, custom=custom)
    assert method.effective == EffectiveTime(
        day=D(336), week=D(1_680), month=D(6_496), year=D(77_952)
    )
    assert method.calendar == Calendar(232, 46, 12)
    method.validate()

    steps = derivation_steps(custom, language="en")
    assert [(step.formula, step.value) for step in steps] == [
        ("5 × 52 − 16 − 12", D(232)),
        ("8 × 60 × (1 − 30 ÷ 100)", D(336)),
        ("232 × 336", D(77_952)),
        ("5 × 336", D(1_680)),
        ("77,952 ÷ 12", D(6_496)),
        ("232 ÷ 5", D(46)),
    ]
    assert [step.label for step in steps] == [
        "Working days per year",
        "Effective minutes per day",
        "Effective minutes per year",
        "Effective minutes per week",
        "Effective minutes per month",
        "Working weeks per year",
    ]
    # In Indonesian the numbers use Indonesian marks.
    assert derivation_steps(custom, language="id")[4].formula == "77.952 ÷ 12"


def test_a_custom_wke_with_fractional_minutes_stays_exact():
    """Computed by hand: 5 × 52 − 15 − 12 = 233 days; 7.5 h × 60 × (1 − 15/100) =
    382.5 min a day; year 233 × 382.5 = 89,122.5; week 5 × 382.5 = 1,912.5; month
    89,122.5 ÷ 12 = 7,426.875."""
    custom = CustomDerivation(
        public_holidays=15, hours_per_day=D("7.5"), allowance_percent=D(15)
    )
    method = Method.from_preset(Preset.CUSTOM, custom=custom)
    assert method.effective == EffectiveTime(
        day=D("382.5"), week=D("1912.5"), month=D("7426.875"), year=D("89122.5")
    )
    assert derivation_steps(custom, language="id")[1].formula == (
        "7,5 × 60 × (1 − 15 ÷ 100)"
    )


# -- a duty's required staff -------------------------------------------------


def test_a_duty_needs_volume_times_standard_time_over_the_wke_of_its_period():
    """Computed by hand: 120 letters a year × 30 minutes = 3,600 minutes;
    3,600 ÷ 75,000 = 0.048 of a person."""
    result = entry_result(duty(120, "year", 30), PANRB, language="en")
    assert result.standard_minutes == D(30)
    assert result.effective_minutes == D(75_000)
    assert result.required_staff == D("0.048")
    assert result.yearly_minutes == D(3_600)
    assert result.trace == "120 × 30 min ÷ 75,000 min = 0.0480"
    assert result.yearly_trace == "120 × 1 × 30 min = 3,600 min"


def test_the_trace_is_written_in_the_readers_language():
    result = entry_result(duty(120, "year", 30), PANRB, language="id")
    minutes = word("min", "id")
    assert result.trace == f"120 × 30 {minutes} ÷ 75.000 {minutes} = 0,0480"


@pytest.mark.parametrize(
    ("period", "effective", "required", "yearly"),
    [
        # 10 × 15 = 150 minutes against 300 a day; 250 days a year
        ("day", D(300), D("0.5"), D(37_500)),
        # 150 against 1,500 a week; 50 weeks a year
        ("week", D(1_500), D("0.1"), D(7_500)),
        # 150 against 6,250 a month; 12 months a year
        ("month", D(6_250), D("0.024"), D(1_800)),
        ("year", D(75_000), D("0.002"), D(150)),
    ],
)
def test_each_period_is_measured_against_its_own_wke(
    period, effective, required, yearly
):
    """Computed by hand: volume 10, standard time 15 minutes, Permenpan RB 2020."""
    result = entry_result(duty(10, period, 15), PANRB)
    assert result.effective_minutes == effective
    assert result.required_staff == required
    assert result.yearly_minutes == yearly


def test_standard_time_in_hours_is_converted_to_minutes():
    """ "Formula Penghitungan Jabatan Teknis" (kangom.blogspot.com,
    https://kangom.blogspot.com/2013/03/formula-penghitungan-jabatan-teknis.html):
    Perancang Grafik Peta Bumi, task time 54,300 minutes (905 hours) a year against
    75,000 minutes (1,250 hours): "sebanyak 1 (satu) pegawai". The page prints the
    quotient as 0,75; 54,300 ÷ 75,000 is exactly 0.724, which also rounds to one
    person under "at least one"."""
    result = entry_result(duty(1, "year", 905, unit="hour"), PANRB, language="id")
    assert result.standard_minutes == D(54_300)
    assert result.required_staff == D("0.724")
    hours, minutes = word("h", "id"), word("min", "id")
    assert result.trace == f"1 × 905 {hours} × 60 ÷ 75.000 {minutes} = 0,7240"

    sheet = position([duty(1, "year", 905, unit="hour")], holders=1)
    assert sheet.required_count == 1


def test_a_university_administration_duty_against_its_own_wke():
    """ "Menyusun Waktu Penyelesaian Tugas, Menghitung Jumlah Kebutuhan Pegawai"
    (IPB thesis, 123dok, https://text-id.123dok.com/document/1y9d3edrq-menyusun-waktu-penyelesaian-tugas-menghitung-jumlah-kebutuhan-pegawai.html):
    WKE 1,785 minutes a week = 92,820 a year (1,785 × 52); "2000 lembar x 5 menit
    per lembar sama dengan 10000 menit per tahun". Required staff computed here:
    10,000 ÷ 92,820."""
    method = dataclasses.replace(
        PANRB,
        effective=EffectiveTime(
            day=D(357), week=D(1_785), month=D(7_735), year=D(92_820)
        ),
        calendar=Calendar(260, 52, 12),
    )
    assert method.effective.year == 1_785 * 52
    result = entry_result(duty(2_000, "year", 5), method)
    assert result.yearly_minutes == D(10_000)
    with decimal.localcontext(decimal.Context(prec=28)):
        assert result.required_staff == D(10_000) / D(92_820)
    assert result.trace.endswith(" = 0.1077")


def test_an_unfilled_duty_has_no_result():
    for entry in (duty(None, "day", 5), duty(5, "day", None)):
        result = entry_result(entry, PANRB)
        assert result.required_staff is None
        assert result.yearly_minutes is None
        assert result.effective_minutes == D(300)
        assert result.trace == "not filled in"


def test_an_unknown_period_or_time_unit_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        entry_result(duty(1, "fortnight", 5, unit="second"), PANRB)
    assert sorted(refused.value.errors) == ["time_unit", "volume_period"]


# -- a position's figures ----------------------------------------------------


def test_a_position_sums_its_duties_and_grades_its_holders():
    """Computed by hand (Permenpan RB 2020): 120/year × 30 min = 0.048; 5/day ×
    1.5 h = 450 min ÷ 300 = 1.5; total 1.548 → 2 people. Two holders: shortage 0,
    EJ = 1.548 ÷ 2 = 0.774 → C. FTE with 245 days × 450 min = 110,250 available:
    activity 3,600 + 5 × 250 × 90 = 116,100 min; (116,100 + 15 % × 110,250) ÷
    110,250 = 132,637.5 ÷ 110,250 = 1.2030612244... → normal, 2 by FTE."""
    entries = [duty(120, "year", 30), duty(5, "day", "1.5", "hour"), duty(None)]
    result = position(
        entries, holders=2, acting=1, available=available_minutes(245, 450)
    )
    assert result.required_staff == D("1.548")
    assert result.required_count == 2
    assert result.current_holders == 2
    assert result.shortage == 0
    assert result.effectiveness == D("0.774")
    assert result.grade == "C"
    assert result.activity_minutes == D(116_100)
    with decimal.localcontext(decimal.Context(prec=28)):
        assert result.fte == D("132637.5") / D(110_250)
    assert result.fte_category == FteCategory.UNDERLOAD
    assert result.fte_count == 2
    assert len(result.entries) == 3
    assert result.traces == {
        "required_staff": "0.0480 + 1.5000 = 1.5480",
        "required_count": (
            "1.5480 → 2 (round half up, at least 1 when there is any workload)"
        ),
        "current_holders": ("definitive holders: 2 (acting (Plt) 1 not counted)"),
        "shortage": "2 − 2 = 0",
        "effectiveness": "1.5480 ÷ 2 = 0.7740",
        "grade": "EJ = 0.7740: 0.70 ≤ EJ < 0.90 → C",
        "activity_minutes": ("120 × 1 × 30 min + 5 × 250 × 1.5 h × 60 = 116,100 min"),
        "fte": "(116,100 min + 15% × 110,250 min) ÷ 110,250 min = 1.2031",
        "fte_category": (
            "one holder's load: (116,100 min ÷ 2 + 15% × 110,250 min) ÷ "
            "110,250 min = 0.6765; 0.6765 < 1.00 → underload"
        ),
        "fte_count": "⌈1.2031⌉ = 2",
    }


def test_position_traces_use_the_readers_language():
    result = position(
        [duty(120, "year", 30), duty(5, "day", "1.5", "hour")],
        holders=2,
        available=available_minutes(245, 450),
        language="id",
    )
    minutes = word("min", "id")
    assert result.traces["required_staff"] == "0,0480 + 1,5000 = 1,5480"
    assert result.traces["effectiveness"] == "1,5480 ÷ 2 = 0,7740"
    assert result.traces["grade"] == "EJ = 0,7740: 0,70 ≤ EJ < 0,90 → C"
    assert result.traces["fte"] == (
        f"(116.100 {minutes} + 15% × 110.250 {minutes}) ÷ 110.250 {minutes} = 1,2031"
    )


@pytest.mark.parametrize(
    ("required", "half_up_at_least_one", "half_up", "ceiling"),
    [
        (D(0), 0, 0, 0),
        (D("0.048"), 1, 0, 1),
        (D("0.5"), 1, 1, 1),
        (D("1.4999"), 1, 1, 2),
        (D("1.5"), 2, 2, 2),
        (D("2.4"), 2, 2, 3),
        (D(3), 3, 3, 3),
    ],
)
def test_required_staff_is_counted_by_the_rounding_rule(
    required, half_up_at_least_one, half_up, ceiling
):
    """Computed by hand: a duty of `required` × 75,000 minutes a year."""
    entries = [duty(required * 75_000, "year", 1)] if required else []
    counts = [
        position(
            entries, method=dataclasses.replace(PANRB, rounding=rule)
        ).required_count
        for rule in (Rounding.HALF_UP_AT_LEAST_ONE, Rounding.HALF_UP, Rounding.CEILING)
    ]
    assert counts == [half_up_at_least_one, half_up, ceiling]


def test_acting_holders_count_only_when_the_method_says_so():
    """Computed by hand: 2.6 required → 3; 1 definitive + 1 acting (Plt)."""
    entries = [duty(D("2.6") * 75_000, "year", 1)]
    not_counted = position(entries, holders=1, acting=1)
    assert (not_counted.current_holders, not_counted.shortage) == (1, 2)
    assert not_counted.effectiveness == D("2.6")
    assert not_counted.grade == "A"

    counting = dataclasses.replace(PANRB, acting_holders_count=True)
    counted = position(entries, holders=1, acting=1, method=counting)
    assert (counted.current_holders, counted.shortage) == (2, 1)
    assert counted.effectiveness == D("1.3")
    assert counted.traces["current_holders"] == "definitive 1 + acting (Plt) 1 = 2"


def test_a_surplus_is_a_negative_shortage():
    result = position([duty(75_000, "year", 1)], holders=4)
    assert (result.required_count, result.shortage) == (1, -3)
    assert result.effectiveness == D("0.25")
    assert result.grade == "E"
    assert result.traces["shortage"] == "1 − 4 = −3"


def test_a_vacant_position_has_no_effectiveness():
    result = position([duty(150_000, "year", 1)], holders=0)
    assert result.required_count == 2
    assert result.shortage == 2
    assert result.effectiveness is None
    assert result.grade == ""
    assert result.traces["effectiveness"] == "no current holders: not applicable"


def test_a_position_with_no_filled_duty_needs_nobody():
    result = position([duty(None, "day", None)], holders=1)
    assert result.required_staff == 0
    assert result.required_count == 0
    assert result.shortage == -1
    assert result.activity_minutes == 0
    assert result.traces["required_staff"] == "no filled duties: 0.0000"


# -- job effectiveness grades (PJ) --------------------------------------------


@pytest.mark.parametrize(
    ("effectiveness", "grade"),
    [
        ("5", "A"),
        ("1.0000001", "A"),
        ("1.00", "B"),
        ("1", "B"),
        ("0.95", "B"),
        ("0.90", "B"),
        ("0.8999999", "C"),
        ("0.70", "C"),
        ("0.6999", "D"),
        ("0.50", "D"),
        ("0.4999", "E"),
        ("0", "E"),
        ("-1", "E"),
    ],
)
def test_the_default_bands_are_respected_at_their_boundaries(effectiveness, grade):
    """Bands of issue 5 (Permendagri 12/2008 table): A > 1.00; B 0.90–1.00;
    C 0.70–<0.90; D 0.50–<0.70; E < 0.50."""
    assert grade_for(D(effectiveness), default_grades()) == grade


DEFAULT_BANDS = default_grades()


def reference_grade(value: Decimal) -> str:
    """The default bands written as the regulation reads them."""
    if value > D("1.00"):
        return "A"
    if D("0.90") <= value <= D("1.00"):
        return "B"
    if D("0.70") <= value < D("0.90"):
        return "C"
    if D("0.50") <= value < D("0.70"):
        return "D"
    return "E"


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_every_effectiveness_has_exactly_the_grade_of_its_band(value):
    assert grade_for(value, DEFAULT_BANDS) == reference_grade(value)


@st.composite
def valid_bands(draw) -> tuple[GradeBand, ...]:
    lowers = draw(
        st.lists(
            st.decimals(min_value=-5, max_value=5, places=3),
            min_size=0,
            max_size=5,
            unique=True,
        )
    )
    lowers.sort(reverse=True)
    bands = [
        GradeBand(f"G{index}", lower, draw(st.booleans()))
        for index, lower in enumerate(lowers)
    ]
    bands.append(GradeBand("Z", None, False))
    return tuple(bands)


def inside(value: Decimal, index: int, bands) -> bool:
    band = bands[index]
    above_lower = band.lower is None or (
        value > band.lower or (band.lower_inclusive and value == band.lower)
    )
    if index == 0:
        return above_lower
    upper = bands[index - 1]
    below_upper = value < upper.lower or (
        not upper.lower_inclusive and value == upper.lower
    )
    return above_lower and below_upper


@given(bands=valid_bands(), data=st.data())
def test_valid_bands_leave_no_gaps_and_no_overlaps(bands, data):
    # Given any bands that validate
    Method(grades=bands).validate()
    bounds = [band.lower for band in bands if band.lower is not None]
    value = data.draw(
        st.one_of(
            st.decimals(min_value=-10, max_value=10, places=4),
            st.sampled_from(bounds or [D(0)]),
        )
    )
    # Then the value lies in exactly one band, and that is the grade given
    holding = [band.grade for i, band in enumerate(bands) if inside(value, i, bands)]
    assert holding == [grade_for(value, bands)]


# -- FTE ----------------------------------------------------------------------


FTE_DESIGN_OPERATOR = [
    # (activity, cycle time in minutes), all daily, from the page below
    ("Menyalakan Komputer dan Mesin Print", "2.28"),
    ("Desain", "220.05"),
    ("Koreksi Desain", "21.67"),
    ("Print Desain", "1.00"),
    ("Memotong Transferpapper", "42.58"),
    ("Menyusun Transferpapper", "10.19"),
    ("Memindahkan Transferpapper ke Stasiun Kerja Press", "2.44"),
    ("Mematikan Komputer dan Mesin Print", "2.07"),
]


def test_fte_of_a_design_operator():
    """ "Full Time Equivalent (FTE) - Pengolahan Data" (123dok,
    https://123dok.com/id/article/full-time-equivalent-fte-pengolahan-data.11886699),
    Tabel 4.11 Desain Operator 1: eight daily activities over 285 working days,
    total activity 86,149.8 min; available 285 × 420 = 119,700 min; allowance
    15 % × 285 × 420 = 17,955 min; FTE = (86,149.8 + 17,955) ÷ 119,700, printed
    as 0.86 (exactly 0.8697142857…, truncated on the page): underload."""
    method = dataclasses.replace(PANRB, calendar=Calendar(285, 57, 12))
    entries = [duty(1, "day", minutes) for _activity, minutes in FTE_DESIGN_OPERATOR]
    results = [entry_result(entry, method) for entry in entries]
    assert [result.yearly_minutes for result in results] == [
        D("649.80"),
        D("62714.25"),
        D("6175.95"),
        D("285.00"),
        D("12135.30"),
        D("2904.15"),
        D("695.40"),
        D("589.95"),
    ]
    available = available_minutes(285, 420)
    assert available == D(119_700)

    result = position(entries, method=method, available=available)
    assert result.activity_minutes == D("86149.80")
    with decimal.localcontext(decimal.Context(prec=28)):
        assert result.fte == (D("86149.8") + D(17_955)) / D(119_700)
    assert result.fte.quantize(D("0.0001")) == D("0.8697")
    assert result.fte_category == FteCategory.UNDERLOAD
    assert result.fte_count == 1
    assert result.traces["fte"] == (
        "(86,149.8 min + 15% × 119,700 min) ÷ 119,700 min = 0.8697"
    )
    assert result.traces["fte_category"] == "0.8697 < 1.00 → underload"


def test_fte_with_the_allowance_deducted_from_the_available_time():
    """Computed by hand: 110,000 min of activity; 100,000 available, 15 % deducted
    → 110,000 ÷ 85,000 = 1.2941176…: overload (> 1.28), 2 people."""
    method = dataclasses.replace(PANRB, fte_convention=FteConvention.ALLOWANCE_DEDUCTED)
    result = position([duty(110_000, "year", 1)], method=method, available=D(100_000))
    with decimal.localcontext(decimal.Context(prec=28)):
        assert result.fte == D(110_000) / D(85_000)
    assert result.fte_category == FteCategory.OVERLOAD
    assert result.fte_count == 2
    assert result.traces["fte"] == (
        "110,000 min ÷ (100,000 min − 15% × 100,000 min) = 1.2941"
    )
    assert result.traces["fte_category"] == "1.2941 > 1.28 → overload"


@pytest.mark.parametrize(
    ("activity", "category"),
    [
        ("84999", FteCategory.UNDERLOAD),  # 0.99999
        ("85000", FteCategory.NORMAL),  # exactly 1.00
        ("113000", FteCategory.NORMAL),  # exactly 1.28
        ("113001", FteCategory.OVERLOAD),  # 1.28001
    ],
)
def test_fte_categories_at_their_limits(activity, category):
    """Computed by hand: 100,000 min available; + 15,000 allowance."""
    result = position([duty(activity, "year", 1)], available=D(100_000))
    assert result.fte_category == category


def test_no_available_time_means_no_fte():
    result = position([duty(10, "day", 5)], available=available_minutes(0, 480))
    assert result.fte is None
    assert result.fte_category == ""
    assert result.fte_count == 0
    assert result.traces["fte"] == "no available time: not applicable"


# -- validation ---------------------------------------------------------------


def test_the_presets_validate():
    for preset in Preset:
        Method.from_preset(preset).validate()


def test_non_positive_effective_times_are_refused():
    method = dataclasses.replace(
        PANRB,
        effective=EffectiveTime(day=D(0), week=D(-1), month=D(6_250), year=D(75_000)),
    )
    errors = refusal(method)
    assert sorted(errors) == ["effective.day", "effective.week"]


@pytest.mark.parametrize("percent", ["-0.01", "100.01", "250"])
def test_an_fte_allowance_outside_0_to_100_is_refused(percent):
    errors = refusal(dataclasses.replace(PANRB, fte_allowance_percent=D(percent)))
    assert list(errors) == ["fte_allowance_percent"]


def test_a_deducted_allowance_must_leave_available_time():
    deducted = dataclasses.replace(
        PANRB,
        fte_convention=FteConvention.ALLOWANCE_DEDUCTED,
        fte_allowance_percent=D(100),
    )
    assert list(refusal(deducted)) == ["fte_allowance_percent"]
    # Added on top, 100 % is a (strange but) computable allowance.
    dataclasses.replace(PANRB, fte_allowance_percent=D(100)).validate()
    dataclasses.replace(deducted, fte_allowance_percent=D("99.99")).validate()


def test_the_underload_limit_must_be_below_the_overload_limit():
    for under, over in (("1.28", "1.28"), ("1.5", "1.28")):
        method = dataclasses.replace(
            PANRB, fte_underload_below=D(under), fte_overload_above=D(over)
        )
        assert list(refusal(method)) == ["fte_overload_above"]


@pytest.mark.parametrize(
    "bands",
    [
        (),  # no bands at all
        (
            GradeBand("A", D("0.5"), True),
            GradeBand("B", D("0.9"), True),
            GradeBand("E", None, False),
        ),
        (
            GradeBand("A", D("0.9"), False),
            GradeBand("B", D("0.9"), True),
            GradeBand("E", None, False),
        ),
        (
            GradeBand("A", D("1"), False),
            GradeBand("A", D("0.5"), True),
            GradeBand("E", None, False),
        ),
        (GradeBand("A", D("1"), False), GradeBand("B", D("0.5"), True)),  # no open end
        (
            GradeBand("A", D("1"), False),
            GradeBand("B", None, False),
            GradeBand("E", None, False),
        ),
        (GradeBand("", D("1"), False), GradeBand("E", None, False)),
        (GradeBand("A", D("NaN"), False), GradeBand("E", None, False)),
    ],
)
def test_bands_that_could_leave_gaps_or_overlaps_are_refused(bands):
    assert list(refusal(dataclasses.replace(PANRB, grades=bands))) == ["grades"]


def test_unknown_choices_are_refused():
    method = dataclasses.replace(
        PANRB, preset="panrb", rounding="banker", fte_convention="other"
    )
    assert sorted(refusal(method)) == ["fte_convention", "preset", "rounding"]


def test_a_custom_derivation_that_cannot_work_is_refused():
    custom = CustomDerivation(
        working_days_per_week=8,
        hours_per_day=D(0),
        allowance_percent=D(100),
        public_holidays=-1,
    )
    method = dataclasses.replace(PANRB, preset=Preset.CUSTOM, custom=custom)
    assert sorted(refusal(method)) == [
        "custom.allowance_percent",
        "custom.hours_per_day",
        "custom.public_holidays",
        "custom.working_days_per_week",
    ]
    no_days = CustomDerivation(weeks_per_year=5, public_holidays=20, leave_days=12)
    errors = refusal(Method.from_preset(Preset.CUSTOM, custom=no_days))
    assert "custom.leave_days" in errors
    assert list(refusal(dataclasses.replace(PANRB, preset=Preset.CUSTOM))) == ["custom"]


# -- JSON ---------------------------------------------------------------------


def test_json_holds_decimals_as_strings():
    data = Method.default().to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["preset"] == "permenpan_rb_1_2020"
    assert data["effective"] == {
        "day": "300",
        "week": "1500",
        "month": "6250",
        "year": "75000",
    }
    assert data["calendar"] == {
        "days_per_year": 250,
        "weeks_per_year": 50,
        "months_per_year": 12,
    }
    assert data["grades"][0] == {
        "grade": "A",
        "lower": "1.00",
        "lower_inclusive": False,
    }
    assert data["grades"][-1] == {"grade": "E", "lower": None, "lower_inclusive": False}
    assert data["fte_overload_above"] == "1.28"


def test_empty_json_is_the_default_method():
    assert Method.from_json({}) == Method.default()


@pytest.mark.parametrize(
    "method",
    [
        Method.default(),
        Method.from_preset(Preset.PERMENDAGRI_2008),
        Method.from_preset(Preset.BKN_2011),
        Method.from_preset(
            Preset.CUSTOM,
            custom=CustomDerivation(hours_per_day=D("7.5"), allowance_percent=D(15)),
        ),
        dataclasses.replace(
            PANRB,
            rounding=Rounding.CEILING,
            acting_holders_count=True,
            fte_convention=FteConvention.ALLOWANCE_DEDUCTED,
            fte_allowance_percent=D("12.5"),
            effective=EffectiveTime(D(330), D(1_650), D(6_600), D(79_200)),
            grades=(
                GradeBand("B", D("0.8"), True),
                GradeBand("K", None, False),
            ),
        ),
    ],
)
def test_json_round_trips(method):
    stored = json.loads(json.dumps(method.to_json()))
    assert Method.from_json(stored) == method


def test_missing_keys_take_the_presets_values():
    method = Method.from_json({"preset": "perka_bkn_19_2011", "rounding": "ceiling"})
    assert method.effective == Method.from_preset(Preset.BKN_2011).effective
    assert method.rounding == Rounding.CEILING
    method = Method.from_json({"effective": {"month": "6000"}})
    assert method.effective == EffectiveTime(D(300), D(1_500), D(6_000), D(75_000))


def test_a_custom_method_is_always_derived_again_from_its_calendar():
    stored = Method.from_preset(Preset.CUSTOM).to_json()
    stored["effective"] = {"day": "1", "week": "1", "month": "1", "year": "1"}
    stored["custom"]["leave_days"] = 0
    method = Method.from_json(stored)
    assert method.effective.year == (260 - 16) * 336


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ([], "method"),
        ({"preset": "panrb_2099"}, "preset"),
        ({"effective": {"day": "tiga ratus"}}, "effective.day"),
        ({"effective": {"day": "NaN"}}, "effective.day"),
        ({"effective": {"day": "-300"}}, "effective.day"),
        ({"effective": "300"}, "effective"),
        ({"calendar": {"days_per_year": True}}, "calendar.days_per_year"),
        ({"calendar": {"days_per_year": 400}}, "calendar.days_per_year"),
        ({"rounding": 1}, "rounding"),
        ({"rounding": "truncate"}, "rounding"),
        ({"fte_convention": "both"}, "fte_convention"),
        ({"acting_holders_count": "yes"}, "acting_holders_count"),
        ({"fte_allowance_percent": None}, "fte_allowance_percent"),
        ({"grades": "A"}, "grades"),
        ({"grades": [{"grade": "A", "lower": "1"}]}, "grades"),
        ({"grades": [{"grade": "A", "lower": "x"}, {"grade": "E"}]}, "grades"),
        (
            {"preset": "custom", "custom": {"hours_per_day": "lots"}},
            "custom.hours_per_day",
        ),
        ({"preset": "custom", "custom": {"leave_days": 1.5}}, "custom.leave_days"),
        ({"preset": "custom", "custom": []}, "custom"),
    ],
)
def test_bad_json_is_refused_with_the_field_at_fault(data, key):
    with pytest.raises(ValidationFailed) as refused:
        Method.from_json(data)
    assert key in refused.value.errors


# -- properties ---------------------------------------------------------------

volumes = st.decimals(min_value=0, max_value=1_000_000, places=4)
standard_times = st.decimals(min_value=D("0.0001"), max_value=10_000, places=4)
entries = st.builds(
    EntryInput,
    volume=st.one_of(st.none(), volumes),
    period=st.sampled_from(["day", "week", "month", "year"]),
    standard_time=st.one_of(st.none(), standard_times),
    time_unit=st.sampled_from(["minute", "hour"]),
)
methods = st.sampled_from([Method.from_preset(preset) for preset in Preset])


@given(entries=st.lists(entries, max_size=8), method=methods)
def test_a_position_is_the_sum_of_its_duties(entries, method):
    # Given any duties, filled or not, under any preset
    result = position(entries, method=method, available=D(100_000))
    # Then the position's figures are the sums of its duties' figures
    duties = [entry_result(entry, method) for entry in entries]
    with decimal.localcontext(decimal.Context(prec=28)):
        required = sum((d.required_staff or D(0) for d in duties), D(0))
        yearly = sum((d.yearly_minutes or D(0) for d in duties), D(0))
    assert result.required_staff == required
    assert result.activity_minutes == yearly
    assert list(result.entries) == duties


@given(
    volume=volumes,
    standard=standard_times,
    unit=st.sampled_from(["minute", "hour"]),
    factor=st.integers(min_value=0, max_value=1_000),
)
def test_scaling_a_monthly_volume_scales_the_result_exactly(
    volume, standard, unit, factor
):
    # 6,250 = 2 × 5⁵: every quotient terminates, so the equality is exact.
    single = entry_result(EntryInput(volume, "month", standard, unit), PANRB)
    scaled = entry_result(EntryInput(volume * factor, "month", standard, unit), PANRB)
    assert scaled.required_staff == single.required_staff * factor
    assert scaled.yearly_minutes == single.yearly_minutes * factor


@settings(max_examples=200)
@given(
    volume=volumes,
    standard=standard_times,
    period=st.sampled_from(["day", "week", "month", "year"]),
    factor=st.integers(min_value=1, max_value=1_000),
    method=methods,
)
def test_scaling_the_volume_scales_the_result_linearly(
    volume, standard, period, factor, method
):
    # Division by 300 or 1,500 does not terminate: equal to 28 significant digits.
    single = entry_result(EntryInput(volume, period, standard, "minute"), method)
    scaled = entry_result(
        EntryInput(volume * factor, period, standard, "minute"), method
    )
    expected = single.required_staff * factor
    assert abs(scaled.required_staff - expected) <= D("1e-24") * max(D(1), expected)


def test_a_single_holders_category_is_the_positions_fte_and_no_holder_has_none():
    """One holder: 5 × 250 × 90 = 112,500 min; (112,500 + 16,537.5) ÷ 110,250 =
    1.1704... → normal, the position's FTE; no holder: no category, but the FTE
    still asks for ⌈FTE⌉ = 2."""
    entries = [duty(5, "day", "1.5", "hour")]
    alone = position(
        entries, holders=1, acting=0, available=available_minutes(245, 450)
    )
    assert alone.fte_category == FteCategory.NORMAL
    vacant = position(
        entries, holders=0, acting=0, available=available_minutes(245, 450)
    )
    assert vacant.fte_category == ""
    assert vacant.fte == alone.fte
    assert vacant.fte_count == 2
    assert "not applicable" in vacant.traces["fte_category"]


def test_traces_can_be_left_out_with_the_same_figures():
    entries = [duty(120, "year", 30), duty(5, "day", "1.5", "hour"), duty(None)]
    full = position(entries, holders=2, acting=1, available=available_minutes(245, 450))
    bare = position(
        entries,
        holders=2,
        acting=1,
        available=available_minutes(245, 450),
        traces=False,
    )
    assert bare.traces == {}
    assert bare.entries == ()  # the per-duty results come with the traces
    for name in (
        "required_staff",
        "required_count",
        "current_holders",
        "shortage",
        "effectiveness",
        "grade",
        "activity_minutes",
        "fte",
        "fte_category",
        "fte_count",
    ):
        assert getattr(bare, name) == getattr(full, name), name


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.decimals(0, 100_000, places=4)),
            st.sampled_from(["day", "week", "month", "year"]),
            st.one_of(st.none(), st.decimals("0.0001", 10_000, places=4)),
            st.sampled_from(["minute", "hour"]),
        ),
        max_size=12,
    ),
    st.integers(0, 4),
)
def test_the_fast_sums_equal_the_duty_by_duty_results_exactly(rows, holders):
    entries = [EntryInput(v, p, t, u) for v, p, t, u in rows]
    full = position(entries, holders=holders, available=available_minutes(245, 450))
    bare = position(
        entries, holders=holders, available=available_minutes(245, 450), traces=False
    )
    assert (bare.required_staff, bare.activity_minutes, bare.fte) == (
        full.required_staff,
        full.activity_minutes,
        full.fte,
    )


def test_one_holders_load_shares_the_activity_and_keeps_one_allowance():
    """(116,100 ÷ 2 + 15% × 110,250) ÷ 110,250 = 74,587.5 ÷ 110,250; none without
    holders."""
    available = available_minutes(245, 450)
    with decimal.localcontext(decimal.Context(prec=28)):
        expected = D("74587.5") / D(110_250)
    assert load_per_holder(D(116_100), 2, method=PANRB, available=available) == expected
    assert load_per_holder(D(116_100), 0, method=PANRB, available=available) is None
