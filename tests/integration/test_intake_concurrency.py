"""Concurrent pipelines posting events through gunicorn against PostgreSQL (issue 13, finding 2).

8 clients at once, released together by a barrier, through the production server (several
processes, each with its own connections): no request may answer 5xx, no valid event may be
lost, and clients sending the same event must agree on which of them created it.
"""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from dora.models import ApiToken, AutomationInstance, AutomationRun, Deployment, RawEvent
from tests.servers import Gunicorn, database_url_of, gunicorn_serving, log_tail

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'", reason="the production shape runs on PostgreSQL"
    ),
]

CLIENTS = 8
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {
        "DATABASE_URL": database_url_of(connection.settings_dict),
        "CONN_MAX_AGE": "0",  # nothing holds the test database open at teardown
        "CELERY_BROKER_URL": "",  # tasks in the server process: what a request did is done
    }
    with gunicorn_serving(env, log_path, workers=4, threads=2) as s:
        yield s


@pytest.fixture
def token() -> str:
    return ApiToken.issue(name="pipelines", scope="ingest")[1]


def post(server: Gunicorn, token: str, body: Any) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - our own server on loopback
        f"{server.url}/api/v1/events",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"body": text[:500]}


def together(
    work: Callable[[int, Callable[[], None]], list[tuple[int, dict[str, Any]]]],
) -> list[tuple[int, dict[str, Any]]]:
    """Run work(client, in_step) for every client in its own thread, all released at once;
    in_step() waits for every client to reach it (rounds sent together)."""
    barrier = threading.Barrier(CLIENTS)
    results: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    errors: list[BaseException] = []

    def in_step() -> None:
        barrier.wait(timeout=120)

    def run(client: int) -> None:
        try:
            in_step()
            results[client] = work(client, in_step)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    return [answer for client in sorted(results) for answer in results[client]]


def warm_up(server: Gunicorn, token: str) -> None:
    """Every server thread answers once (its first request imports and connects), so the
    rounds below overlap in the database, not in start-up."""
    together(lambda client, _: [post(server, token, [])])


def test_eight_pipelines_posting_runs_of_one_new_stack_lose_nothing(
    server: Gunicorn, token: str
) -> None:
    requests_each, runs_each = 5, 5
    # Every run of one new stack (one automation instance), each a distinct minute: the
    # instance's latest run is the last minute of all of them, whichever request stored it.
    minute = iter(random.Random(13).sample(range(1, 1000), CLIENTS * requests_each * runs_each))

    def batches(client: int) -> list[list[dict[str, Any]]]:
        return [
            [
                {
                    "type": "automation_run",
                    "id": f"tf-{client}-{r}-{i}",
                    "service": "edge-network",
                    "environment": "staging-eu",
                    "action": "apply",
                    "status": "success",
                    "trigger": "schedule",
                    "finished_at": at(next(minute)),
                }
                for i in range(runs_each)
            ]
            for r in range(requests_each)
        ]

    planned = {client: batches(client) for client in range(CLIENTS)}
    latest = max(
        datetime.fromisoformat(run["finished_at"])
        for requests in planned.values()
        for batch in requests
        for run in batch
    )

    answers = together(lambda client, _: [post(server, token, b) for b in planned[client]])

    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: CLIENTS * requests_each}, (answers, log_tail(server.log_path))
    created = sum(body["counts"]["created"] for _, body in answers)
    assert created == CLIENTS * requests_each * runs_each == 200
    assert AutomationRun.objects.count() == 200
    (instance,) = AutomationInstance.objects.all()
    assert instance.last_run_at == latest
    assert instance.last_reset_at == latest


def test_pipelines_sending_the_same_events_at_once_agree_on_who_created_them(
    server: Gunicorn, token: str
) -> None:
    rounds = 4

    def events(round_: int) -> list[dict[str, Any]]:
        return [
            {
                "type": "deployment",
                "id": f"deploy-{round_}-{n}",
                "service": f"svc-{round_}-{n % 5}",  # new services, created on first sight
                "environment": "production",
                "target": f"region-{n % 3}",
                "version": f"v1.{n}",
                "status": "success",
                "finished_at": at(n),
            }
            for n in range(12)
        ]

    def send(client: int, in_step: Callable[[], None]) -> list[tuple[int, dict[str, Any]]]:
        answers = []
        for round_ in range(rounds):
            in_step()
            answers.append(post(server, token, events(round_)))
        return answers

    warm_up(server, token)
    answers = together(send)

    assert [status for status, _ in answers] == [200] * CLIENTS * rounds, log_tail(server.log_path)
    by_key: dict[str, Counter[str]] = {}
    for _, body in answers:
        for item in body["items"]:
            by_key.setdefault(item["key"], Counter())[item["status"]] += 1
    assert len(by_key) == 12 * rounds
    for key, seen in by_key.items():
        assert seen == {"created": 1, "unchanged": CLIENTS - 1}, key
    assert RawEvent.objects.count() == Deployment.objects.count() == 12 * rounds


def test_versions_racing_in_different_orders_end_with_the_latest_updated_at(
    server: Gunicorn, token: str
) -> None:
    ids = [f"deploy-{n}" for n in range(30)]

    def versions(client: int) -> list[dict[str, Any]]:
        order = ids[:]
        random.Random(client).shuffle(order)  # each client holds the rows in its own order
        return [
            {
                "type": "deployment",
                "id": ident,
                "service": "checkout",
                "environment": "production",
                "target": "eu-1",
                "version": f"v{client}",
                "status": "success",
                "finished_at": at(1),
                "updated_at": at(10 + client),
            }
            for ident in order
        ]

    warm_up(server, token)
    answers = together(lambda client, _: [post(server, token, versions(client))])

    assert [status for status, _ in answers] == [200] * CLIENTS, log_tail(server.log_path)
    # Whatever order they arrived in, each event ends as the newest source version.
    newest = f"v{CLIENTS - 1}"
    assert set(Deployment.objects.values_list("version", flat=True)) == {newest}
    assert RawEvent.objects.filter(source_updated_at=T0 + timedelta(minutes=10 + 7)).count() == 30
    for ident in ids:
        seen = Counter(
            item["status"]
            for _, body in answers
            for item in body["items"]
            if item["key"] == f"api:deployment:{ident}"
        )
        assert seen["created"] == 1 and seen["rejected"] == 0
