"""Account services: a person's own profile and language."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from rantai.accounts.models import Language, User
from rantai.core.errors import ValidationFailed


@transaction.atomic
def create_user(
    *,
    username: str,
    email: str,
    password: str | None,
    full_name: str = "",
    language: str = "en",
) -> User:
    user = User(
        username=username.strip(), email=email.strip().lower(), full_name=full_name
    )
    user.language = language
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    _validate(user)
    user.save()
    return user


@transaction.atomic
def update_profile(user: User, *, full_name: str, email: str, language: str) -> User:
    """A person edits their own name, e-mail address and language."""
    user.full_name = full_name.strip()
    user.email = email.strip().lower()
    user.language = language
    _validate(user)
    user.save(update_fields=["full_name", "email", "language"])
    return user


@transaction.atomic
def set_language(user: User, *, language: str) -> User:
    if language not in Language.values:
        raise ValidationFailed({"language": [_("Choose English or Bahasa Indonesia.")]})
    user.language = language
    user.save(update_fields=["language"])
    return user


def _validate(user: User) -> None:
    from django.core.exceptions import ValidationError

    try:
        user.full_clean(exclude=["password", "last_login"])
    except ValidationError as error:
        raise ValidationFailed(error.message_dict) from error
