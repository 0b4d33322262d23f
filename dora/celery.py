"""Celery wiring: the app, configured from Django settings, tasks discovered in installed apps."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dora.settings")

app = Celery("dora")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
