from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "rantai.web"
    label = "web"
    verbose_name = "Web"
