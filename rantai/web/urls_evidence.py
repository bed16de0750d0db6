"""Web URLs of the evidence pages (issue 7; docs/design-evidence.md) under
/o/<org-slug>/: information records (list, new, a record with its evidence,
verifications and citations, verifying it), downloading a piece of evidence,
evidence attached straight onto a task, and the organisation's upload settings."""

from django.urls import path

from rantai.web.views import evidence as views

urlpatterns = [
    path("information/", views.record_list, name="record-list"),
    path("information/new/", views.record_new, name="record-new"),
    path(
        "runs/<int:pk>/information/new/",
        views.run_record_new,
        name="run-record-new",
    ),
    path(
        "tasks/<int:pk>/information/new/",
        views.task_record_new,
        name="task-record-new",
    ),
    path("information/<int:pk>/", views.record_detail, name="record-detail"),
    path(
        "information/<int:pk>/evidence/",
        views.record_add_evidence,
        name="record-add-evidence",
    ),
    path("information/<int:pk>/verify/", views.record_verify, name="record-verify"),
    path(
        "evidence/<int:pk>/download/",
        views.evidence_download,
        name="evidence-download",
    ),
    path(
        "tasks/<int:pk>/evidence/",
        views.task_evidence_attach,
        name="task-evidence-attach",
    ),
    path("settings/evidence/", views.evidence_settings, name="evidence-settings"),
]
