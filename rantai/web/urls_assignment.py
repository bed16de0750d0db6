"""Pages of fair assignment and briefings (issue 6, docs/design-roles.md): a
task's assignment and consultations, rebalancing a unit, the fairness report,
the role briefings and their acknowledgement."""

from django.urls import path

from rantai.web.views import assignment, briefings

urlpatterns = [
    # a task's assignment and consultations (the task page is a run page)
    path("tasks/<int:pk>/reassign/", assignment.task_reassign, name="task-reassign"),
    path(
        "consultations/<int:pk>/answer/",
        assignment.consultation_answer,
        name="consultation-answer",
    ),
    # rebalancing a unit's ready tasks
    path(
        "units/<int:party_pk>/rebalance/",
        assignment.unit_rebalance,
        name="unit-rebalance",
    ),
    path(
        "units/<int:party_pk>/rebalance/<int:pk>/",
        assignment.rebalance_proposal,
        name="rebalance-proposal",
    ),
    path(
        "units/<int:party_pk>/rebalance/<int:pk>/apply/",
        assignment.rebalance_apply,
        name="rebalance-apply",
    ),
    path(
        "units/<int:party_pk>/rebalance/<int:pk>/discard/",
        assignment.rebalance_discard,
        name="rebalance-discard",
    ),
    # the fairness report
    path("fairness/", assignment.fairness_report, name="fairness-report"),
    path("briefings/", briefings.briefing_list, name="briefing-list"),
    path("briefings/<int:pk>/", briefings.briefing_detail, name="briefing-detail"),
    path(
        "briefings/<int:pk>/acknowledge/",
        briefings.briefing_acknowledge,
        name="briefing-acknowledge",
    ),
    path(
        "briefings/<int:pk>/briefing.pdf",
        briefings.briefing_pdf,
        name="briefing-pdf",
    ),
    path(
        "briefings/<int:pk>/remind/",
        briefings.briefing_remind,
        name="briefing-remind",
    ),
    path(
        "briefings/versions/<int:version_pk>/",
        briefings.version_status,
        name="briefing-version",
    ),
]
