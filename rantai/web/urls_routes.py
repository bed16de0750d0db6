"""Approval route pages and "away & delegation" under /o/<org-slug>/: routes, their
versions (stages, conditions, settings), publishing and retiring; each person's
absences and delegations."""

from django.urls import path

from rantai.web.views import delegation
from rantai.web.views import routes as views

urlpatterns = [
    # routes
    path("routes/", views.route_list, name="route-list"),
    path("routes/new/", views.route_create, name="route-create"),
    path("routes/<int:pk>/", views.route_detail, name="route-detail"),
    path("routes/<int:pk>/edit/", views.route_edit, name="route-edit"),
    path(
        "routes/<int:pk>/deactivate/",
        views.route_deactivate,
        name="route-deactivate",
    ),
    path(
        "routes/<int:pk>/reactivate/",
        views.route_reactivate,
        name="route-reactivate",
    ),
    path(
        "routes/<int:pk>/drafts/new/",
        views.route_new_draft,
        name="route-new-draft",
    ),
    # versions
    path("routes/versions/<int:pk>/", views.route_version, name="route-version"),
    path(
        "routes/versions/<int:pk>/settings/",
        views.version_settings,
        name="route-version-settings",
    ),
    path(
        "routes/versions/<int:pk>/publish/",
        views.version_publish,
        name="route-version-publish",
    ),
    path(
        "routes/versions/<int:pk>/retire/",
        views.version_retire,
        name="route-version-retire",
    ),
    # stages and conditions of a draft
    path(
        "routes/versions/<int:pk>/stages/new/",
        views.stage_create,
        name="route-stage-create",
    ),
    path("routes/stages/<int:pk>/edit/", views.stage_edit, name="route-stage-edit"),
    path(
        "routes/stages/<int:pk>/delete/",
        views.stage_delete,
        name="route-stage-delete",
    ),
    path("routes/stages/<int:pk>/move/", views.stage_move, name="route-stage-move"),
    path(
        "routes/versions/<int:pk>/conditions/new/",
        views.condition_create,
        name="route-condition-create",
    ),
    path(
        "routes/conditions/<int:pk>/delete/",
        views.condition_delete,
        name="route-condition-delete",
    ),
    # away & delegation
    path("away/", delegation.away, name="away"),
    path("away/people/<int:person>/", delegation.away, name="away-person"),
    path(
        "away/people/<int:person>/absences/new/",
        delegation.absence_create,
        name="absence-create",
    ),
    path(
        "away/absences/<int:pk>/cancel/",
        delegation.absence_cancel,
        name="absence-cancel",
    ),
    path(
        "away/people/<int:person>/delegations/new/",
        delegation.delegation_create,
        name="delegation-create",
    ),
    path(
        "away/delegations/<int:pk>/revoke/",
        delegation.delegation_revoke,
        name="delegation-revoke",
    ),
]
