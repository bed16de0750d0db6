"""Organisation pages under /o/<org-slug>/: the chart, parties, positions, duties,
people, holders and the audit trail."""

from django.urls import path

from rantai.web.views import org as views

urlpatterns = [
    path("", views.org_chart, name="org-chart"),
    path("chart/units/<int:pk>/", views.org_chart_unit, name="org-chart-unit"),
    # parties (internal units and external partners)
    path("parties/new/", views.party_create, name="party-create"),
    path("parties/<int:pk>/", views.party_detail, name="party-detail"),
    path("parties/<int:pk>/edit/", views.party_edit, name="party-edit"),
    path("parties/<int:pk>/move/", views.party_move, name="party-move"),
    path(
        "parties/<int:pk>/deactivate/", views.party_deactivate, name="party-deactivate"
    ),
    path(
        "parties/<int:pk>/reactivate/", views.party_reactivate, name="party-reactivate"
    ),
    # positions, their duties and holders
    path("positions/", views.position_list, name="position-list"),
    path("positions/new/", views.position_create, name="position-create"),
    path("positions/<int:pk>/", views.position_detail, name="position-detail"),
    path("positions/<int:pk>/edit/", views.position_edit, name="position-edit"),
    path("positions/<int:pk>/move/", views.position_move, name="position-move"),
    path(
        "positions/<int:pk>/deactivate/",
        views.position_deactivate,
        name="position-deactivate",
    ),
    path(
        "positions/<int:pk>/reactivate/",
        views.position_reactivate,
        name="position-reactivate",
    ),
    path("positions/<int:pk>/duties/new/", views.duty_create, name="duty-create"),
    path(
        "positions/<int:pk>/holders/new/", views.holding_create, name="holding-create"
    ),
    path("duties/<int:pk>/edit/", views.duty_edit, name="duty-edit"),
    path("duties/<int:pk>/deactivate/", views.duty_deactivate, name="duty-deactivate"),
    path("duties/<int:pk>/reactivate/", views.duty_reactivate, name="duty-reactivate"),
    path("holders/<int:pk>/edit/", views.holding_edit, name="holding-edit"),
    path("holders/<int:pk>/end/", views.holding_end, name="holding-end"),
    # people
    path("people/", views.person_list, name="person-list"),
    path("people/new/", views.person_create, name="person-create"),
    path("people/<int:pk>/", views.person_detail, name="person-detail"),
    path("people/<int:pk>/edit/", views.person_edit, name="person-edit"),
    path(
        "people/<int:pk>/deactivate/", views.person_deactivate, name="person-deactivate"
    ),
    path(
        "people/<int:pk>/reactivate/", views.person_reactivate, name="person-reactivate"
    ),
    # the audit trail
    path("audit/", views.audit_log, name="audit-log"),
    path("audit/verify/", views.audit_verify, name="audit-verify"),
    path(
        "audit/<str:target_type>/<str:target_id>/",
        views.audit_history,
        name="audit-history",
    ),
]
