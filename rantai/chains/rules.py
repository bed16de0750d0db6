"""The rules of procedures that need more than one row: typed run field values,
structured step conditions (data, never code), durations in working minutes, and the
validation a version must pass before it is published."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from rantai.chains.models import (
    ConditionOperator,
    DurationUnit,
    FieldType,
    ProcedureVersion,
    RaciRole,
    RunField,
    Step,
    StepDependency,
    StepRole,
)
from rantai.core.errors import ValidationFailed

# Operators that make sense for each field type.
OPERATORS_BY_TYPE: dict[str, frozenset[str]] = {
    FieldType.TEXT: frozenset({"eq", "ne", "in", "not_in"}),
    FieldType.CHOICE: frozenset({"eq", "ne", "in", "not_in"}),
    FieldType.INTEGER: frozenset(
        {"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"}
    ),
    FieldType.DECIMAL: frozenset(
        {"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"}
    ),
    FieldType.DATE: frozenset({"eq", "ne", "gt", "gte", "lt", "lte"}),
    FieldType.BOOLEAN: frozenset({"is_true", "is_false"}),
}
LIST_OPERATORS = frozenset({ConditionOperator.IN, ConditionOperator.NOT_IN})
VALUELESS_OPERATORS = frozenset({ConditionOperator.IS_TRUE, ConditionOperator.IS_FALSE})
TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})


# --- durations --------------------------------------------------------------------


def to_minutes(value: Decimal | int | str, unit: str, *, minutes_per_day: int) -> int:
    """A duration in working days or hours as whole working minutes."""
    amount = Decimal(str(value))
    per_unit = minutes_per_day if unit == DurationUnit.WORKING_DAYS else 60
    return int((amount * per_unit).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- field values -----------------------------------------------------------------


class _Invalid(ValueError):
    pass


def _coerce(field_type: str, value: Any, choices: Sequence[str] = ()) -> Any:
    """A JSON-safe, canonical form of one value of a field type (raises _Invalid)."""
    if field_type == FieldType.TEXT:
        if not isinstance(value, str):
            raise _Invalid(_("Enter text."))
        return value.strip()
    if field_type == FieldType.INTEGER:
        if isinstance(value, bool):
            raise _Invalid(_("Enter a whole number."))
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
        raise _Invalid(_("Enter a whole number."))
    if field_type == FieldType.DECIMAL:
        if isinstance(value, bool):
            raise _Invalid(_("Enter a number."))
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError) as error:
            raise _Invalid(_("Enter a number.")) from error
        if not number.is_finite():
            raise _Invalid(_("Enter a number."))
        return format(number.normalize(), "f")
    if field_type == FieldType.DATE:
        if isinstance(value, dt.datetime):
            raise _Invalid(_("Enter a date (YYYY-MM-DD)."))
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value).strip()).isoformat()
        except ValueError as error:
            raise _Invalid(_("Enter a date (YYYY-MM-DD).")) from error
    if field_type == FieldType.CHOICE:
        if not isinstance(value, str) or value not in choices:
            raise _Invalid(
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)}
            )
        return value
    if field_type == FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS:
            return True
        if isinstance(value, str) and value.strip().lower() in FALSE_WORDS:
            return False
        raise _Invalid(_("Answer yes or no."))
    raise _Invalid(_("Unknown field type."))


def _typed(field_type: str, canonical: Any) -> Any:
    """The comparable Python value of a canonical stored value."""
    if field_type == FieldType.DECIMAL:
        return Decimal(canonical)
    if field_type == FieldType.DATE:
        return dt.date.fromisoformat(canonical)
    return canonical


def clean_field_values(
    fields: Iterable[RunField], values: Mapping[str, Any]
) -> dict[str, Any]:
    """Check a run's field values against the version's fields; canonical JSON out."""
    by_key = {field.key: field for field in fields}
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(values) - set(by_key))
    if unknown:
        errors["field_values"] = [
            _("Unknown fields: %(keys)s.") % {"keys": ", ".join(unknown)}
        ]
    cleaned: dict[str, Any] = {}
    for key, field in by_key.items():
        raw = values.get(key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if field.required:
                errors[key] = [_("“%(label)s” is required.") % {"label": field.label}]
            continue
        try:
            cleaned[key] = _coerce(field.field_type, raw, field.choices or ())
        except _Invalid as error:
            errors[key] = [str(error)]
    if errors:
        raise ValidationFailed(errors)
    return cleaned


# --- conditions -------------------------------------------------------------------


def condition_holds(
    *, field_type: str, operator: str, expected: Any, actual: Any
) -> bool:
    """Evaluate a structured condition on a canonical field value.

    A missing value never satisfies a condition: the step does not apply.
    """
    if actual is None:
        return False
    if operator == ConditionOperator.IS_TRUE:
        return actual is True
    if operator == ConditionOperator.IS_FALSE:
        return actual is False
    value = _typed(field_type, actual)
    if operator in LIST_OPERATORS:
        options = [_typed(field_type, option) for option in expected or []]
        found = value in options
        return found if operator == ConditionOperator.IN else not found
    other = _typed(field_type, expected)
    match operator:
        case ConditionOperator.EQ:
            return bool(value == other)
        case ConditionOperator.NE:
            return bool(value != other)
        case ConditionOperator.GT:
            return bool(value > other)
        case ConditionOperator.GTE:
            return bool(value >= other)
        case ConditionOperator.LT:
            return bool(value < other)
        case ConditionOperator.LTE:
            return bool(value <= other)
    return False


def clean_condition_value(
    field: RunField, operator: str, value: Any
) -> tuple[Any, str | None]:
    """(canonical value, problem or None) for a condition on `field`."""
    if operator not in OPERATORS_BY_TYPE.get(field.field_type, frozenset()):
        return value, _(
            "The operator “%(operator)s” does not apply to the %(type)s field "
            "“%(field)s”."
        ) % {
            "operator": ConditionOperator(operator).label
            if operator in ConditionOperator.values
            else operator,
            "type": FieldType(field.field_type).label,
            "field": field.label,
        }
    if operator in VALUELESS_OPERATORS:
        return None, None
    try:
        if operator in LIST_OPERATORS:
            if not isinstance(value, list) or not value:
                return value, _("The condition needs a list of values.")
            return [
                _coerce(field.field_type, item, field.choices or ()) for item in value
            ], None
        if value is None or isinstance(value, list):
            return value, _("The condition needs one value.")
        return _coerce(field.field_type, value, field.choices or ()), None
    except _Invalid as error:
        return value, _("The condition value is not valid: %(problem)s") % {
            "problem": error
        }


# --- validation before publishing -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a version cannot be published, naming the step it is about."""

    code: str
    message: str
    step_key: str = ""


def validate_version(version: ProcedureVersion) -> list[Problem]:
    """Everything that keeps a version from being published (empty list: fine)."""
    fields = list(RunField.objects.filter(procedure_version=version))
    steps = list(
        Step.objects.filter(procedure_version=version).order_by("sort_order", "id")
    )
    step_ids = [step.pk for step in steps]
    roles = list(StepRole.objects.filter(step_id__in=step_ids))
    dependencies = list(
        StepDependency.objects.filter(procedure_version=version).select_related(
            "predecessor", "successor"
        )
    )
    # Links that touch this version's steps from a dependency stored elsewhere.
    foreign = list(
        StepDependency.objects.filter(successor_id__in=step_ids)
        .exclude(procedure_version=version)
        .select_related("predecessor", "successor")
    )
    return check_version(
        fields=fields,
        steps=steps,
        roles=roles,
        dependencies=dependencies + foreign,
        version_id=version.pk,
    )


def check_version(
    *,
    fields: Sequence[RunField],
    steps: Sequence[Step],
    roles: Sequence[StepRole],
    dependencies: Sequence[StepDependency],
    version_id: int,
) -> list[Problem]:
    problems: list[Problem] = []
    if not steps:
        problems.append(Problem("no_steps", _("The procedure has no steps yet.")))
    seen_keys: set[str] = set()
    for step in steps:
        if step.key in seen_keys:
            problems.append(
                Problem(
                    "duplicate_key",
                    _("Two steps use the key “%(key)s”.") % {"key": step.key},
                    step.key,
                )
            )
        seen_keys.add(step.key)
    field_keys: set[str] = set()
    for field in fields:
        if field.key in field_keys:
            problems.append(
                Problem(
                    "duplicate_field",
                    _("Two fields use the key “%(key)s”.") % {"key": field.key},
                )
            )
        field_keys.add(field.key)

    roles_by_step: dict[int, list[StepRole]] = {step.pk: [] for step in steps}
    for role in roles:
        roles_by_step.setdefault(role.step_id, []).append(role)
    fields_by_key = {field.key: field for field in fields}
    for step in steps:
        step_roles = roles_by_step.get(step.pk, [])
        accountable = [r for r in step_roles if r.role == RaciRole.ACCOUNTABLE]
        responsible = [r for r in step_roles if r.role == RaciRole.RESPONSIBLE]
        if len(accountable) != 1:
            problems.append(
                Problem(
                    "accountable",
                    _(
                        "Step “%(step)s” needs exactly one accountable position "
                        "(it has %(count)d)."
                    )
                    % {"step": step.name, "count": len(accountable)},
                    step.key,
                )
            )
        if not responsible:
            problems.append(
                Problem(
                    "responsible",
                    _("Step “%(step)s” needs at least one responsible.")
                    % {"step": step.name},
                    step.key,
                )
            )
        if step.condition_field or step.condition_operator:
            condition_field = fields_by_key.get(step.condition_field)
            if condition_field is None:
                problems.append(
                    Problem(
                        "condition_field",
                        _(
                            "The condition of step “%(step)s” names the field "
                            "“%(field)s”, which the procedure does not have."
                        )
                        % {"step": step.name, "field": step.condition_field},
                        step.key,
                    )
                )
            else:
                _value, problem = clean_condition_value(
                    condition_field, step.condition_operator, step.condition_value
                )
                if problem:
                    problems.append(
                        Problem(
                            "condition",
                            _("Step “%(step)s”: %(problem)s")
                            % {"step": step.name, "problem": problem},
                            step.key,
                        )
                    )

    by_id = {step.pk: step for step in steps}
    successors: dict[int, list[int]] = {step.pk: [] for step in steps}
    for link in dependencies:
        if (
            link.procedure_version_id != version_id
            or link.predecessor.procedure_version_id != version_id
            or link.successor.procedure_version_id != version_id
        ):
            inside = link.successor if link.successor_id in by_id else link.predecessor
            problems.append(
                Problem(
                    "foreign_dependency",
                    _(
                        "Step “%(step)s” is linked to a step of another version "
                        "(“%(other)s”)."
                    )
                    % {
                        "step": inside.name,
                        "other": (
                            link.predecessor
                            if inside is link.successor
                            else link.successor
                        ).name,
                    },
                    inside.key,
                )
            )
            continue
        successors[link.predecessor_id].append(link.successor_id)
    for cycle in find_cycles(successors):
        names = [by_id[pk].name for pk in cycle]
        problems.append(
            Problem(
                "cycle",
                _("These steps wait on each other in a circle: %(steps)s.")
                % {"steps": " → ".join([*names, names[0]])},
                by_id[cycle[0]].key,
            )
        )
    return problems


def find_cycles(successors: Mapping[int, Sequence[int]]) -> list[list[int]]:
    """One cycle per back edge found by a depth-first search (iterative)."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(successors, white)
    cycles: list[list[int]] = []
    for root in successors:
        if colour[root] != white:
            continue
        path: list[int] = [root]
        stack: list[Iterator] = [iter(successors[root])]
        colour[root] = grey
        while stack:
            node = next(stack[-1], None)
            if node is None:
                colour[path.pop()] = black
                stack.pop()
                continue
            if colour.get(node, black) == grey:
                cycles.append(path[path.index(node) :])
            elif colour.get(node) == white:
                colour[node] = grey
                path.append(node)
                stack.append(iter(successors.get(node, ())))
    return cycles


def topological_order(
    nodes: Iterable[int], successors: Mapping[int, Sequence[int]]
) -> list[int]:
    """Kahn's order of an acyclic graph (raises ValueError on a cycle)."""
    nodes = list(nodes)
    indegree = dict.fromkeys(nodes, 0)
    for node in nodes:
        for successor in successors.get(node, ()):
            indegree[successor] += 1
    queue = [node for node in nodes if indegree[node] == 0]
    order: list[int] = []
    while queue:
        node = queue.pop()
        order.append(node)
        for successor in successors.get(node, ()):
            indegree[successor] -= 1
            if indegree[successor] == 0:
                queue.append(successor)
    if len(order) != len(nodes):
        raise ValueError("cycle")
    return order
