"""atomic_retry against a real PostgreSQL deadlock: the aborted transaction runs again."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction

from dora.models import Team
from dora.retry import TransactionConflict, atomic_retry, transient

pytestmark = pytest.mark.django_db(transaction=True)

needs_postgres = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="deadlock detection is PostgreSQL's"
)


def _deadlock_timeout(value: str) -> None:
    """PostgreSQL looks for a cycle once, when a lock wait has lasted this long."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET deadlock_timeout = '{value}'")


def _rename(team_id: int, name: str) -> None:
    Team.objects.filter(id=team_id).update(name=name)


@needs_postgres
def test_a_deadlock_victim_runs_again_and_both_transactions_commit() -> None:
    first = Team.objects.create(name="first").id
    second = Team.objects.create(name="second").id
    other_holds_first = threading.Event()
    retried_blocks_on_first = threading.Event()
    errors: list[BaseException] = []

    def other() -> None:
        # Takes `first`, then (once the main thread waits for `first` while holding `second`)
        # asks for `second`: a cycle. The main thread checks for a cycle 1 s into its wait,
        # after this one has closed it, so the main thread is the victim; this transaction
        # then gets `second` and commits.
        try:
            _deadlock_timeout("10s")
            with transaction.atomic():
                _rename(first, "first by other")
                other_holds_first.set()
                retried_blocks_on_first.wait(timeout=10)
                threading.Event().wait(0.3)  # let the main thread block on `first`
                _rename(second, "second by other")
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    attempts: list[int] = []

    def work() -> str:
        attempts.append(len(attempts) + 1)
        _rename(second, "second by main")
        if len(attempts) == 1:
            retried_blocks_on_first.set()
        _rename(first, "first by main")
        return "done"

    _deadlock_timeout("1s")
    thread = threading.Thread(target=other)
    thread.start()
    assert other_holds_first.wait(timeout=10)
    result = atomic_retry(work)
    thread.join(timeout=20)

    assert errors == []
    assert result == "done"
    assert attempts == [1, 2]  # aborted once as the deadlock victim, then committed
    # The other transaction committed first; the retried one wrote last.
    assert Team.objects.get(id=first).name == "first by main"
    assert Team.objects.get(id=second).name == "second by main"


def test_other_errors_are_not_retried() -> None:
    attempts: list[int] = []

    def work() -> None:
        attempts.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    with pytest.raises(Exception, match="no_such_table"):
        atomic_retry(work)
    assert attempts == [1]


def test_transient_reads_the_sqlstate_of_the_database_error() -> None:
    class Deadlock(Exception):
        sqlstate = "40P01"

    class Unique(Exception):
        sqlstate = "23505"

    class ForeignKey(Exception):
        sqlstate = "23503"

    wrapped = OperationalError("deadlock detected")
    wrapped.__cause__ = Deadlock()
    assert transient(wrapped)
    race = IntegrityError("duplicate key")
    race.__cause__ = Unique()
    assert transient(race)  # two writers inserting one key: the retry sees the other's row
    other = IntegrityError("violates foreign key constraint")
    other.__cause__ = ForeignKey()
    assert not transient(other)
    assert not transient(OperationalError("no cause"))


@needs_postgres  # SQLite's errors carry no SQLSTATE: nothing there is retried
def test_a_conflict_on_every_attempt_ends_as_transaction_conflict_storing_nothing() -> None:
    Team.objects.create(name="taken")
    attempts: list[int] = []

    def work() -> None:
        attempts.append(1)
        Team.objects.create(name="kept only if the batch commits")
        Team.objects.create(name="taken")  # a unique violation every time

    with pytest.raises(TransactionConflict):
        atomic_retry(work, attempts=3)
    assert len(attempts) == 3
    assert list(Team.objects.values_list("name", flat=True)) == ["taken"]
