"""Workload analysis pages under /o/<org-slug>/workload/: the analyses, one
analysis with its actions and downloads, a position's sheet, the method, what
changed against the previous revision and one unit in two periods."""

from django.urls import path

from rantai.web.views import workload as views

urlpatterns = [
    path("workload/", views.analysis_list, name="workload-list"),
    path("workload/new/", views.analysis_open, name="workload-open"),
    path("workload/settings/", views.workload_settings, name="workload-settings"),
    path("workload/periods/", views.periods, name="workload-periods"),
    path("workload/<int:pk>/", views.analysis_detail, name="workload-analysis"),
    path(
        "workload/<int:pk>/compute/",
        views.analysis_compute,
        name="workload-compute",
    ),
    path(
        "workload/<int:pk>/submit/",
        views.analysis_submit,
        name="workload-submit",
    ),
    path(
        "workload/<int:pk>/withdraw/",
        views.analysis_withdraw,
        name="workload-withdraw",
    ),
    path(
        "workload/<int:pk>/cancel/",
        views.analysis_cancel,
        name="workload-cancel",
    ),
    path(
        "workload/<int:pk>/revisions/new/",
        views.analysis_revise,
        name="workload-revise",
    ),
    path(
        "workload/<int:pk>/changes/",
        views.analysis_compare,
        name="workload-compare",
    ),
    path(
        "workload/<int:pk>/template.xlsx",
        views.analysis_template,
        name="workload-template",
    ),
    path(
        "workload/<int:pk>/imports/",
        views.analysis_import,
        name="workload-import",
    ),
    path(
        "workload/<int:pk>/export.xlsx",
        views.analysis_export,
        name="workload-export",
    ),
    path(
        "workload/<int:pk>/report.pdf",
        views.analysis_pdf,
        name="workload-pdf",
    ),
    path(
        "workload/<int:pk>/sheets/<int:sheet_pk>/",
        views.sheet_detail,
        name="workload-sheet",
    ),
    path(
        "workload/<int:pk>/sheets/<int:sheet_pk>/submit/",
        views.sheet_submit,
        name="workload-sheet-submit",
    ),
    path(
        "workload/<int:pk>/sheets/<int:sheet_pk>/withdraw/",
        views.sheet_withdraw,
        name="workload-sheet-withdraw",
    ),
    path(
        "workload/<int:pk>/sheets/<int:sheet_pk>/duties/",
        views.sheet_refresh_duties,
        name="workload-sheet-duties",
    ),
]
