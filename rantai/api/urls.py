from django.urls import path, re_path

from rantai.api.main import api
from rantai.api.problems import not_found_view

urlpatterns = [
    path("", api.urls),
    re_path(r"^.*$", not_found_view, name="api-not-found"),
]
