"""Pages of roles (issue 6): see docs/design-roles.md."""

urlpatterns: list = []
