"""Run pages under /o/<org-slug>/: runs, their tasks and deviations, "my tasks"."""

from django.urls import path

from rantai.web.views import runs as views

urlpatterns = [
    path("runs/", views.run_list, name="run-list"),
    path("runs/new/", views.run_start, name="run-start"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/history/", views.run_history, name="run-history"),
    path("runs/<int:pk>/suspend/", views.run_suspend, name="run-suspend"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run-resume"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/due-date/", views.run_due_date, name="run-due-date"),
    path("runs/<int:pk>/result/", views.run_result, name="run-result"),
    path(
        "runs/<int:pk>/deviations/new/<slug:kind>/",
        views.deviation_request,
        name="deviation-request",
    ),
    path(
        "deviations/<int:pk>/confirm/",
        views.deviation_confirm,
        name="deviation-confirm",
    ),
    path(
        "deviations/<int:pk>/reject/", views.deviation_reject, name="deviation-reject"
    ),
    path("tasks/<int:pk>/", views.task_detail, name="task-detail"),
    path("tasks/<int:pk>/claim/", views.task_claim, name="task-claim"),
    path("tasks/<int:pk>/start/", views.task_start, name="task-start"),
    path("tasks/<int:pk>/complete/", views.task_complete, name="task-complete"),
    path("tasks/<int:pk>/recheck/", views.task_recheck, name="task-recheck"),
    path("tasks/<int:pk>/reopen/", views.task_reopen, name="task-reopen"),
    path("my-tasks/", views.my_tasks, name="my-tasks"),
]
