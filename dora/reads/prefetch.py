"""Reading a computation's independent frames on several connections at once."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections

from dora.db_router import read_alias


def prefetch(
    computation: Any,
    names: Sequence[str],
    *,
    workers: int,
    figures: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Read independent frames (cached properties of `computation`) at once: this thread takes
    every `workers`-th one, and each other share runs in a thread on its own connection (closed
    when its share is done), so the database executes one query while Python parses another.
    Only on PostgreSQL and outside a transaction: inside one, other connections could not see
    its rows.

    figures (cached properties too, name -> the frames each needs): every thread, its reads
    done, computes those whose frames are all read and that no other thread has taken, while
    the longest share still reads. A figure must come out the same on any thread: from those
    frames, and from any read it makes on its thread's connection (which reads where this
    thread's would)."""
    reads = connections[read_alias()]  # the replica inside its read scope (dora.db_router)
    if workers < 2 or reads.vendor != "postgresql" or reads.in_atomic_block:
        return
    cache = computation.__dict__  # where cached_property keeps each value
    todo = [name for name in names if name not in cache]
    shares = [todo[i::workers] for i in range(workers)]
    errors: list[BaseException] = []
    taken: set[str] = set()
    taking = threading.Lock()

    def ready() -> str | None:
        """A figure no thread has taken whose frames are all read, now taken; or None."""
        with taking:
            for name, needs in (figures or {}).items():
                if name not in taken and name not in cache and all(n in cache for n in needs):
                    taken.add(name)
                    return name
        return None

    def read(share: list[str], *, own_connection: bool) -> None:
        try:
            # Each value is kept as soon as it is read, so the figures find their frames.
            for name in share:
                cache[name] = getattr(type(computation), name).func(computation)
            while (name := ready()) is not None:
                cache[name] = getattr(type(computation), name).func(computation)
        except BaseException as exc:  # noqa: BLE001 - raised again in the calling thread
            errors.append(exc)
        finally:
            if own_connection:
                connections.close_all()  # this thread's connections only

    # Each thread in a copy of this one's context: its reads go where this thread's go.
    threads = [
        threading.Thread(
            target=contextvars.copy_context().run,
            args=(read, share),
            kwargs={"own_connection": True},
            daemon=True,
        )
        for share in shares[1:]
        if share
    ]
    for thread in threads:
        thread.start()
    read(shares[0], own_connection=False)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
