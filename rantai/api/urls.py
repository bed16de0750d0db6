from django.urls import path

from rantai.api.main import api

urlpatterns = [path("", api.urls)]
