"""Procedure pages under /o/<org-slug>/: procedures, their versions (fields, steps,
roles, dependencies), the difference between versions, and the working calendar."""

from django.urls import path

from rantai.web.views import procedures as views

urlpatterns = [
    # procedures
    path("procedures/", views.procedure_list, name="procedure-list"),
    path("procedures/new/", views.procedure_create, name="procedure-create"),
    path("procedures/<int:pk>/", views.procedure_detail, name="procedure-detail"),
    path("procedures/<int:pk>/edit/", views.procedure_edit, name="procedure-edit"),
    path(
        "procedures/<int:pk>/drafts/new/",
        views.procedure_new_draft,
        name="procedure-new-draft",
    ),
    path(
        "procedures/<int:pk>/compare/",
        views.procedure_compare,
        name="procedure-compare",
    ),
    # versions
    path(
        "procedures/versions/<int:pk>/",
        views.procedure_version,
        name="procedure-version",
    ),
    path(
        "procedures/versions/<int:pk>/publish/",
        views.version_publish,
        name="procedure-version-publish",
    ),
    path(
        "procedures/versions/<int:pk>/retire/",
        views.version_retire,
        name="procedure-version-retire",
    ),
    # run fields, steps, roles and dependencies of a draft
    path(
        "procedures/versions/<int:pk>/fields/new/",
        views.run_field_create,
        name="run-field-create",
    ),
    path(
        "procedures/fields/<int:pk>/edit/", views.run_field_edit, name="run-field-edit"
    ),
    path(
        "procedures/fields/<int:pk>/delete/",
        views.run_field_delete,
        name="run-field-delete",
    ),
    path(
        "procedures/versions/<int:pk>/steps/new/",
        views.step_create,
        name="step-create",
    ),
    path("procedures/steps/<int:pk>/edit/", views.step_edit, name="step-edit"),
    path("procedures/steps/<int:pk>/delete/", views.step_delete, name="step-delete"),
    path("procedures/steps/<int:pk>/roles/", views.step_roles, name="step-roles"),
    path(
        "procedures/step-roles/<int:pk>/delete/",
        views.step_role_delete,
        name="step-role-delete",
    ),
    path(
        "procedures/versions/<int:pk>/dependencies/new/",
        views.dependency_create,
        name="dependency-create",
    ),
    path(
        "procedures/dependencies/<int:pk>/edit/",
        views.dependency_edit,
        name="dependency-edit",
    ),
    path(
        "procedures/dependencies/<int:pk>/delete/",
        views.dependency_delete,
        name="dependency-delete",
    ),
    # the working calendar
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/holidays/new/", views.holiday_create, name="holiday-create"),
    path("calendar/holidays/load/", views.holiday_load, name="holiday-load"),
    path(
        "calendar/holidays/<int:pk>/delete/",
        views.holiday_delete,
        name="holiday-delete",
    ),
]
