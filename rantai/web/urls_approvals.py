"""Coordination pages under /o/<org-slug>/: the Focus page (each person's home),
the approvals inbox, a request's page (its coordination map and the decision), the
requester's and waiting people's actions, and a run's coordination map."""

from django.urls import path

from rantai.web.views import approvals, focus

urlpatterns = [
    path("focus/", focus.focus, name="focus"),
    path("approvals/", approvals.inbox, name="approval-inbox"),
    path("approvals/<int:pk>/", approvals.request_detail, name="approval-detail"),
    path("approvals/<int:pk>/decide/", approvals.decide, name="approval-decide"),
    path("approvals/<int:pk>/withdraw/", approvals.withdraw, name="approval-withdraw"),
    path("approvals/<int:pk>/resubmit/", approvals.resubmit, name="approval-resubmit"),
    path("approvals/<int:pk>/nudge/", approvals.nudge, name="approval-nudge"),
    path(
        "runs/<int:pk>/coordination/",
        approvals.run_coordination,
        name="run-coordination",
    ),
]
