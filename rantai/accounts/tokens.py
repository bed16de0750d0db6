"""Personal API tokens: shown once, stored as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rantai.accounts.models import ApiToken, User
from rantai.core.errors import NotFound, ValidationFailed

TOKEN_PREFIX = "rnt_"  # noqa: S105 - a public prefix, not a secret


def digest_of(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def create_token(user: User, *, name: str) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns it and the raw secret (never stored)."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": [_("Give the token a name.")]})
    if len(name) > 100:
        raise ValidationFailed(
            {"name": [_("The name may have at most 100 characters.")]}
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[: len(TOKEN_PREFIX) + 6], digest=digest_of(raw)
    )
    return token, raw


@transaction.atomic
def revoke_token(token_id: int, *, user: User) -> ApiToken:
    token = ApiToken.objects.select_for_update().filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound(_("No such token."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def user_for_token(raw: str) -> User | None:
    """The active user a raw token belongs to, or None. Touches last_used_at cheaply."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest_of(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
