"""Forms for accounts pages. They only collect input: the rules live in the services
(and the models), whose errors the views put back on these forms."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordResetForm,
    SetPasswordMixin,
)
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from rantai.accounts.models import Language, Role
from rantai.core import outbox


class LoginForm(AuthenticationForm):
    """User name and password; passes the request on, so django-axes can throttle."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "The user name or password is not right. Both are case-sensitive."
        ),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("User name")


class CodeForm(forms.Form):
    """A six-digit code from an authenticator app."""

    code = forms.CharField(
        label=_("Code from your authenticator app"),
        max_length=10,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9 ]*",
                "autofocus": True,
            }
        ),
    )


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class ProfileForm(forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=200, required=False)
    email = forms.EmailField(label=_("E-mail address"))
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Token name"),
        max_length=100,
        help_text=_("What the token is for, e.g. “nightly export”."),
    )


class OutboxPasswordResetForm(PasswordResetForm):
    """Password reset whose e-mail goes through the outbox, in the person's language,
    with a link on the configured base URL."""

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        user = context["user"]
        context = {
            **context,
            "link": settings.RANTAI_BASE_URL.rstrip("/")
            + reverse(
                "password-reset-confirm", args=[context["uid"], context["token"]]
            ),
        }
        with translation.override(user.language or settings.LANGUAGE_CODE):
            subject = "".join(
                render_to_string(subject_template_name, context).splitlines()
            )
            body = render_to_string(email_template_name, context)
        with transaction.atomic():
            outbox.enqueue_email(recipient=to_email, subject=subject, body=body)


class InvitationForm(forms.Form):
    """Invite someone by e-mail; a partner is bound to one external partner party."""

    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MEMBER)
    party: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("External partner"),
        queryset=None,
        required=False,
        empty_label=_("— none —"),
        help_text=_("Required for the role External partner, empty otherwise."),
    )

    def __init__(self, *args: Any, parties: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["party"].queryset = parties  # type: ignore[attr-defined]


class RoleForm(forms.Form):
    """Change a member's role (and party, for external partners)."""

    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    party: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("External partner"),
        queryset=None,
        required=False,
        empty_label=_("— none —"),
        help_text=_("Required for the role External partner, empty otherwise."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, parties: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["party"].queryset = parties  # type: ignore[attr-defined]


class VersionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)


class AcceptInvitationForm(SetPasswordMixin, forms.Form):
    """A new account for an invitee: a user name, a name and a password of their own."""

    username = forms.CharField(
        label=_("User name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
        help_text=_("You sign in with it. Letters, digits and @ . + - _ only."),
    )
    full_name = forms.CharField(label=_("Full name"), max_length=200, required=False)
    password1, password2 = SetPasswordMixin.create_password_fields()

    def clean(self) -> dict[str, Any]:
        # The password validators run in the service, which knows the new user's
        # attributes; here only the two entries must match.
        cleaned = super().clean() or {}
        self.validate_passwords()
        return cleaned


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(zone, zone) for zone in sorted(zoneinfo.available_timezones())]


class OrganisationSettingsForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=_time_zone_choices,
        help_text=_("Deadlines, working hours and digests use it."),
    )
    requires_admin_two_factor = forms.BooleanField(
        label=_("Administrators must use two-factor login"),
        required=False,
        help_text=_(
            "Administrators without it are asked to set it up before they can "
            "open the organisation's pages."
        ),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)
