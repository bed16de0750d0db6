"""A version is published only when its steps, roles, links and conditions make a
sound procedure; every problem names the step it is about."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rantai.chains import services
from rantai.chains.models import (
    ConditionOperator,
    FieldType,
    ProcedureVersion,
    RaciRole,
    StepDependency,
    VersionStatus,
)
from rantai.chains.rules import (
    clean_field_values,
    condition_holds,
    find_cycles,
    to_minutes,
    validate_version,
)
from rantai.chains.tests.helpers import StepSpec, build_version
from rantai.core.errors import ValidationFailed


def draft(crew, steps, **kwargs) -> ProcedureVersion:  # type: ignore[no-untyped-def]
    return build_version(crew.o, steps, publish=False, **kwargs)


def messages(version: ProcedureVersion) -> list[str]:
    return [problem.message for problem in validate_version(version)]


def test_a_sound_version_has_no_problems(crew):
    o = crew.o
    version = draft(
        crew,
        [
            StepSpec("target", o.export_staff, o.export_head),
            StepSpec("ship", o.forwarder, crew.warehouse_head, after=["target"]),
        ],
    )

    assert validate_version(version) == []


def test_an_empty_version_cannot_be_published(crew):
    version = draft(crew, [])

    assert messages(version) == ["The procedure has no steps yet."]
    with pytest.raises(ValidationFailed) as refused:
        services.publish(version, actor=crew.o.admin, expected_version=None)
    assert refused.value.errors == {"__all__": ["The procedure has no steps yet."]}
    version.refresh_from_db()
    assert version.status == VersionStatus.DRAFT


def test_a_cycle_is_reported_with_the_steps_in_it(crew):
    o = crew.o
    version = draft(
        crew,
        [
            StepSpec("pack", o.export_staff, o.export_head, after=["label"]),
            StepSpec("label", o.export_staff, o.export_head, after=["check"]),
            StepSpec("check", o.export_staff, o.export_head, after=["pack"]),
            StepSpec("ship", o.export_staff, o.export_head, after=["check"]),
        ],
    )

    problems = validate_version(version)

    assert [(p.code, p.message) for p in problems] == [
        (
            "cycle",
            "These steps wait on each other in a circle: Pack → Check → Label → Pack.",
        )
    ]


def test_every_step_needs_exactly_one_accountable_and_a_responsible(crew):
    o = crew.o
    version = draft(crew, [StepSpec("target", o.export_staff, o.export_head)])
    services.add_step(
        version, actor=o.admin, key="lonely", name="Lonely", duration_value=1
    )
    crowded = services.add_step(
        version, actor=o.admin, key="crowded", name="Crowded", duration_value=1
    )
    services.add_step_role(
        crowded, actor=o.admin, role=RaciRole.RESPONSIBLE, position=o.export_staff
    )
    services.add_step_role(
        crowded, actor=o.admin, role=RaciRole.ACCOUNTABLE, position=o.export_head
    )

    # a second accountable is refused at once
    with pytest.raises(ValidationFailed) as refused:
        services.add_step_role(
            crowded, actor=o.admin, role=RaciRole.ACCOUNTABLE, position=o.director
        )
    assert refused.value.errors == {
        "role": ["The step already has its accountable position."]
    }
    assert [(p.code, p.step_key, p.message) for p in validate_version(version)] == [
        (
            "accountable",
            "lonely",
            "Step “Lonely” needs exactly one accountable position (it has 0).",
        ),
        ("responsible", "lonely", "Step “Lonely” needs at least one responsible."),
    ]


def test_a_party_is_only_ever_responsible(crew):
    o = crew.o
    version = draft(crew, [])
    step = services.add_step(
        version, actor=o.admin, key="pickup", name="Pickup", duration_value=1
    )

    with pytest.raises(ValidationFailed) as refused:
        services.add_step_role(
            step, actor=o.admin, role=RaciRole.ACCOUNTABLE, party=o.forwarder
        )
    assert refused.value.errors == {
        "__all__": ["Only a responsible role can be given to an external party."]
    }
    with pytest.raises(ValidationFailed) as internal:
        services.add_step_role(
            step, actor=o.admin, role=RaciRole.RESPONSIBLE, party=o.export
        )
    assert internal.value.errors == {
        "party": ["Only an external partner can own a step as a party."]
    }
    with pytest.raises(ValidationFailed) as both:
        services.add_step_role(
            step,
            actor=o.admin,
            role=RaciRole.RESPONSIBLE,
            party=o.forwarder,
            position=o.director,
        )
    assert both.value.errors == {
        "__all__": ["A step role names either a position or a party, not both."]
    }
    assert step.roles.count() == 0


def test_conditions_name_real_fields_with_fitting_operators_and_values(crew):
    o = crew.o
    version = draft(
        crew,
        [
            StepSpec(
                "a", o.export_staff, o.export_head, condition=("colour", "eq", "x")
            ),
            StepSpec("b", o.export_staff, o.export_head, condition=("value", "in", 5)),
            StepSpec(
                "c", o.export_staff, o.export_head, condition=("express", "gt", True)
            ),
            StepSpec(
                "d", o.export_staff, o.export_head, condition=("value", "gt", "x")
            ),
            StepSpec(
                "e", o.export_staff, o.export_head, condition=("value", "gte", "1.5")
            ),
        ],
        fields=[
            {"key": "value", "label": "Value", "field_type": FieldType.DECIMAL},
            {"key": "express", "label": "Express", "field_type": FieldType.BOOLEAN},
        ],
    )

    assert [(p.step_key, p.message) for p in validate_version(version)] == [
        (
            "a",
            "The condition of step “A” names the field “colour”, which the "
            "procedure does not have.",
        ),
        ("b", "Step “B”: The condition needs a list of values."),
        (
            "c",
            "Step “C”: The operator “is greater than” does not apply to the yes / no "
            "field “Express”.",
        ),
        ("d", "Step “D”: The condition value is not valid: Enter a number."),
    ]


def test_a_condition_needs_both_a_field_and_an_operator(crew):
    o = crew.o
    version = draft(crew, [])

    with pytest.raises(ValidationFailed) as refused:
        services.add_step(
            version,
            actor=o.admin,
            key="half",
            name="Half",
            duration_value=1,
            condition_field="value",
        )
    assert refused.value.errors == {
        "__all__": ["A condition needs both a field and an operator."]
    }


def test_step_keys_are_unique_and_durations_positive(crew):
    o = crew.o
    version = draft(crew, [StepSpec("target", o.export_staff, o.export_head)])

    with pytest.raises(ValidationFailed) as duplicate:
        services.add_step(
            version, actor=o.admin, key="target", name="Again", duration_value=1
        )
    with pytest.raises(ValidationFailed) as zero:
        services.add_step(
            version, actor=o.admin, key="zero", name="Zero", duration_value=0
        )

    assert duplicate.value.errors == {
        "__all__": ["Another step of this version uses this key."]
    }
    assert zero.value.errors == {"__all__": ["The duration must be more than zero."]}
    assert version.steps.count() == 1


def test_a_link_to_a_step_of_another_version_is_refused_and_reported(crew):
    o = crew.o
    first = draft(crew, [StepSpec("a", o.export_staff, o.export_head)])
    other = build_version(
        crew.o, [StepSpec("b", o.export_staff, o.export_head)], code="OTHER"
    )
    mine, theirs = first.steps.get(), other.steps.get()

    with pytest.raises(ValidationFailed) as refused:
        services.add_dependency(
            first, actor=o.admin, predecessor=theirs, successor=mine
        )
    assert refused.value.errors == {
        "predecessor": ["This step belongs to another version."]
    }
    # a link that got in anyway (older data) is reported when publishing
    StepDependency.objects.create(
        organisation=o.organisation,
        procedure_version=first,
        predecessor=theirs,
        successor=mine,
    )
    assert [(p.code, p.message) for p in validate_version(first)] == [
        (
            "foreign_dependency",
            "Step “A” is linked to a step of another version (“B”).",
        )
    ]


# --- plain rules ------------------------------------------------------------------


def test_run_field_values_are_checked_and_made_canonical(crew):
    version = draft(
        crew,
        [],
        fields=[
            {"key": "quantity", "label": "Quantity", "field_type": FieldType.INTEGER},
            {"key": "value", "label": "Value", "field_type": FieldType.DECIMAL},
            {"key": "ship_on", "label": "Ship on", "field_type": FieldType.DATE},
            {
                "key": "mode",
                "label": "Mode",
                "field_type": FieldType.CHOICE,
                "choices": ["road", "sea"],
            },
            {
                "key": "express",
                "label": "Express",
                "field_type": FieldType.BOOLEAN,
                "required": False,
            },
            {"key": "city", "label": "City", "field_type": FieldType.TEXT},
        ],
    )
    fields = list(version.fields.all())

    assert clean_field_values(
        fields,
        {
            "quantity": "500",
            "value": Decimal("750000000.00"),
            "ship_on": dt.date(2026, 3, 20),
            "mode": "sea",
            "city": " Kota A ",
        },
    ) == {
        "quantity": 500,
        "value": "750000000",
        "ship_on": "2026-03-20",
        "mode": "sea",
        "city": "Kota A",
    }
    with pytest.raises(ValidationFailed) as refused:
        clean_field_values(
            fields,
            {
                "quantity": True,
                "value": "lots",
                "ship_on": "soon",
                "mode": "air",
                "express": "maybe",
                "colour": "red",
            },
        )
    assert refused.value.errors == {
        "field_values": ["Unknown fields: colour."],
        "quantity": ["Enter a whole number."],
        "value": ["Enter a number."],
        "ship_on": ["Enter a date (YYYY-MM-DD)."],
        "mode": ["Choose one of: road, sea."],
        "express": ["Answer yes or no."],
        "city": ["“City” is required."],
    }


@pytest.mark.parametrize(
    ("field_type", "operator", "expected", "actual", "holds"),
    [
        (FieldType.DECIMAL, ConditionOperator.GT, "500000000", "750000000", True),
        (FieldType.DECIMAL, ConditionOperator.GT, "500000000", "500000000", False),
        (FieldType.DECIMAL, ConditionOperator.GTE, "500000000", "500000000", True),
        (FieldType.INTEGER, ConditionOperator.LT, 10, 9, True),
        (FieldType.INTEGER, ConditionOperator.LTE, 10, 11, False),
        (FieldType.TEXT, ConditionOperator.EQ, "Kota A", "Kota A", True),
        (FieldType.TEXT, ConditionOperator.NE, "Kota A", "Kota A", False),
        (FieldType.CHOICE, ConditionOperator.IN, ["road", "sea"], "sea", True),
        (FieldType.CHOICE, ConditionOperator.NOT_IN, ["road", "sea"], "sea", False),
        (FieldType.DATE, ConditionOperator.GT, "2026-03-01", "2026-03-02", True),
        (FieldType.BOOLEAN, ConditionOperator.IS_TRUE, None, True, True),
        (FieldType.BOOLEAN, ConditionOperator.IS_FALSE, None, True, False),
        (FieldType.INTEGER, ConditionOperator.NE, 3, None, False),
    ],
)
def test_conditions_are_data_evaluated_by_type(
    field_type, operator, expected, actual, holds
):
    assert (
        condition_holds(
            field_type=field_type, operator=operator, expected=expected, actual=actual
        )
        is holds
    )


def test_durations_are_whole_working_minutes():
    assert to_minutes(Decimal("1.5"), "working_days", minutes_per_day=480) == 720
    assert to_minutes(4, "working_hours", minutes_per_day=480) == 240
    assert to_minutes("0.01", "working_hours", minutes_per_day=480) == 1


def test_find_cycles_names_each_loop_once():
    assert find_cycles({1: [2], 2: [3], 3: [1], 4: [4], 5: []}) == [[1, 2, 3], [4]]
    assert find_cycles({1: [2, 3], 2: [3], 3: []}) == []
