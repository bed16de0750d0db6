from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "rantai.cli"
    label = "cli"
    verbose_name = "Command line"
