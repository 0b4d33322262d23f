"""The test run's settings: the project's own, with a throwaway secret key when none is set.

dora.settings refuses to start with DJANGO_DEBUG off and no DJANGO_SECRET_KEY (production must
never run on a known key). CI sets one (.ci/run); `make test` on a laptop may not, so the suite
sets a test-only key here, before the settings are read. Processes the tests start (the Celery
worker) inherit it through the environment.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-a-secret")

from dora.settings import *  # noqa: E402, F403
