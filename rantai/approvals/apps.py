from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    name = "rantai.approvals"
    label = "approvals"
    verbose_name = _("Approvals")

    def ready(self) -> None:
        # Every registration of this app (subject adapters, the completion guard,
        # chains and org event handlers, timer rules) in one place.
        from rantai.approvals import wiring

        wiring.register()
