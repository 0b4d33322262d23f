"""An infra stack's applies that name what they applied are its deployments (issue 17, point 6):
rollouts, change sets, lead time and failures exist for `kind: infra` exactly as for an app,
whether the history arrives as `deployment` events or as `automation_run` applies alone.

The stack `network` (repo acme/net): n0 is live before; pull request #1 (n1 at 1 h, n2 at 2 h)
merges at 3 h as m1; production applies m1 at 10 h. By hand: the second production rollout is a
`change` shipping n1, n2 and m1; pull request #1 arrives at 10 h, a lead time of 10 − 1 = 9 h.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from dora.intake.events import events_record
from dora.models import ChangeArrival, Deployment, Rollout, Service
from tests.builders import at, change, commit, sha, when
from tests.facts import facts_snapshot

pytestmark = pytest.mark.django_db
REPO = "acme/net"


def history() -> list[dict[str, Any]]:
    return [
        commit("n0", hours=-5, repo=REPO),
        commit("n1", ["n0"], hours=1, repo=REPO),
        commit("n2", ["n1"], hours=2, repo=REPO),
        commit("m1", ["n0", "n2"], hours=3, repo=REPO),
        change(1, ["n1", "n2"], created=1.5, merged=3, merge="m1", repo=REPO),
    ]


# (id, environment, sha name, started, finished, status, run trigger)
APPLIES = [
    ("a0", "production", "n0", -4.5, -4, "success", "change"),
    ("a1", "staging", "m1", 4, 4.25, "success", "change"),
    ("a2", "production", "m1", 9.5, 9.75, "failure", "change"),
    ("a3", "production", "m1", 9.8, 10, "success", "manual"),
]


def as_runs() -> list[dict[str, Any]]:
    return [
        {
            "type": "automation_run",
            "id": ident,
            "service": "network",
            "environment": env,
            "action": "apply",
            "status": status,
            "started_at": at(start),
            "finished_at": at(end),
            "trigger": trigger,
            "version": f"v-{name}",
            "sha": sha(name),
            "repo": REPO,
        }
        for ident, env, name, start, end, status, trigger in APPLIES
    ]


def as_deployments() -> list[dict[str, Any]]:
    return [
        {
            "type": "deployment",
            "id": ident,
            "service": "network",
            "environment": env,
            "status": status,
            "started_at": at(start),
            "finished_at": at(end),
            "trigger": "manual" if trigger == "manual" else "automated",
            "version": f"v-{name}",
            "sha": sha(name),
            "repo": REPO,
        }
        for ident, env, name, start, end, status, trigger in APPLIES
    ]


def record(events: list[dict[str, Any]]) -> None:
    report = events_record(events)
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]


@pytest.fixture(autouse=True)
def stack() -> None:
    Service.objects.create(name="network", kind="infra", repos=[REPO])


def test_applies_alone_give_the_stack_rollouts_and_lead_time() -> None:
    record(history() + as_runs())

    production = list(
        Rollout.objects.filter(service__name="network", environment__name="production").order_by(
            "seq"
        )
    )
    assert [(r.sha, r.kind) for r in production] == [(sha("n0"), "change"), (sha("m1"), "change")]
    assert production[1].first_live_at == when(10)  # the failed apply at 9.75 h placed nothing
    shipped = set(production[1].commits.values_list("sha", flat=True))
    assert shipped == {sha("n1"), sha("n2"), sha("m1")}
    arrival = ChangeArrival.objects.get(
        environment__name="production", change__number=1, change__repo=REPO
    )
    assert arrival.arrived_at - when(1) == timedelta(hours=9)
    # Each apply is one deployment, keyed by its run, its trigger in the deployment's words.
    rows = dict(Deployment.objects.values_list("external_id", "trigger"))
    assert rows == {
        "automation_run:a0": "automated",
        "automation_run:a1": "automated",
        "automation_run:a2": "automated",
        "automation_run:a3": "manual",
    }


def _metrics() -> dict[str, Any]:
    out = io.StringIO()
    call_command(
        "metrics",
        "--since",
        at(-24),
        "--until",
        at(24 * 6),
        "--service",
        "network",
        "--format",
        "json",
        stdout=out,
    )
    return json.loads(out.getvalue())


def _facts_by_run() -> dict[str, Any]:
    """The derived facts with each deployment's key read as the run or event it came from."""
    facts = facts_snapshot()
    facts["deployments"] = sorted(
        (source, ext.split(":", 1)[1], seq) for source, ext, seq in facts["deployments"]
    )
    return facts


def _outcome(events: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Facts and figures of `events` on the fixture's state, rolled back afterwards."""
    with transaction.atomic():
        record(events)
        outcome = (_facts_by_run(), _metrics())
        transaction.set_rollback(True)
    return outcome


def test_applies_and_deployment_events_give_the_same_facts_and_figures() -> None:
    by_deployments = _outcome(history() + as_deployments())
    by_runs = _outcome(history() + as_runs())

    assert by_runs[0] == by_deployments[0]
    assert by_runs[0]["arrivals"]  # something was derived to compare
    # The one figure that differs is about runs, not deployments: automation lag's evidence
    # (failure rate by the gap since the previous run) has runs only when runs were sent.
    # Production: a2 failed 13.75 h after a0, a3 succeeded 0.25 h after a2 (staging's a1 has no
    # previous run): two runs within a day of the one before, one of them failed.
    runs_evidence = by_runs[1]["automation_lag"].pop("evidence")
    assert [(e["gap"], e["runs"], e["failures"]) for e in runs_evidence] == [
        ("<=1d", 2, 1),
        ("1-7d", 0, 0),
        ("7-30d", 0, 0),
        (">30d", 0, 0),
    ]
    by_deployments[1]["automation_lag"].pop("evidence")
    assert by_runs[1] == by_deployments[1]


def test_a_run_sent_again_as_a_plan_loses_its_deployment() -> None:
    runs = as_runs()
    record(history() + runs)
    resent = dict(runs[3], action="plan", updated_at=at(11))
    record([resent])

    assert not Deployment.objects.filter(external_id="automation_run:a3").exists()
    production = Rollout.objects.filter(service__name="network", environment__name="production")
    # m1's only successful production apply is gone: production runs n0 alone again.
    assert list(production.values_list("sha", flat=True)) == [sha("n0")]


def test_runs_without_a_version_or_sha_and_plans_are_no_deployments() -> None:
    record(
        [
            {
                "type": "automation_run",
                "id": "p1",
                "service": "network",
                "environment": "production",
                "action": "plan",
                "status": "success",
                "finished_at": at(1),
                "version": "v-n0",
            },
            {
                "type": "automation_run",
                "id": "r1",
                "service": "network",
                "environment": "production",
                "action": "apply",
                "status": "success",
                "finished_at": at(2),
            },
        ]
    )
    assert not Deployment.objects.exists()
