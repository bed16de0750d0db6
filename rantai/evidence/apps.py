from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EvidenceConfig(AppConfig):
    name = "rantai.evidence"
    label = "evidence"
    verbose_name = _("Information and evidence")

    def ready(self) -> None:
        # How evidence takes part in the engine (the required-evidence completion
        # guard), registered in one place.
        from rantai.evidence import wiring

        wiring.register()
