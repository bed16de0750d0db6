from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkloadConfig(AppConfig):
    name = "rantai.workload"
    label = "workload"
    verbose_name = _("Workload analysis")

    def ready(self) -> None:
        # The approval subjects of this app (a position's entries, an analysis),
        # registered in one place.
        from rantai.workload import wiring

        wiring.register()
