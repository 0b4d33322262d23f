"""WSGI entry point for gunicorn."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dora.settings")
application = get_wsgi_application()

from dora.process import process_settle  # noqa: E402 - after Django is set up

process_settle()
