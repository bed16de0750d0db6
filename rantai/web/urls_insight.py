"""Web URLs of issue 8 (insight; docs/design-insight.md)."""

from django.urls import URLPattern, path  # noqa: F401

urlpatterns: list[URLPattern] = []
