"""Small template helpers of the Rantai pages."""

from __future__ import annotations

from django import forms, template

from rantai.chains.extensions import reason_label

register = template.Library()


@register.filter
def has_field_errors(form: forms.Form) -> bool:
    """Whether a visible field of the form carries an error."""
    return any(field.errors for field in form.visible_fields())


@register.filter
def hidden_field_errors(form: forms.Form) -> list[str]:
    """Errors of hidden fields (a tampered or missing version), shown with the form's
    own errors since hidden fields have no place of their own."""
    return [str(error) for field in form.hidden_fields() for error in field.errors]


@register.filter
def awaiting_reason(code: str) -> str:
    """The label of a task's awaiting reason ("approval" → "an approval")."""
    return reason_label(code)
