"""Events sent through Celery reach a real worker, which records them in the test database."""

from __future__ import annotations

import pytest

from dora.models import Commit, Deployment
from ingest.tasks import events_record_task

EVENTS = [
    {
        "type": "commit",
        "id": "c1",
        "repo": "acme/shop",
        "sha": "a" * 40,
        "authored_at": "2026-03-05T09:00:00Z",
        "message": "Add basket",
    },
    {
        "type": "commit",
        "id": "c2",
        "repo": "acme/shop",
        "sha": "b" * 40,
        "authored_at": "2026-03-05T09:30:00Z",
        "parents": ["a" * 40],
        "message": "Fix basket total",
    },
    {
        "type": "deployment",
        "id": "d1",
        "service": "shop",
        "environment": "production",
        "repo": "acme/shop",
        "sha": "b" * 40,
        "version": "v1.0.0",
        "status": "success",
        "started_at": "2026-03-05T10:00:00Z",
        "finished_at": "2026-03-05T10:05:00Z",
    },
]
RESULT_TIMEOUT_SECONDS = 60


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_events_record_task_runs_on_a_real_worker(celery_worker_process) -> None:
    result = events_record_task.apply_async(
        args=[EVENTS], kwargs={"source": "ci-test"}, queue=celery_worker_process.queue
    )
    counts = result.get(timeout=RESULT_TIMEOUT_SECONDS)

    assert counts == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 0}
    assert set(Commit.objects.values_list("sha", flat=True)) == {"a" * 40, "b" * 40}
    assert set(Commit.objects.values_list("source", flat=True)) == {"ci-test"}
    deployment = Deployment.objects.select_related("service", "environment").get()
    assert (deployment.service.name, deployment.environment.name) == ("shop", "production")
    assert (deployment.sha, deployment.version, deployment.status) == (
        "b" * 40,
        "v1.0.0",
        "success",
    )

    again = events_record_task.apply_async(
        args=[EVENTS], kwargs={"source": "ci-test"}, queue=celery_worker_process.queue
    )

    assert again.get(timeout=RESULT_TIMEOUT_SECONDS) == {
        "created": 0,
        "updated": 0,
        "unchanged": 3,
        "rejected": 0,
    }
    assert Commit.objects.count() == 2
    assert Deployment.objects.count() == 1
