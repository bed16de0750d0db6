"""Accounts pages, included at the site root."""

from django.urls import path

from rantai.web.views import accounts as views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.RantaiLoginView.as_view(), name="login"),
    path("login/code/", views.login_code, name="login-code"),
    path("logout/", views.RantaiLogoutView.as_view(), name="logout"),
    path("language/", views.set_language, name="set-language"),
    path("account/", views.profile, name="profile"),
    path(
        "account/password/",
        views.RantaiPasswordChangeView.as_view(),
        name="password-change",
    ),
    path("account/two-factor/", views.two_factor_setup, name="two-factor"),
    path(
        "account/two-factor/verify/",
        views.two_factor_verify,
        name="two-factor-verify",
    ),
    path("account/tokens/", views.tokens, name="tokens"),
    path(
        "account/tokens/<int:token_id>/revoke/",
        views.token_revoke,
        name="token-revoke",
    ),
    path(
        "password-reset/",
        views.RantaiPasswordResetView.as_view(),
        name="password-reset",
    ),
    path(
        "password-reset/sent/",
        views.RantaiPasswordResetDoneView.as_view(),
        name="password-reset-done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        views.RantaiPasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "password-reset/done/",
        views.RantaiPasswordResetCompleteView.as_view(),
        name="password-reset-complete",
    ),
    path(
        "invitations/<str:token>/",
        views.accept_invitation,
        name="accept-invitation",
    ),
    path("o/<slug:org>/members/", views.members, name="members"),
    path("o/<slug:org>/members/invite/", views.member_invite, name="member-invite"),
    path(
        "o/<slug:org>/members/<int:membership_id>/role/",
        views.member_role,
        name="member-role",
    ),
    path(
        "o/<slug:org>/members/<int:membership_id>/end/",
        views.member_end,
        name="member-end",
    ),
    path(
        "o/<slug:org>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path(
        "o/<slug:org>/settings/",
        views.organisation_settings,
        name="organisation-settings",
    ),
]
