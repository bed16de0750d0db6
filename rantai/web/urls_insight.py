"""Web URLs of issue 8 (insight; docs/design-insight.md): the owner's dashboard
(a procedure's or a party's, the runs behind each figure, the Excel and PDF
exports) and the search."""

from django.urls import path

from rantai.web.views import dashboard, search

urlpatterns = [
    path("dashboard/", dashboard.dashboard_home, name="dashboard"),
    path(
        "dashboard/procedures/<int:pk>/",
        dashboard.dashboard_procedure,
        name="dashboard-procedure",
    ),
    path(
        "dashboard/parties/<int:pk>/",
        dashboard.dashboard_party,
        name="dashboard-party",
    ),
    path(
        "dashboard/<slug:kind>/<int:pk>/runs/",
        dashboard.dashboard_runs,
        name="dashboard-runs",
    ),
    path(
        "dashboard/<slug:kind>/<int:pk>/export.<slug:file_format>",
        dashboard.dashboard_export,
        name="dashboard-export",
    ),
    path("search/", search.search_page, name="search"),
]
