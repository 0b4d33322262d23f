"""A full report reads its frames on three connections at once (PostgreSQL, outside a
transaction): the same report as read one by one, and no connection left open. A report of one
service reads them one after another on its own connection (`SERIAL_READS_SERVICES`)."""

from __future__ import annotations

import threading
import time
from functools import cached_property

import pytest
from django.db import connection

from dora.reads import report as report_module
from dora.reads.prefetch import prefetch
from dora.reads.report import MetricsComputation, metrics_report
from dora.reads.report_query import MetricsQuery
from dora.reads.scope import scope_resolve
from tests.builders import when
from tests.integration.test_metrics_report import shop_timeline

pytestmark = pytest.mark.django_db(transaction=True)

needs_postgres = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="frames are read concurrently on PostgreSQL only"
)


def _connections_to_this_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _query() -> MetricsQuery:
    return MetricsQuery(
        scope=scope_resolve(services=["shop"]), since=when(days=-1), until=when(days=7)
    )


@needs_postgres
def test_concurrent_reads_give_the_report_read_one_by_one(monkeypatch) -> None:
    shop_timeline()
    now = when(days=30)
    one_by_one = MetricsComputation(_query(), now=now).report()  # no prefetch: lazy reads
    before = _connections_to_this_database()
    threads_used: list[str] = []
    original = report_module.selectors.arrivals_frame

    def arrivals_frame(*args, **kwargs):
        import threading

        threads_used.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(report_module.selectors, "arrivals_frame", arrivals_frame)
    monkeypatch.setattr(report_module, "SERIAL_READS_SERVICES", 0)  # the timeline has one

    concurrent = metrics_report(_query(), now=now)

    assert concurrent == one_by_one
    assert concurrent["lead_time"]["n"] == 3  # the timeline's three PRs: data was seen
    # arrivals is the second frame dealt out: read by a helper thread, not this one.
    assert threads_used and threads_used[0] != "MainThread"
    assert _connections_to_this_database() == before  # no connection is left open


@needs_postgres
def test_one_service_is_read_on_this_connection_alone(monkeypatch) -> None:
    shop_timeline()
    now = when(days=30)
    one_by_one = MetricsComputation(_query(), now=now).report()  # no prefetch: lazy reads
    threads_used: list[str] = []
    read: list[str] = []
    original = report_module.selectors.arrivals_frame

    def arrivals_frame(*args, **kwargs):
        import threading

        threads_used.append(threading.current_thread().name)
        read.append("rollout_columns" in kwargs)  # the report's read, not the lazy one
        return original(*args, **kwargs)

    monkeypatch.setattr(report_module.selectors, "arrivals_frame", arrivals_frame)

    assert metrics_report(_query(), now=now) == one_by_one
    assert threads_used == ["MainThread"]
    assert read == [True]


@needs_postgres
def test_inside_a_transaction_everything_is_read_on_this_connection() -> None:
    from django.db import transaction

    with transaction.atomic():
        shop_timeline()  # uncommitted: other connections could not see it
        report = metrics_report(_query(), now=when(days=30))
    assert report["lead_time"]["n"] == 3


def test_an_error_in_a_reading_thread_is_raised(monkeypatch) -> None:
    shop_timeline()

    def broken(*args, **kwargs):
        raise RuntimeError("incidents unreadable")

    monkeypatch.setattr(report_module.selectors, "incidents_frame", broken)
    with pytest.raises(RuntimeError, match="incidents unreadable"):
        metrics_report(_query(), now=when(days=30))


class _Toy:
    """Frames and figures as cached properties, each computation recorded with its thread."""

    def __init__(self) -> None:
        self.computed: list[tuple[str, str]] = []

    def _note(self, name: str) -> None:
        self.computed.append((name, threading.current_thread().name))

    @cached_property
    def slow(self) -> str:  # this thread's share: still reading when the others are done
        self._note("slow")
        time.sleep(0.5)
        return "slow"

    @cached_property
    def a(self) -> int:
        self._note("a")
        return 1

    @cached_property
    def b(self) -> int:
        self._note("b")
        return 2

    @cached_property
    def sum_ab(self) -> int:
        self._note("sum_ab")
        time.sleep(0.8)  # still running when this thread, done with `slow`, looks for work
        return self.a + self.b

    @cached_property
    def after_slow(self) -> str:
        self._note("after_slow")
        return self.slow + "!"

    @cached_property
    def never(self) -> str:
        self._note("never")
        return "never"

    @cached_property
    def broken(self) -> int:
        raise ZeroDivisionError("a figure failed")


@needs_postgres
def test_figures_are_computed_once_by_the_thread_that_has_their_frames() -> None:
    toy = _Toy()
    prefetch(
        toy,
        ["slow", "a", "b"],
        workers=3,
        figures={"sum_ab": ("a", "b"), "after_slow": ("slow",), "never": ("missing",)},
    )
    names = [name for name, _ in toy.computed]
    assert sorted(names) == ["a", "after_slow", "b", "slow", "sum_ab"]  # each once; not never
    threads = dict(toy.computed)
    # sum_ab's frames were read long before `slow`: a reading thread took it, not this one.
    assert threads["sum_ab"] != "MainThread"
    assert threads["after_slow"] == "MainThread"  # only this thread had its frame in time
    assert (toy.sum_ab, toy.after_slow) == (3, "slow!")
    assert "never" not in toy.__dict__
    assert [name for name, _ in toy.computed].count("sum_ab") == 1  # read from the cache


@needs_postgres
def test_a_figure_that_fails_fails_the_prefetch() -> None:
    with pytest.raises(ZeroDivisionError, match="a figure failed"):
        prefetch(_Toy(), ["a", "b"], workers=2, figures={"broken": ("a",)})


@needs_postgres
def test_the_report_computes_its_early_figures_once(monkeypatch) -> None:
    shop_timeline()
    now = when(days=30)
    one_by_one = MetricsComputation(_query(), now=now).report()
    calls: list[str] = []
    original = report_module.full_estate_lead_time

    def full_estate_lead_time(*args, **kwargs):
        calls.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(report_module, "full_estate_lead_time", full_estate_lead_time)
    computation = MetricsComputation(_query(), now=now, items=False)
    computation.prefetch(
        MetricsComputation.REPORT_FRAMES, figures=MetricsComputation.REPORT_FIGURES
    )
    # The last thread to finish its reads finds every frame read: no figure is left over.
    assert set(MetricsComputation.REPORT_FIGURES) <= set(computation.__dict__)
    assert len(calls) == 1
    assert computation.report() == one_by_one
    assert len(calls) == 1  # the report took it from the cache
