"""Derived facts on small timelines, checked against hand-computed expectations (METRICS §2–3)."""

from __future__ import annotations

import io

import pytest

from dora.intake.events import events_record
from dora.models import (
    Change,
    ChangeArrival,
    Deployment,
    FailureLink,
    MissingCommit,
    Rollout,
    RolloutCommit,
    RolloutTarget,
    Service,
)
from tests.builders import change, commit, deployment, incident, sha, when
from tests.facts import facts_snapshot

pytestmark = pytest.mark.django_db


def record(events: list[dict]) -> None:
    report = events_record(events)
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]


def rollouts(service: str = "shop", environment: str = "production") -> list[Rollout]:
    return list(
        Rollout.objects.filter(service__name=service, environment__name=environment).order_by("seq")
    )


def change_set(rollout: Rollout) -> set[str]:
    return set(RolloutCommit.objects.filter(rollout=rollout).values_list("sha", flat=True))


def test_monorepo_commit_touches_only_its_service() -> None:
    Service.objects.create(name="search", repos=["acme/mono"], paths=["services/search/**"])
    Service.objects.create(name="recs", repos=["acme/mono"], paths=["services/recs/**"])
    both = ["services/search/app.py", "services/recs/app.py"]
    record(
        [
            commit("m0", hours=0, repo="acme/mono", files=both),
            commit("m1", ["m0"], hours=1, repo="acme/mono", files=["services/search/query.py"]),
            commit("m2", ["m1"], hours=2, repo="acme/mono", files=["services/recs/model.py"]),
            deployment("s1", "m0", hours=3, service="search"),
            deployment("r1", "m0", hours=3, service="recs"),
            deployment("s2", "m2", hours=10, service="search"),
            deployment("r2", "m2", hours=10, service="recs"),
        ]
    )
    search, recs = rollouts("search"), rollouts("recs")
    assert [r.kind for r in search] == ["change", "change"]
    # Both commits since m0 are shipped, but each service's change set keeps only its own.
    assert change_set(search[1]) == {sha("m1")}
    # m2 touches only recs: not in search's change set, and not stored for it.
    assert not RolloutCommit.objects.filter(rollout__service__name="search", sha=sha("m2")).exists()
    assert change_set(recs[1]) == {sha("m2")}
    arrivals = ChangeArrival.objects.filter(rollout=search[1])
    assert [(a.commit_sha, a.arrived_at) for a in arrivals] == [(sha("m1"), when(10))]
    assert ChangeArrival.objects.filter(rollout=recs[1]).get().commit_sha == sha("m2")


def test_explicit_commit_list_is_the_change_set_within_the_service_globs() -> None:
    Service.objects.create(name="search", repos=["acme/mono"], paths=["services/search/**"])
    record(
        [
            commit("e1", hours=0, repo="acme/mono", files=["services/search/a.py"]),
            commit("e2", ["e1"], hours=1, repo="acme/mono", files=["services/recs/b.py"]),
            commit("e3", ["e2"], hours=2, repo="acme/mono", files=["services/search/c.py"]),
            commit("e4", ["e3"], hours=3, repo="acme/mono", files=["services/search/d.py"]),
            # Each deployment says what it shipped; "e9" was never sent as a commit event.
            deployment("x1", "e3", hours=3, service="search", commits=[sha("e1")]),
            deployment(
                "x2",
                "e4",
                hours=5,
                service="search",
                commits=[sha(c) for c in ("e1", "e2", "e3", "e4", "e9")],
            ),
        ]
    )
    first, second = rollouts("search")
    # The list, not the parents, decides: e2 and e3 are e3's ancestors but not listed.
    assert change_set(first) == {sha("e1")}
    # e1 shipped with the first rollout and e3 was its sha (live already); e2 touches only
    # recs; e9's files are unknown, so it counts for the service (as a commit with no files
    # does) until its event says otherwise.
    assert change_set(second) == {sha("e4"), sha("e9")}


def test_squash_merged_pr_starts_at_its_first_branch_commit() -> None:
    record(
        [
            commit("t0", hours=-20),
            # Branch commits never reach trunk; the squash commit does, at merge time.
            commit("f1", ["t0"], hours=0),
            commit("f2", ["f1"], hours=5),
            commit("s1", ["t0"], hours=20),
            change(7, ["f1", "f2"], created=2, merged=20, merge="s1", squash="s1"),
            deployment("d1", "t0", hours=-10),
            deployment("d2", "s1", hours=30),
        ]
    )
    first, second = rollouts()
    assert change_set(second) == {sha("s1")}
    arrival = ChangeArrival.objects.get(rollout=second)
    pr = Change.objects.get(number=7)
    assert arrival.change == pr and arrival.arrived_at == when(30)
    assert pr.started_at == when(0)  # f1's author time, not the squash commit's
    assert (arrival.arrived_at - pr.started_at).total_seconds() == 30 * 3600


def test_rollback_marks_the_replaced_rollout_failed_and_restored() -> None:
    record(
        [
            commit("a1", hours=0),
            commit("a2", ["a1"], hours=1),
            commit("a3", ["a2"], hours=2),
            change(1, ["a2"], created=1, merged=3, merge="a3"),
            deployment("d1", "a1", hours=1),
            deployment("d2", "a3", hours=5),
            deployment("d3", "a1", hours=6),
        ]
    )
    r1, r2, r3 = rollouts()
    assert [r.kind for r in (r1, r2, r3)] == ["change", "change", "rollback"]
    assert change_set(r3) == set()
    assert r2.failure == "confirmed" and r2.restored_at == when(6)
    link = FailureLink.objects.get(rollout=r2)
    assert (link.cause, link.by_rollout_id) == ("rollback", r3.id)
    assert r3.remediation and not r2.remediation and r3.failure == ""
    # The change arrived with r2; the rollback does not make it arrive again.
    assert ChangeArrival.objects.get(change__number=1).rollout == r2


def test_rollout_to_three_targets_over_two_days_is_one_rollout() -> None:
    targets = {"eu": 0, "us": 1, "ap": 2}
    events = [commit("c1", hours=-5), commit("c2", ["c1"], hours=10)]
    events += [deployment(f"v1-{t}", "c1", hours=h, target=t) for t, h in targets.items()]
    events += [
        deployment("v2-eu", "c2", hours=24, target="eu"),
        deployment("v2-us", "c2", hours=36, target="us"),
        deployment("v2-ap", "c2", hours=72, target="ap"),
    ]
    record(events)
    first, second = rollouts()
    assert (second.first_live_at, second.completed_at, second.last_live_at) == (
        when(24),
        when(72),
        when(72),
    )
    assert (second.targets_live, second.targets_active) == (3, 3)
    assert second.estate_reached_at == when(72)
    reached = dict(
        RolloutTarget.objects.filter(rollout=second).values_list("target__name", "reached_at")
    )
    assert reached == {"eu": when(24), "us": when(36), "ap": when(72)}
    assert Deployment.objects.filter(rollout=second).count() == 3


def test_first_rollout_changes_are_unattributed() -> None:
    record(
        [
            commit("c1", hours=0),
            commit("c2", ["c1"], hours=1),
            deployment("d1", "c2", hours=2),
            commit("c3", ["c2"], hours=3),
            deployment("d2", "c3", hours=4),
        ]
    )
    first, second = rollouts()
    assert first.unattributed and not second.unattributed
    assert change_set(first) == {sha("c1"), sha("c2")}
    assert set(
        ChangeArrival.objects.filter(unattributed=True).values_list("commit_sha", flat=True)
    ) == {sha("c1"), sha("c2")}
    assert ChangeArrival.objects.get(unattributed=False).commit_sha == sha("c3")


def test_commits_arriving_after_their_deployment_complete_the_change_set() -> None:
    commits = [commit("c0", hours=0), commit("c1", ["c0"], hours=1), commit("c2", ["c1"], hours=2)]
    deployments = [deployment("d1", "c0", hours=1), deployment("d2", "c2", hours=5)]
    record(deployments)
    _, second = rollouts()
    assert not second.change_set_complete and second.missing_shas == [sha("c2")]
    assert MissingCommit.objects.filter(sha=sha("c2")).exists()
    record(commits)
    _, second = rollouts()
    assert second.change_set_complete and second.missing_shas == []
    assert change_set(second) == {sha("c1"), sha("c2")}
    assert not MissingCommit.objects.exists()
    late = facts_snapshot()
    # The same facts as if the commits had come first.
    for model in (Rollout, Deployment, ChangeArrival, Change):
        model.objects.all().delete()
    from dora.models import Commit, RawEvent

    Commit.objects.all().delete()
    RawEvent.objects.all().delete()
    record(commits + deployments)
    assert facts_snapshot() == late


def test_incident_a_day_late_is_inferred_and_external_ones_ignored() -> None:
    record(
        [
            commit("c1", hours=0),
            commit("c2", ["c1"], hours=1),
            commit("c3", ["c2"], hours=2),
            deployment("d1", "c1", hours=1),
            deployment("d2", "c2", hours=10),
            deployment("d3", "c3", hours=50),
        ]
    )
    r1, r2, r3 = rollouts()
    assert r2.failure == ""
    # Opened 5 h after r2 went live, reported a day later: r2 is the nearest rollout before it.
    record([incident("inc-1", hours=15, mitigated_at="2026-03-03T04:00:00Z")])
    r2.refresh_from_db()
    assert r2.failure == "inferred" and r2.restored_at == when(19)
    # An external incident right after r3 changes nothing.
    record([incident("inc-2", hours=51, cause="external")])
    r3.refresh_from_db()
    assert r3.failure == ""


def test_incident_naming_a_deployment_confirms_that_rollout() -> None:
    record(
        [
            deployment("d1", None, hours=0, version="v1"),
            deployment("d2", None, hours=10, version="v2"),
            deployment("d3", None, hours=100, version="v3"),
            incident(
                "inc-9",
                hours=200,
                caused_by={"deployment": "d2"},
                resolved_at="2026-03-12T00:00:00Z",
            ),
        ]
    )
    r1, r2, r3 = rollouts()
    assert [r.kind for r in (r1, r2, r3)] == ["change", "change", "change"]
    assert (r2.failure, r3.failure) == ("confirmed", "")
    link = FailureLink.objects.get()
    assert (link.cause, link.incident.external_id) == ("incident", "incident:inc-9")


def test_rollback_arriving_before_the_rollout_it_replaces_gives_the_same_facts() -> None:
    events = [
        commit("a1", hours=0),
        commit("a2", ["a1"], hours=1),
        deployment("d1", "a1", hours=1),
        deployment("d2", "a2", hours=5),
        deployment("d3", "a1", hours=6),
    ]
    record(list(reversed(events)))
    reversed_order = facts_snapshot()
    assert [r.kind for r in rollouts()] == ["change", "change", "rollback"]
    assert rollouts()[1].failure == "confirmed"
    from dora.models import Commit, RawEvent

    for model in (Rollout, Deployment, Commit, RawEvent):
        model.objects.all().delete()
    record(events)
    assert facts_snapshot() == reversed_order


def test_hotfix_and_revert_mark_the_earlier_rollout() -> None:
    record(
        [
            commit("c1", hours=0),
            commit("c2", ["c1"], hours=1, message="Add cache"),
            commit(
                "c3",
                ["c2"],
                hours=20,
                message=f'Revert "Add cache"\n\nThis reverts commit {sha("c2")}.',
            ),
            commit("c4", ["c3"], hours=200),
            commit("c5", ["c4"], hours=202),
            change(5, ["c5"], created=202, merged=203, merge="c5", labels=["hotfix"]),
            deployment("d1", "c1", hours=1),
            deployment("d2", "c2", hours=2),
            deployment("d3", "c3", hours=21),
            deployment("d4", "c4", hours=201),
            deployment("d5", "c5", hours=204),
        ]
    )
    r1, r2, r3, r4, r5 = rollouts()
    assert (r2.failure, r4.failure) == ("confirmed", "confirmed")
    assert FailureLink.objects.get(rollout=r2).cause == "revert"
    assert FailureLink.objects.get(rollout=r4).cause == "hotfix"
    assert (r2.restored_at, r4.restored_at) == (when(21), when(204))
    assert r5.remediation and not r3.remediation  # hotfix label is rework; a revert is not


def test_redeploy_and_config_change_are_told_apart() -> None:
    record(
        [
            deployment("d1", "c1", hours=0, version="v1", config_version="k1"),
            deployment("d2", "c1", hours=5, version="v1", config_version="k1"),
            deployment("d3", "c1", hours=9, version="v1", config_version="k2"),
        ]
    )
    assert [r.kind for r in rollouts()] == ["change", "redeploy", "config"]


def test_configured_targets_bind_only_services_that_deploy_to_them() -> None:
    from dora.models import Environment, Target

    env = Environment.objects.create(name="production", tier="production", tier_configured=True)
    for name in ("eu", "us"):
        Target.objects.create(environment=env, name=name, configured=True)
    record(
        [
            deployment("a1", "c1", hours=0, service="regional", target="eu"),
            deployment("b1", "c1", hours=0, service="single"),
        ]
    )
    (regional,) = rollouts("regional")
    (single,) = rollouts("single")
    # 'us' is configured but not reached yet; the single-target service has nothing to wait for.
    assert (regional.completed_at, regional.targets_active) == (None, 2)
    assert (single.completed_at, single.targets_active) == (when(0), 1)


def test_facts_pending_after_a_crash_are_derived_by_the_derive_command() -> None:
    from django.core.management import call_command
    from django.db import transaction

    from dora.intake import derive
    from dora.intake.events import _records_upsert
    from dora.intake.schema import event_validate
    from dora.models import DerivePending
    from tests.builders import T0

    events = [
        commit("c1", hours=0),
        commit("c2", ["c1"], hours=1),
        deployment("d1", "c1", hours=1),
        deployment("d2", "c2", hours=2),
    ]
    record(events)
    expected = facts_snapshot()
    Rollout.objects.all().delete()
    from dora.models import Commit, RawEvent

    Commit.objects.all().delete()
    Deployment.objects.all().delete()
    RawEvent.objects.all().delete()
    # The batch's transaction commits records and the pending mark; then the process dies.
    with transaction.atomic():
        _, touched = _records_upsert([event_validate(e) for e in events], now=T0)
        derive.touched_mark(touched)
    assert not Rollout.objects.exists()
    assert DerivePending.objects.count() == 1
    call_command("derive")
    assert facts_snapshot() == expected and not DerivePending.objects.exists()
    # --all re-derives every pair from its records, to the same facts.
    call_command("derive", "--all")
    assert facts_snapshot() == expected


def test_remediating_rollout_restores_the_incident_it_names_and_counts_as_rework() -> None:
    record(
        [
            deployment("d1", None, hours=0, version="v1"),
            deployment("d2", None, hours=10, version="v2"),
            incident("inc-4", hours=11, caused_by={"version": "v2"}),
            deployment("d3", None, hours=14, version="v3", remediates="inc-4"),
        ]
    )
    r1, r2, r3 = rollouts()
    # No mitigated_at: the remediation rollout going live is the restoration (METRICS §3.4).
    assert (r2.failure, r2.restored_at) == ("confirmed", when(14))
    assert r3.remediation and not r2.remediation and r3.failure == ""


def test_monorepo_sha_with_only_other_services_commits_is_a_redeploy() -> None:
    Service.objects.create(name="search", repos=["acme/mono"], paths=["services/search/**"])
    record(
        [
            commit("m0", hours=0, repo="acme/mono", files=["services/search/app.py"]),
            commit("m1", ["m0"], hours=1, repo="acme/mono", files=["services/recs/model.py"]),
            commit("m2", ["m1"], hours=2, repo="acme/mono", files=["services/search/q.py"]),
            deployment("s0", "m0", hours=3, service="search"),
            deployment("s1", "m1", hours=4, service="search"),
            deployment("s2", "m2", hours=5, service="search"),
        ]
    )
    assert [r.kind for r in rollouts("search")] == ["change", "redeploy", "change"]
    assert change_set(rollouts("search")[2]) == {sha("m2")}


def test_changing_a_service_globs_in_config_derives_its_change_sets_again(tmp_path) -> None:
    from django.core.management import call_command

    record(
        [
            commit("m0", hours=0, repo="acme/mono", files=["services/search/a.py"]),
            commit("m1", ["m0"], hours=1, repo="acme/mono", files=["services/recs/b.py"]),
            commit("m2", ["m1"], hours=2, repo="acme/mono", files=["services/search/c.py"]),
            deployment("s0", "m0", hours=3, service="search"),
            deployment("s2", "m2", hours=5, service="search"),
        ]
    )
    # No globs yet: everything since m0 belongs to search.
    assert change_set(rollouts("search")[1]) == {sha("m1"), sha("m2")}
    config = tmp_path / "dora.yml"
    config.write_text(
        "services:\n  - name: search\n    repos: [acme/mono]\n    paths: ['services/search/**']\n"
    )
    call_command("apply_config", str(config), stdout=io.StringIO())
    assert change_set(rollouts("search")[1]) == {sha("m2")}
