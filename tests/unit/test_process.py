"""A web worker's set-up: the URLconf loaded and the long-lived objects frozen out of the GC."""

from __future__ import annotations

import gc

from django.urls import clear_url_caches, get_resolver

from dora.process import process_settle


def test_process_settle_loads_the_urlconf_and_freezes_what_is_alive() -> None:
    gc.unfreeze()
    clear_url_caches()
    try:
        process_settle()
        frozen = gc.get_freeze_count()
        loaded = "url_patterns" in vars(get_resolver())  # the cached_property has been read
    finally:
        gc.unfreeze()  # the test process's objects go back to the collector

    assert loaded
    assert frozen > 10_000  # Django, DRF and the project: about 130,000 objects in a worker
