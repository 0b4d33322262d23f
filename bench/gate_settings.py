"""Bench-only settings for bench/gate.py: the project's own, routed through bench/gate_site.py
(the project's URLs plus the trivial view `POST /bench/ping`). Never used outside the bench."""

from dora.settings import *  # noqa: F403

ROOT_URLCONF = "gate_site"
