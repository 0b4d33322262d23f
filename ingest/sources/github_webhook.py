"""Old import path of ingest.sources.github.webhook, kept for the tests: the same module."""

import sys

from ingest.sources.github import webhook

sys.modules[__name__] = webhook
