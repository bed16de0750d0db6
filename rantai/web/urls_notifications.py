"""Notification pages under /o/<org-slug>/: one's notifications and preferences,
the navigation's unread count, and the administrators' webhook endpoints with
their delivery log and the event catalogue."""

from django.urls import path

from rantai.web.views import notifications as views

urlpatterns = [
    # notifications
    path("notifications/", views.notification_list, name="notifications"),
    path(
        "notifications/count/",
        views.notification_count,
        name="notification-count",
    ),
    path(
        "notifications/read/",
        views.notification_read_all,
        name="notification-read-all",
    ),
    path(
        "notifications/<int:pk>/read/",
        views.notification_read,
        name="notification-read",
    ),
    path(
        "notifications/<int:pk>/open/",
        views.notification_open,
        name="notification-open",
    ),
    path(
        "notifications/settings/",
        views.preferences,
        name="notification-preferences",
    ),
    # webhook endpoints
    path("webhooks/", views.endpoint_list, name="webhooks"),
    path("webhooks/new/", views.endpoint_create, name="webhook-create"),
    path("webhooks/events/", views.event_catalogue, name="webhook-events"),
    path("webhooks/<int:pk>/", views.endpoint_detail, name="webhook-detail"),
    path("webhooks/<int:pk>/edit/", views.endpoint_edit, name="webhook-edit"),
    path(
        "webhooks/<int:pk>/rotate/",
        views.endpoint_rotate,
        name="webhook-rotate",
    ),
    path(
        "webhooks/<int:pk>/deactivate/",
        views.endpoint_deactivate,
        name="webhook-deactivate",
    ),
    path(
        "webhooks/<int:pk>/reactivate/",
        views.endpoint_reactivate,
        name="webhook-reactivate",
    ),
    path(
        "webhooks/deliveries/<int:pk>/",
        views.delivery_detail,
        name="webhook-delivery",
    ),
]
