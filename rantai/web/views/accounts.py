"""Accounts pages: log in (with an optional second factor), language, profile,
two-factor set-up, API tokens, password reset, members and invitations, and the
organisation's settings."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from axes.utils import reset as reset_axes_attempts
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import (
    LoginView,
    LogoutView,
    PasswordChangeView,
    PasswordResetCompleteView,
    PasswordResetConfirmView,
    PasswordResetDoneView,
    PasswordResetView,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse, reverse_lazy
from django.utils import timezone, translation
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from rantai.accounts import services as account_services
from rantai.accounts import tokens as token_services
from rantai.accounts import two_factor
from rantai.accounts.access import Access, organisations_of
from rantai.accounts.forms import (
    AcceptInvitationForm,
    CodeForm,
    InvitationForm,
    LanguageForm,
    LoginForm,
    OrganisationSettingsForm,
    OutboxPasswordResetForm,
    ProfileForm,
    RoleForm,
    TokenForm,
    VersionForm,
)
from rantai.accounts.models import (
    ApiToken,
    Invitation,
    Language,
    Membership,
    Role,
    User,
)
from rantai.core.errors import DomainError, NotFound, ValidationFailed
from rantai.org import membership as membership_services
from rantai.org import services as org_services
from rantai.org.models import Party, PartyKind
from rantai.web.access import (
    FORM_PAGE_TEMPLATE,
    admin_only,
    apply_errors,
    base_context,
    org_view,
    render_page,
)
from rantai.web.two_factor import qr_code_svg

# A password-checked login waiting for its second factor lives this long.
PENDING_LOGIN_SECONDS = 300
PENDING_USER = "rantai_pending_login_user"
PENDING_BACKEND = "rantai_pending_login_backend"
PENDING_SINCE = "rantai_pending_login_since"
PENDING_NEXT = "rantai_pending_login_next"
PENDING_KEYS = (PENDING_USER, PENDING_BACKEND, PENDING_SINCE, PENDING_NEXT)


# --- helpers ----------------------------------------------------------------------


def organisation_home_url(slug: str) -> str:
    """Where a member lands in an organisation: their Focus page (what to do next),
    else the organisation chart."""
    for name in ("focus", "org-chart"):
        try:
            return reverse(name, kwargs={"org": slug})
        except NoReverseMatch:  # those pages are not installed
            continue
    return reverse("home")


def _safe_next(request: HttpRequest, candidate: str | None) -> str | None:
    if candidate and url_has_allowed_host_and_scheme(
        candidate,
        allowed_hosts={request.get_host()},
        require_https=request.is_secure(),
    ):
        return candidate
    return None


def _remember_language_cookie(response: HttpResponseBase, language: str) -> None:
    """The login page keeps the language of whoever last used this browser."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


# --- log in, second factor, log out -----------------------------------------------


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class RantaiLoginView(LoginView):
    """First step: user name and password. With two-factor login on, the person is
    not logged in yet: the code page completes it."""

    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if two_factor.has_two_factor(user):
            session = self.request.session
            session.cycle_key()
            session[PENDING_USER] = user.pk
            session[PENDING_BACKEND] = user.backend
            session[PENDING_SINCE] = int(time.time())
            session[PENDING_NEXT] = self.get_redirect_url()
            return redirect("login-code")
        response = super().form_valid(form)
        _remember_language_cookie(response, user.language)
        return response


def _pending_user(request: HttpRequest) -> tuple[User | None, str]:
    session = request.session
    user_id = session.get(PENDING_USER)
    since = session.get(PENDING_SINCE, 0)
    if not user_id or time.time() - since > PENDING_LOGIN_SECONDS:
        return None, ""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    return user, session.get(PENDING_BACKEND, "")


@never_cache
@sensitive_post_parameters("code")
def login_code(request: HttpRequest) -> HttpResponse:
    """Second step: a code from the authenticator app completes the login."""
    user, backend = _pending_user(request)
    if user is None:
        for key in PENDING_KEYS:
            request.session.pop(key, None)
        messages.info(request, _("Sign in with your user name and password first."))
        return redirect("login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = two_factor.verify(user, code=form.cleaned_data["code"])
        except ValidationFailed as error:
            apply_errors(form, error)
        else:
            next_url = _safe_next(request, request.session.get(PENDING_NEXT))
            for key in PENDING_KEYS:
                request.session.pop(key, None)
            auth.login(request, user, backend=backend)
            otp_login(request, device)
            response = redirect(next_url or settings.LOGIN_REDIRECT_URL)
            _remember_language_cookie(response, user.language)
            return response
    return render(request, "accounts/login_code.html", {"form": form})


class RantaiLogoutView(LogoutView):
    """POST only (Django's rule): a link cannot log anyone out."""

    next_page = settings.LOGOUT_REDIRECT_URL


# --- home -------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    """One organisation: go there. Several: choose. None: say so kindly."""
    if not request.user.is_authenticated:
        return redirect("login")
    memberships = organisations_of(_user(request))
    if len(memberships) == 1:
        target = organisation_home_url(memberships[0].organisation.slug)
        if target != request.path:
            return redirect(target)
    entries = [
        {"membership": m, "url": organisation_home_url(m.organisation.slug)}
        for m in memberships
    ]
    return render(request, "accounts/home.html", {"entries": entries})


# --- language ---------------------------------------------------------------------


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the language: remembered on the account, and in a cookie for the
    login page."""
    form = LanguageForm(request.POST)
    next_url = _safe_next(request, request.POST.get("next")) or _safe_next(
        request, request.headers.get("referer")
    )
    response = redirect(next_url or "home")
    if not form.is_valid():
        return response
    language = form.cleaned_data["language"]
    if request.user.is_authenticated:
        account_services.set_language(_user(request), language=language)
    translation.activate(language)
    _remember_language_cookie(response, language)
    return response


# --- profile, password, two-factor ------------------------------------------------


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    initial = {
        "full_name": user.full_name,
        "email": user.email,
        "language": user.language,
    }
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            account_services.update_profile(user, **form.cleaned_data)
        except ValidationFailed as error:
            user.refresh_from_db()
            apply_errors(form, error)
        else:
            translation.activate(user.language)
            messages.success(request, _("Your profile is saved."))
            response = redirect("profile")
            _remember_language_cookie(response, user.language)
            return response
    context = {
        "form": form,
        "has_two_factor": two_factor.has_two_factor(user),
        "active_tokens": ApiToken.objects.filter(
            user=user, revoked_at__isnull=True
        ).count(),
        "memberships": organisations_of(user),
    }
    return render(request, "accounts/profile.html", context)


@method_decorator(login_required, name="dispatch")
class RantaiPasswordChangeView(PasswordChangeView):
    """Change the password; this session stays logged in (Django updates its hash)."""

    template_name = FORM_PAGE_TEMPLATE
    success_url = reverse_lazy("profile")
    extra_context = {
        "title": gettext_lazy("Change your password"),
        "submit": gettext_lazy("Change password"),
        "cancel_url": reverse_lazy("profile"),
    }

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, _("Your password is changed."))
        return response


@never_cache
@login_required
@sensitive_post_parameters("code")
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Turn two-factor login on (scan, then confirm with a code) or off (with a code)."""
    user = _user(request)
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    required_by = two_factor.organisations_requiring_two_factor(user)
    form = CodeForm(request.POST or None)
    action = request.POST.get("action")
    if two_factor.has_two_factor(user):
        if request.method == "POST" and action == "disable" and form.is_valid():
            try:
                two_factor.disable(user, code=form.cleaned_data["code"])
            except ValidationFailed as error:
                apply_errors(form, error)
            else:
                messages.success(request, _("Two-factor login is off."))
                return redirect("profile")
        context = {"form": form, "enabled": True, "required_by": required_by}
        return render(request, "accounts/two_factor.html", context)
    device = two_factor.start_setup(user)
    if request.method == "POST" and action == "confirm" and form.is_valid():
        try:
            device = two_factor.confirm_setup(user, code=form.cleaned_data["code"])
        except ValidationFailed as error:
            apply_errors(form, error)
        else:
            otp_login(request, device)
            messages.success(request, _("Two-factor login is on."))
            return redirect(next_url or "profile")
    context = {
        "form": form,
        "enabled": False,
        "required_by": required_by,
        "qr_code": qr_code_svg(device),
        "secret": two_factor.secret_of(device),
        "next": next_url or "",
    }
    return render(request, "accounts/two_factor.html", context)


@never_cache
@login_required
@sensitive_post_parameters("code")
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """A logged-in session without a verified second factor proves it with a code."""
    user = _user(request)
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if not two_factor.has_two_factor(user):
        return redirect("two-factor")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = two_factor.verify(user, code=form.cleaned_data["code"])
        except ValidationFailed as error:
            apply_errors(form, error)
        else:
            otp_login(request, device)
            return redirect(next_url or "home")
    context = {"form": form, "next": next_url or ""}
    return render(request, "accounts/two_factor_verify.html", context)


# --- API tokens -------------------------------------------------------------------


@never_cache
@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """List and create personal API tokens. A new token is shown in this response
    only: it is never stored, not even in the session."""
    user = _user(request)
    form = TokenForm(request.POST or None)
    raw_token = None
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created, raw_token = token_services.create_token(
                user, name=form.cleaned_data["name"]
            )
        except ValidationFailed as error:
            apply_errors(form, error)
        else:
            form = TokenForm()
    context = {
        "form": form,
        "tokens": ApiToken.objects.filter(user=user),
        "raw_token": raw_token,
        "created": created,
    }
    return render(request, "accounts/tokens.html", context)


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = token_services.revoke_token(token_id, user=_user(request))
    except NotFound:
        messages.error(request, _("No such token."))
    else:
        messages.success(
            request, _("The token “%(name)s” is revoked.") % {"name": token.name}
        )
    return redirect("tokens")


# --- password reset ---------------------------------------------------------------


class RantaiPasswordResetView(PasswordResetView):
    form_class = OutboxPasswordResetForm
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("password-reset-done")


class RantaiPasswordResetDoneView(PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class RantaiPasswordResetConfirmView(PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password-reset-complete")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        # A person who proved their e-mail address may try to log in again at once.
        reset_axes_attempts(username=form.user.get_username())
        return response


class RantaiPasswordResetCompleteView(PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


# --- members and invitations ------------------------------------------------------


def _form_page(
    request: HttpRequest,
    *,
    form: Any,
    title: str,
    intro: str,
    submit: str,
    cancel_url: str,
    danger: bool = False,
    secondary_links: Sequence[tuple[str, str]] = (),
) -> HttpResponse:
    """One form on a page of its own, in the organisation pages' shared layout."""
    return render_page(
        request,
        FORM_PAGE_TEMPLATE,
        form=form,
        title=title,
        intro=intro,
        submit=submit,
        cancel_url=cancel_url,
        danger=danger,
        secondary_links=secondary_links,
    )


def _partner_parties(access: Access) -> QuerySet[Party]:
    return Party.objects.filter(
        organisation=access.organisation,
        kind=PartyKind.EXTERNAL_PARTNER,
        is_active=True,
    ).order_by("name")


class InvitationState(models.TextChoices):
    OPEN = "open", gettext_lazy("open")
    ACCEPTED = "accepted", gettext_lazy("accepted")
    REVOKED = "revoked", gettext_lazy("revoked")
    EXPIRED = "expired", gettext_lazy("expired")


def invitation_state(invitation: Invitation) -> InvitationState:
    if invitation.accepted_at is not None:
        return InvitationState.ACCEPTED
    if invitation.revoked_at is not None:
        return InvitationState.REVOKED
    if invitation.expires_at <= timezone.now():
        return InvitationState.EXPIRED
    return InvitationState.OPEN


def _require_members_reader(access: Access) -> None:
    """Administrators manage members; auditors may look; others may not."""
    if not (access.is_admin or access.is_auditor):
        raise DjangoPermissionDenied


def _members_page(
    request: HttpRequest, *, invite_form: InvitationForm | None = None
) -> HttpResponse:
    access: Access = request.access  # type: ignore[attr-defined]
    parties = _partner_parties(access)
    memberships = list(
        Membership.objects.filter(organisation=access.organisation, is_active=True)
        .select_related("user", "party")
        .order_by("user__full_name", "user__username")
    )
    invitations = [
        {"invitation": invitation, "state": invitation_state(invitation)}
        for invitation in Invitation.objects.filter(organisation=access.organisation)
        .select_related("party", "invited_by")
        .order_by("-created_at")[:200]
    ]
    context = base_context(
        request,
        memberships=memberships,
        invitations=invitations,
        invite_form=invite_form or InvitationForm(parties=parties),
        may_manage=access.is_admin,
        nav="members",
    )
    return render(request, "accounts/members.html", context)


@org_view
def members(request: HttpRequest) -> HttpResponse:
    _require_members_reader(request.access)  # type: ignore[attr-defined]
    return _members_page(request)


@require_POST
@org_view
def member_invite(request: HttpRequest) -> HttpResponse:
    access: Access = request.access  # type: ignore[attr-defined]
    admin_only(access)
    form = InvitationForm(request.POST, parties=_partner_parties(access))
    if form.is_valid():
        try:
            membership_services.invite(
                access.organisation,
                actor=access.user,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                party=form.cleaned_data["party"],
            )
        except ValidationFailed as error:
            apply_errors(form, error)
        else:
            messages.success(
                request,
                _("An invitation is sent to %(email)s.")
                % {"email": form.cleaned_data["email"]},
            )
            return redirect("members", org=access.organisation.slug)
    return _members_page(request, invite_form=form)


@require_POST
@org_view
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    access: Access = request.access  # type: ignore[attr-defined]
    admin_only(access)
    invitation = get_object_or_404(
        Invitation, pk=invitation_id, organisation=access.organisation
    )
    try:
        membership_services.revoke_invitation(invitation, actor=access.user)
    except ValidationFailed as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("The invitation to %(email)s is revoked.") % {"email": invitation.email},
        )
    return redirect("members", org=access.organisation.slug)


def _active_membership(access: Access, membership_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "party"),
        pk=membership_id,
        organisation=access.organisation,
        is_active=True,
    )


@org_view
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Change a member's role (and external partner, for partners)."""
    access: Access = request.access  # type: ignore[attr-defined]
    admin_only(access)
    membership = _active_membership(access, membership_id)
    form = RoleForm(
        request.POST or None,
        parties=_partner_parties(access),
        initial={
            "role": membership.role,
            "party": membership.party_id,
            "version": membership.version,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            membership_services.change_role(
                membership,
                actor=access.user,
                expected_version=form.cleaned_data["version"],
                role=form.cleaned_data["role"],
                party=form.cleaned_data["party"],
            )
        except ValidationFailed as error:
            membership.refresh_from_db()
            apply_errors(form, error)
        except DomainError as error:
            membership.refresh_from_db()
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                _("%(person)s is now %(role)s.")
                % {
                    "person": membership.user.display_name,
                    "role": Role(membership.role).label,
                },
            )
            if membership.user_id == access.user.pk and membership.role != Role.ADMIN:
                return redirect("home")
            return redirect("members", org=access.organisation.slug)
    return _form_page(
        request,
        form=form,
        title=_("Change the role of %(person)s")
        % {"person": membership.user.display_name},
        intro=_(
            "An external partner is bound to one external partner party and sees "
            "only what it takes part in."
        ),
        submit=_("Change role"),
        cancel_url=reverse("members", kwargs={"org": access.organisation.slug}),
    )


@org_view
def member_end(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Confirm, then end a membership: the person's access ends at once."""
    access: Access = request.access  # type: ignore[attr-defined]
    admin_only(access)
    membership = _active_membership(access, membership_id)
    form = VersionForm(request.POST or None, initial={"version": membership.version})
    if request.method == "POST" and form.is_valid():
        try:
            membership_services.end_membership(
                membership,
                actor=access.user,
                expected_version=form.cleaned_data["version"],
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                _("%(person)s is no longer a member.")
                % {"person": membership.user.display_name},
            )
            if membership.user_id == access.user.pk:
                return redirect("home")
        return redirect("members", org=access.organisation.slug)
    return _form_page(
        request,
        form=form,
        title=_("End the membership of %(person)s?")
        % {"person": membership.user.display_name},
        intro=_(
            "%(person)s loses access to %(organisation)s at once: open sessions and "
            "API tokens stop working here. Their account and the records they made "
            "stay."
        )
        % {
            "person": membership.user.display_name,
            "organisation": access.organisation.name,
        },
        submit=_("End membership"),
        cancel_url=reverse("members", kwargs={"org": access.organisation.slug}),
        danger=True,
    )


# --- accepting an invitation ------------------------------------------------------


@never_cache
@sensitive_post_parameters("password1", "password2")
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Join an organisation from an invitation link: create an account, or join
    with the account already signed in (same e-mail address)."""
    try:
        invitation = membership_services.open_invitation(token)
    except NotFound as error:
        return render(
            request,
            "accounts/invitation_invalid.html",
            {"message": error.message},
            status=404,
        )
    context: dict[str, Any] = {"invitation": invitation, "token": token}
    if request.user.is_authenticated:
        user = _user(request)
        context["email_matches"] = user.email.lower() == invitation.email.lower()
        context["already_member"] = Membership.objects.filter(
            user=user, organisation=invitation.organisation, is_active=True
        ).exists()
        if request.method == "POST" and context["email_matches"]:
            try:
                membership_services.accept_invitation(token, user=user)
            except NotFound as error:
                return render(
                    request,
                    "accounts/invitation_invalid.html",
                    {"message": error.message},
                    status=404,
                )
            except ValidationFailed as error:
                messages.error(request, error.message)
            else:
                return _joined(request, invitation)
        return render(request, "accounts/invitation_accept.html", context)
    form = AcceptInvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = membership_services.accept_invitation(
                token,
                username=form.cleaned_data["username"],
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password1"],
            )
        except NotFound as error:
            return render(
                request,
                "accounts/invitation_invalid.html",
                {"message": error.message},
                status=404,
            )
        except ValidationFailed as error:
            errors = dict(error.errors)
            if "password" in errors:
                errors["password1"] = errors.pop("password")
            apply_errors(form, ValidationFailed(errors))
        else:
            user = membership.user
            language = translation.get_language()
            if language in Language.values and language != user.language:
                account_services.set_language(user, language=language)
            auth.login(
                request, user, backend="django.contrib.auth.backends.ModelBackend"
            )
            return _joined(request, invitation)
    context["form"] = form
    return render(request, "accounts/invitation_accept.html", context)


def _joined(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    messages.success(
        request,
        _("Welcome to %(organisation)s.")
        % {"organisation": invitation.organisation.name},
    )
    return redirect(organisation_home_url(invitation.organisation.slug))


# --- organisation settings --------------------------------------------------------


@org_view
def organisation_settings(request: HttpRequest) -> HttpResponse:
    access: Access = request.access  # type: ignore[attr-defined]
    admin_only(access)
    organisation = access.organisation
    form = OrganisationSettingsForm(
        request.POST or None,
        initial={
            "name": organisation.name,
            "time_zone": organisation.time_zone,
            "requires_admin_two_factor": organisation.requires_admin_two_factor,
            "version": organisation.version,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        try:
            org_services.update_organisation(
                organisation, actor=access.user, expected_version=version, **data
            )
        except ValidationFailed as error:
            organisation.refresh_from_db()
            apply_errors(form, error)
        except DomainError as error:
            organisation.refresh_from_db()
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The settings are saved."))
            return redirect("organisation-settings", org=organisation.slug)
    return _form_page(
        request,
        form=form,
        title=_("Organisation settings"),
        intro="",
        submit=_("Save"),
        cancel_url=organisation_home_url(organisation.slug),
        secondary_links=[
            (
                reverse("role-settings", args=[organisation.slug]),
                _("Assignment policy and role checks"),
            ),
            (
                reverse("evidence-settings", args=[organisation.slug]),
                _("Evidence uploads: allowed file types and size"),
            ),
            (
                reverse("anticipation-settings", args=[organisation.slug]),
                _("Obstacles and early warnings: time limits and thresholds"),
            ),
        ],
    )
