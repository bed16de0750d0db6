from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("rantai.api.urls")),
    path("", include("rantai.web.urls")),
]
