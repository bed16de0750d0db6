"""Domain errors raised by services and mapped once by the web and API layers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """A rule of the domain refused the action; nothing was written."""

    status = 400
    default_message = _("The action was refused.")
    code = "refused"

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        self.message = (
            str(message) if message is not None else str(self.default_message)
        )
        if code:
            self.code = code
        super().__init__(self.message)


class ValidationFailed(DomainError):
    """Input broke one or more rules; `errors` maps field names to messages."""

    status = 422
    default_message = _("Some values are not valid.")
    code = "invalid"

    def __init__(
        self,
        errors: Mapping[str, Sequence[str] | str] | str,
        *,
        code: str | None = None,
    ) -> None:
        if isinstance(errors, str):
            errors = {"__all__": [errors]}
        self.errors: dict[str, list[str]] = {
            field: [str(m) for m in ([msgs] if isinstance(msgs, str) else msgs)]
            for field, msgs in errors.items()
        }
        first = next(iter(self.errors.values()), [str(self.default_message)])
        super().__init__(first[0] if first else None, code=code)


class Conflict(DomainError):
    """The object changed since the caller read it (stale version)."""

    status = 409
    default_message = _(
        "This record was changed by someone else in the meantime. Reload it and try again."
    )
    code = "conflict"


class PermissionDenied(DomainError):
    status = 403
    default_message = _("You do not have permission to do this.")
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    default_message = _("Not found.")
    code = "not_found"
