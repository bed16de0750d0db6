from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "rantai.demo"
    label = "demo"
    verbose_name = "Demo data"
