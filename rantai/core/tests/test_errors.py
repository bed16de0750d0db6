"""Domain errors carry a status, a code and readable messages for the web and API."""

from __future__ import annotations

from rantai.core.errors import (
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)


def test_each_error_has_its_status_code_and_default_message():
    assert [
        (type(error).__name__, error.status, error.code, error.message)
        for error in (
            DomainError(),
            ValidationFailed({}),
            Conflict(),
            PermissionDenied(),
            NotFound(),
        )
    ] == [
        ("DomainError", 400, "refused", "The action was refused."),
        ("ValidationFailed", 422, "invalid", "Some values are not valid."),
        (
            "Conflict",
            409,
            "conflict",
            "This record was changed by someone else in the meantime. Reload it and try "
            "again.",
        ),
        (
            "PermissionDenied",
            403,
            "forbidden",
            "You do not have permission to do this.",
        ),
        ("NotFound", 404, "not_found", "Not found."),
    ]


def test_a_plain_message_becomes_a_form_wide_error():
    error = ValidationFailed("Dates are out of order.")

    assert error.errors == {"__all__": ["Dates are out of order."]}
    assert (error.message, str(error)) == ("Dates are out of order.",) * 2


def test_field_errors_are_lists_and_the_first_one_is_the_message():
    error = ValidationFailed(
        {"name": "Required.", "code": ["Taken.", "Too long."]}, code="duplicate"
    )

    assert error.errors == {"name": ["Required."], "code": ["Taken.", "Too long."]}
    assert (error.message, error.code) == ("Required.", "duplicate")


def test_a_custom_message_and_code_replace_the_defaults():
    error = NotFound("No such token.", code="token_missing")

    assert (error.message, error.code, error.status) == (
        "No such token.",
        "token_missing",
        404,
    )
    assert isinstance(error, DomainError)
