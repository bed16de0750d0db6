"""Who is calling: a personal API token, or the signed-in browser session.

A token is the way for programs. The session lets the browsable docs work for a
signed-in person; it then needs the CSRF token on unsafe methods, exactly like a
form, and a completed two-factor login where the person has a device.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _
from django_otp import user_has_device
from ninja.errors import AuthenticationError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from rantai.accounts.models import User
from rantai.accounts.tokens import user_for_token
from rantai.core.errors import PermissionDenied

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def use_language_of(request: HttpRequest, user: User) -> None:
    """Answer in the language the user chose (Accept-Language otherwise)."""
    if user.language:
        translation.activate(user.language)
        request.LANGUAGE_CODE = user.language  # type: ignore[attr-defined]


class BearerToken(HttpBearer):
    """Authorization: Bearer <token>. A token that is sent but not valid fails at
    once (401) rather than falling back to the session."""

    def authenticate(self, request: HttpRequest, token: str) -> User:
        user = user_for_token(token.strip())
        if user is None:
            raise AuthenticationError()
        use_language_of(request, user)
        return user


class Session(APIKeyCookie):
    """The Django session of a signed-in person (CSRF-checked on unsafe methods)."""

    param_name: str = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        # The CSRF check happens in authenticate(), only once a session user exists,
        # so a client without a session gets 401, not a CSRF refusal.
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        if user_has_device(user) and not user.is_verified():
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise PermissionDenied(
                _("The CSRF check failed. Reload the page and try again.")
            )
        request.authenticated_by_session = True  # type: ignore[attr-defined]
        return user
