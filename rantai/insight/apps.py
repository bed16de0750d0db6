from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsightConfig(AppConfig):
    name = "rantai.insight"
    label = "insight"
    verbose_name = _("Targets, dashboards, search and calendar feeds")

    def ready(self) -> None:
        # The search index follows the audit trail in the same transaction.
        from rantai.insight import wiring

        wiring.register()
