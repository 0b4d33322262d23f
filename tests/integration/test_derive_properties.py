"""Property tests: derived facts depend on the events, not on their order or repetition."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from dora.intake import derive
from dora.intake.change_times import arrival_times_stale, change_builds_stale
from dora.intake.events import events_record
from dora.models import (
    Change,
    Commit,
    Deployment,
    Environment,
    Incident,
    MissingCommit,
    PipelineRun,
    RawEvent,
    Rollout,
    Service,
)
from tests.builders import change, commit, deployment, incident, pipeline_run, sha
from tests.facts import facts_snapshot

TARGETS = ["eu", "us", "ap"]


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A trunk of commits with PRs, releases of its commits (forward, back, again) to targets,
    some failed deploys, incidents; in time order."""
    n_commits = draw(st.integers(2, 8))
    events: list[dict[str, Any]] = []
    for i in range(n_commits):
        parents = [f"c{i - 1}"] if i else []
        message = (
            f'Revert "x"\n\nThis reverts commit {sha(f"c{i - 2}")}.' if i and i % 5 == 0 else "x"
        )
        events.append(commit(f"c{i}", parents, hours=i, message=message))
    number = 0
    i = 1
    while i < n_commits:
        size = draw(st.integers(1, 3))
        shas = [f"c{j}" for j in range(i, min(i + size, n_commits))]
        number += 1
        labels = draw(st.lists(st.sampled_from(["hotfix", "feature", "incident"]), max_size=1))
        events.append(
            change(number, shas, created=i, merged=i + size, merge=shas[-1], labels=labels)
        )
        # CI on the merge sha: the change's build time is kept at intake (dora/intake/change_times).
        for run, status in enumerate(
            draw(st.lists(st.sampled_from(["success", "failure"]), max_size=2))
        ):
            end = i + size + draw(st.sampled_from([0.25, 0.5, 2]))
            events.append(
                pipeline_run(
                    f"ci{number}-{run}", shas[-1], started=i + size, finished=end, status=status
                )
            )
        i += size
    hours = float(n_commits)
    n_releases = draw(st.integers(1, 6))
    for r in range(n_releases):
        target_commit = draw(st.integers(0, n_commits - 1))
        config = draw(st.sampled_from(["", "", "k2"]))
        for t in draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=3, unique=True)):
            hours += draw(st.sampled_from([0.5, 3, 20]))
            status = draw(st.sampled_from(["success"] * 5 + ["failure"]))
            events.append(
                deployment(
                    f"r{r}-{t}",
                    f"c{target_commit}",
                    hours=hours,
                    target=t,
                    status=status,
                    config_version=config,
                    environment=draw(st.sampled_from(["production", "production", "staging"])),
                )
            )
        if draw(st.booleans()):
            extra: dict[str, Any] = {}
            kind = draw(st.sampled_from(["none", "linked", "external"]))
            if kind == "linked":
                extra["caused_by"] = {"deployment": f"r{r}-{TARGETS[0]}"}
            elif kind == "external":
                extra["cause"] = "external"
            events.append(incident(f"i{r}", hours=hours + draw(st.sampled_from([1, 30])), **extra))
    return events


def _wipe() -> None:
    for model in (
        Rollout,
        MissingCommit,
        Deployment,
        Incident,
        Change,
        Commit,
        PipelineRun,
        RawEvent,
    ):
        model.objects.all().delete()


def _record(events: list[dict[str, Any]], batch_size: int) -> None:
    report = events_record(events, batch_size=batch_size)
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]


class DerivationPropertiesTest(TestCase):
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(events=histories(), order=st.randoms(use_true_random=False), data=st.data())
    def test_facts_ignore_order_batching_and_repeats(
        self, events: list[dict[str, Any]], order: Any, data: st.DataObject
    ) -> None:
        _record(events, batch_size=len(events))
        expected = facts_snapshot()
        assert arrival_times_stale() == []
        assert change_builds_stale() == []

        # From scratch, pair by pair, the facts are the same as the incremental result.
        for service_id, env_id in Rollout.objects.values_list(
            "service_id", "environment_id"
        ).distinct():
            derive.pair_rebuild_all(service_id, env_id)
        assert facts_snapshot() == expected

        # Sending everything again changes nothing and reports every event unchanged.
        report = events_record(events)
        assert report.counts["unchanged"] == len(events)
        assert facts_snapshot() == expected

        # Another order, in batches of any size, gives identical facts.
        _wipe()
        shuffled = list(events)
        order.shuffle(shuffled)
        batch_size = data.draw(st.integers(1, len(events)), label="batch_size")
        _record(shuffled, batch_size=batch_size)
        assert facts_snapshot() == expected
        assert arrival_times_stale() == []
        assert change_builds_stale() == []


class DerivationTargetsTest(TestCase):
    def test_environment_names_map_to_tiers(self) -> None:
        _record([deployment("d", "c0", hours=0, environment="prod-eu")], batch_size=10)
        assert Environment.objects.get(name="prod-eu").tier == "production"
        assert Service.objects.filter(name="shop").exists()
