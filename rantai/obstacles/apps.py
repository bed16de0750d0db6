from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ObstaclesConfig(AppConfig):
    name = "rantai.obstacles"
    label = "obstacles"
    verbose_name = _("Obstacles, warnings and reviews")

    def ready(self) -> None:
        # How obstacles take part in the engine (escalation timers, reviews opened
        # when a run misses its target), registered in one place.
        from rantai.obstacles import wiring

        wiring.register()
