"""Optional TOTP two-factor login, required for administrators of organisations
that ask for it (Organisation.requires_admin_two_factor).

A person has at most one confirmed authenticator (a django-otp TOTP device). Setting
one up creates an unconfirmed device; a correct code confirms it. Wrong codes are
throttled by django-otp (exponential back-off per device).
"""

from __future__ import annotations

from base64 import b32encode

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.core.errors import ValidationFailed

DEVICE_NAME = "Authenticator app"


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_two_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def organisations_requiring_two_factor(user: User) -> list[Organisation]:
    """Organisations this person administers that require two-factor login."""
    return [
        membership.organisation
        for membership in Membership.objects.select_related("organisation").filter(
            user=user,
            is_active=True,
            role=Role.ADMIN,
            organisation__is_active=True,
            organisation__requires_admin_two_factor=True,
        )
    ]


def secret_of(device: TOTPDevice) -> str:
    """The shared secret in base32, grouped by four for typing into an app."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@transaction.atomic
def start_setup(user: User) -> TOTPDevice:
    """The unconfirmed authenticator to set up (created once, reused on reload)."""
    if has_two_factor(user):
        raise ValidationFailed(_("Two-factor login is already on."))
    device = (
        TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    )
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def _check_code(device: TOTPDevice, code: str) -> None:
    """Verify a code on a locked device row; raise with a helpful message."""
    allowed, details = device.verify_is_allowed()
    if not allowed:
        locked_until = (details or {}).get("locked_until")
        seconds = (
            max(1, int((locked_until - timezone.now()).total_seconds()) + 1)
            if locked_until
            else 1
        )
        raise ValidationFailed(
            {
                "code": [
                    _("Too many wrong codes. Wait %(seconds)s seconds and try again.")
                    % {"seconds": seconds}
                ]
            }
        )
    code = (code or "").replace(" ", "")
    if not (code.isdigit() and len(code) == device.digits) or not device.verify_token(
        code
    ):
        raise ValidationFailed({"code": [_("The code is not right. Try again.")]})


def _verify_and_keep_throttle(user: User, *, confirmed: bool, code: str) -> TOTPDevice:
    """Check `code` on the user's (un)confirmed device under a row lock.

    Runs in its own transaction and raises only after it commits, so a wrong code
    stays counted by the throttle even though the caller sees an error.
    """
    failure: ValidationFailed | None = None
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=confirmed)
            .order_by("pk")
            .first()
        )
        if device is None:
            failure = ValidationFailed(
                _("Two-factor login is not on.")
                if confirmed
                else _("Start the set-up again.")
            )
        else:
            try:
                _check_code(device, code)
            except ValidationFailed as error:
                failure = error
    if failure is not None:
        raise failure
    assert device is not None
    return device


def confirm_setup(user: User, *, code: str) -> TOTPDevice:
    """A correct code from the app confirms the authenticator: two-factor is on."""
    if has_two_factor(user):
        raise ValidationFailed(_("Two-factor login is already on."))
    device = _verify_and_keep_throttle(user, confirmed=False, code=code)
    with transaction.atomic():
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device.confirmed = True
    return device


def verify(user: User, *, code: str) -> TOTPDevice:
    """The confirmed authenticator that accepts `code`; raises ValidationFailed."""
    return _verify_and_keep_throttle(user, confirmed=True, code=code)


def disable(user: User, *, code: str) -> None:
    """Turn two-factor login off with a current code, unless an organisation the
    person administers requires it."""
    required = organisations_requiring_two_factor(user)
    if required:
        raise ValidationFailed(
            _("%(organisation)s requires two-factor login for its administrators.")
            % {"organisation": required[0].name}
        )
    verify(user, code=code)
    TOTPDevice.objects.filter(user=user).delete()
