"""What the demo's tests share: telling the generated history (rantai.demo.history)
apart from the story, whose bells and records the other tests pin one by one."""

from __future__ import annotations

from django.db.models import QuerySet

from rantai.accounts.models import Organisation
from rantai.chains.models import Run, Task
from rantai.demo import history
from rantai.notifications.models import Notification
from rantai.obstacles.models import Obstacle, Review


def history_paths(demo: Organisation) -> set[str]:
    """The pages of the history's runs, tasks, obstacles and reviews."""
    runs = Run.objects.filter(organisation=demo, title__contains=history.HISTORY_MARK)
    base = f"/o/{demo.slug}"
    paths = {f"{base}/runs/{pk}/" for pk in runs.values_list("pk", flat=True)}
    paths |= {
        f"{base}/tasks/{pk}/"
        for pk in Task.objects.filter(run__in=runs).values_list("pk", flat=True)
    }
    paths |= {
        f"{base}/obstacles/{pk}/"
        for pk in Obstacle.objects.filter(run__in=runs).values_list("pk", flat=True)
    }
    paths |= {
        f"{base}/reviews/{pk}/"
        for pk in Review.objects.filter(run__in=runs).values_list("pk", flat=True)
    }
    return paths


def story_bells(
    demo: Organisation, bells: QuerySet[Notification]
) -> list[Notification]:
    """The bells that are not about the history (all of whose bells were read)."""
    paths = history_paths(demo)
    return [bell for bell in bells if bell.url.split("#")[0] not in paths]


def history_bells(
    demo: Organisation, bells: QuerySet[Notification]
) -> list[Notification]:
    paths = history_paths(demo)
    return [bell for bell in bells if bell.url.split("#")[0] in paths]
