"""Pages of roles (issue 6, docs/design-roles.md) under /o/<org-slug>/: a version's
RACI matrix (edited cell by cell while it is a draft, exported to Excel and PDF),
"my roles", a person's and a party's roles, the role checks with their
acknowledgements, a version's own findings, and the assignment policy."""

from django.urls import path

from rantai.web.views import roles as views

urlpatterns = [
    # the RACI matrix of a version (beside the version's own pages)
    path(
        "procedures/versions/<int:pk>/raci/",
        views.raci_matrix,
        name="raci-matrix",
    ),
    path(
        "procedures/versions/<int:pk>/raci/cells/",
        views.raci_cell,
        name="raci-cell",
    ),
    path(
        "procedures/versions/<int:pk>/role-checks/",
        views.version_role_checks,
        name="version-role-checks",
    ),
    # whose roles
    path("my-roles/", views.my_roles, name="my-roles"),
    path("people/<int:pk>/roles/", views.person_roles, name="person-roles"),
    path("parties/<int:pk>/roles/", views.party_roles, name="party-roles"),
    # role checks
    path("role-checks/", views.role_checks, name="role-checks"),
    path(
        "role-checks/acknowledge/",
        views.role_check_acknowledge,
        name="role-check-acknowledge",
    ),
    path(
        "role-checks/acknowledgements/<int:pk>/withdraw/",
        views.role_check_withdraw,
        name="role-check-withdraw",
    ),
    # the assignment policy
    path("roles/settings/", views.role_settings, name="role-settings"),
]
