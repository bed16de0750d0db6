"""Settings of the worker processes the fault test starts: the project's, plus the
test timer kind (worker_app) and e-mail kept in memory."""

from rantai.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "rantai.cli.tests.worker_app.WorkerTestConfig"]  # noqa: F405
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
