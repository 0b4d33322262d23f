"""Old import path of ingest.sources.github.mapper, kept for the tests: the same module."""

import sys

from ingest.sources.github import mapper

sys.modules[__name__] = mapper
