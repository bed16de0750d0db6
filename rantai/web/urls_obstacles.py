"""Web URLs of the obstacles pages (issue 7; docs/design-obstacles.md) under
/o/<org-slug>/: obstacles (raised on a run or a task, with the what-if of their
impact), their mitigations, the early warnings, the blameless reviews and the
anticipation settings."""

from django.urls import path

from rantai.web.views import obstacles, reviews

urlpatterns = [
    # obstacles
    path("obstacles/", obstacles.obstacle_list, name="obstacle-list"),
    path(
        "runs/<int:pk>/obstacles/new/",
        obstacles.run_obstacle_new,
        name="run-obstacle-new",
    ),
    path(
        "tasks/<int:pk>/obstacles/new/",
        obstacles.task_obstacle_new,
        name="task-obstacle-new",
    ),
    path(
        "runs/<int:pk>/obstacles/what-if/",
        obstacles.obstacle_what_if,
        name="obstacle-what-if",
    ),
    path("obstacles/<int:pk>/", obstacles.obstacle_detail, name="obstacle-detail"),
    path("obstacles/<int:pk>/edit/", obstacles.obstacle_update, name="obstacle-update"),
    path(
        "obstacles/<int:pk>/records/",
        obstacles.obstacle_records,
        name="obstacle-records",
    ),
    path(
        "obstacles/<int:pk>/resolve/",
        obstacles.obstacle_resolve,
        name="obstacle-resolve",
    ),
    path(
        "obstacles/<int:pk>/withdraw/",
        obstacles.obstacle_withdraw,
        name="obstacle-withdraw",
    ),
    path(
        "obstacles/<int:pk>/mitigations/new/",
        obstacles.mitigation_new,
        name="mitigation-new",
    ),
    path(
        "mitigations/<int:pk>/complete/",
        obstacles.mitigation_complete,
        name="mitigation-complete",
    ),
    path(
        "mitigations/<int:pk>/cancel/",
        obstacles.mitigation_cancel,
        name="mitigation-cancel",
    ),
    # early warnings
    path("warnings/", obstacles.warning_list, name="warning-list"),
    path(
        "warnings/<int:pk>/acknowledge/",
        obstacles.warning_acknowledge,
        name="warning-acknowledge",
    ),
    # the thresholds
    path(
        "settings/anticipation/",
        obstacles.anticipation_settings,
        name="anticipation-settings",
    ),
    # blameless reviews
    path("reviews/", reviews.review_list, name="review-list"),
    path("runs/<int:pk>/reviews/new/", reviews.run_review_new, name="run-review-new"),
    path("reviews/<int:pk>/", reviews.review_detail, name="review-detail"),
    path("reviews/<int:pk>/text/", reviews.review_text, name="review-text"),
    path("reviews/<int:pk>/factors/", reviews.factor_new, name="review-factor-new"),
    path(
        "review-factors/<int:pk>/remove/",
        reviews.factor_remove,
        name="review-factor-remove",
    ),
    path("reviews/<int:pk>/actions/", reviews.action_new, name="review-action-new"),
    path(
        "review-actions/<int:pk>/complete/",
        reviews.action_complete,
        name="review-action-complete",
    ),
    path("reviews/<int:pk>/complete/", reviews.review_complete, name="review-complete"),
    # proposals of reviews taken into a procedure's draft version
    path(
        "procedures/versions/<int:pk>/proposals/apply/",
        reviews.proposals_apply,
        name="version-proposals-apply",
    ),
]
