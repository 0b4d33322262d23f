"""Set-up of a long-running web worker process."""

from __future__ import annotations

import gc


def process_settle() -> None:
    """Load now what the first request would load (the URLconf and the view modules it imports),
    then take every object alive at that point out of the garbage collector's rounds
    (`gc.freeze`). They live as long as the worker; a full collection over them (about 130,000
    objects, 30 to 100 ms on the bench machine) stalls whichever requests wait on that worker,
    which showed in the promotion gate's tail under load (docs/PERFORMANCE.md, "Promotion gate
    under load")."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    gc.collect()
    gc.freeze()
