"""The test run's settings: the project's own, with a throwaway secret key when none is set.

dora.settings refuses to start with DJANGO_DEBUG off and no DJANGO_SECRET_KEY (production must
never run on a known key). CI sets one (.ci/run); `make test` on a laptop may not, so the suite
sets a test-only key here, before the settings are read. Static files are served by their plain
names: every page links dora/base.css, and a fresh checkout has no collectstatic manifest for
the production storage to look names up in. Processes the tests start (the Celery worker)
inherit both through the environment.
"""

import os
from pathlib import Path

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault(
    "DORA_STATICFILES_BACKEND", "django.contrib.staticfiles.storage.StaticFilesStorage"
)

from dora.settings import *  # noqa: E402, F403

# The 2025 benchmark against a SYNTHETIC Quick Check file of the published file's shape (made-up
# round numbers, tests/fixtures/quick_check_2025_synthetic.md): the suite never needs DORA's
# published file, and a test that wants it absent overrides this setting.
SYNTHETIC_QUICK_CHECK = Path(__file__).resolve().parent / "fixtures"
SYNTHETIC_QUICK_CHECK /= "quick_check_2025_synthetic.json"
DORA_QUICK_CHECK_2025_FILE = str(SYNTHETIC_QUICK_CHECK)
