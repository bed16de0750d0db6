"""Web URLs of issue 8 (feeds; docs/design-insight.md), included at the site root:
the subscription page under /o/<org>/ and the feed itself, which needs no session
(the secret in its address is the credential)."""

from django.urls import URLPattern, path

from rantai.web.views import feeds as views

urlpatterns: list[URLPattern] = [
    path(
        "o/<slug:org>/settings/calendar-feed/",
        views.calendar_feed_settings,
        name="calendar-feed-settings",
    ),
    path(
        "o/<slug:org>/settings/calendar-feed/new/",
        views.calendar_feed_create,
        name="calendar-feed-create",
    ),
    path(
        "o/<slug:org>/settings/calendar-feed/stop/",
        views.calendar_feed_revoke,
        name="calendar-feed-revoke",
    ),
    path(
        "feeds/calendar/<str:secret>.ics",
        views.calendar_feed,
        name="calendar-feed",
    ),
]
