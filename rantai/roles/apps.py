from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RolesConfig(AppConfig):
    name = "rantai.roles"
    label = "roles"
    verbose_name = _("Roles and assignment")

    def ready(self) -> None:
        # How roles take part in the engine (assignment, consultations, informed,
        # escalations, publish checks, briefings), registered in one place.
        from rantai.roles import wiring

        wiring.register()
