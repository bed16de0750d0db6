"""Web URLs. Organisation pages live under /o/<org-slug>/."""

from django.urls import include, path

urlpatterns = [
    path("", include("rantai.web.urls_accounts")),
    path("o/<slug:org>/", include("rantai.web.urls_org")),
    path("o/<slug:org>/transfer/", include("rantai.web.urls_transfer")),
    path("o/<slug:org>/", include("rantai.web.urls_procedures")),
    path("o/<slug:org>/", include("rantai.web.urls_runs")),
    path("o/<slug:org>/", include("rantai.web.urls_routes")),
    path("o/<slug:org>/", include("rantai.web.urls_approvals")),
    path("o/<slug:org>/", include("rantai.web.urls_notifications")),
    path("o/<slug:org>/", include("rantai.web.urls_workload")),
    path("o/<slug:org>/", include("rantai.web.urls_roles")),
    path("o/<slug:org>/", include("rantai.web.urls_assignment")),
    path("o/<slug:org>/", include("rantai.web.urls_evidence")),
    path("o/<slug:org>/", include("rantai.web.urls_obstacles")),
    path("o/<slug:org>/", include("rantai.web.urls_targets")),
    path("o/<slug:org>/", include("rantai.web.urls_insight")),
    # Calendar feeds: the subscription page under /o/<org>/, the feed itself at
    # /feeds/calendar/<secret>.ics (the secret is the credential).
    path("", include("rantai.web.urls_feeds")),
]
