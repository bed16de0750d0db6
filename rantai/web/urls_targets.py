"""Web URLs of targets (issue 8; docs/design-insight.md) under /o/<org-slug>/:
the targets as a tree, a target's page, creating, changing and deactivating a
target, and pointing a run at the target it contributes to."""

from django.urls import path

from rantai.web.views import runs, targets

urlpatterns = [
    path("targets/", targets.target_list, name="target-list"),
    path("targets/new/", targets.target_create, name="target-create"),
    path("targets/<int:pk>/", targets.target_detail, name="target-detail"),
    path("targets/<int:pk>/edit/", targets.target_edit, name="target-edit"),
    path(
        "targets/<int:pk>/deactivate/",
        targets.target_deactivate,
        name="target-deactivate",
    ),
    path("runs/<int:pk>/target/", runs.run_target, name="run-target"),
]
