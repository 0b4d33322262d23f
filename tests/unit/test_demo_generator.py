"""The demo generator (dora.demo): deterministic, valid per CONTRACT §1, telling the stories."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from typing import Any

import pytest

from dora.demo import demo_config, demo_events

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

# CONTRACT §1, written out here independently of dora/intake/schema.py: type -> required fields.
# `deployment` needs `sha` or `version`, and `finished_at` unless it is `running` (checked below).
REQUIRED = {
    "commit": ("repo", "sha", "authored_at"),
    "change": ("repo", "number", "created_at"),
    "pipeline_run": ("repo", "sha", "status", "started_at"),
    "deployment": ("service", "environment", "status"),
    "incident": ("service", "opened_at"),
    "automation_run": ("service", "environment", "action", "status", "finished_at"),
    "out_of_band_change": ("service", "environment", "changed_at", "actor", "what"),
}
TIMESTAMPS = {
    "authored_at",
    "committed_at",
    "created_at",
    "ready_at",
    "first_review_at",
    "approved_at",
    "merged_at",
    "closed_at",
    "started_at",
    "finished_at",
    "opened_at",
    "impact_started_at",
    "mitigated_at",
    "resolved_at",
    "changed_at",
}
STATUSES = {"success", "failure", "cancelled", "running"}
REVERT = re.compile(r'\ARevert "(?P<subject>.+)"\n\nThis reverts commit (?P<sha>[0-9a-f]{40})\.\Z')


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return list(demo_events(now=NOW))


@pytest.fixture(scope="module")
def by_type(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        grouped[event["type"]].append(event)
    return grouped


def production_history(by_type: dict[str, list[dict[str, Any]]]) -> dict[tuple, list[dict]]:
    """Successful production deployments per (service, target), oldest first."""
    history: dict[tuple, list[dict]] = defaultdict(list)
    for d in by_type["deployment"]:
        if d["environment"] == "production" and d["status"] == "success":
            history[(d["service"], d.get("target", ""))].append(d)
    for deployments in history.values():
        deployments.sort(key=lambda d: ts(d["finished_at"]))
    return history


# -- determinism and shape ------------------------------------------------------------------------


def test_demo_events_same_arguments_give_identical_events() -> None:
    first = list(demo_events(now=NOW, weeks=4, seed=7))
    second = list(demo_events(now=NOW, weeks=4, seed=7))
    assert first == second


def test_demo_events_different_seed_gives_different_events() -> None:
    assert list(demo_events(now=NOW, weeks=4, seed=7)) != list(
        demo_events(now=NOW, weeks=4, seed=8)
    )


def test_demo_events_rejects_naive_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        list(demo_events(now=NOW.replace(tzinfo=None), weeks=1))


def test_demo_events_volume_suits_a_quick_seed(events: list[dict[str, Any]]) -> None:
    assert 5_000 <= len(events) <= 20_000
    short = list(demo_events(now=NOW, weeks=4))
    assert 300 <= len(short) < len(events) / 3


def test_demo_events_have_every_type(by_type: dict[str, list[dict[str, Any]]]) -> None:
    assert set(by_type) == set(REQUIRED)


# -- validity per CONTRACT §1 ---------------------------------------------------------------------


def test_demo_events_have_required_fields(events: list[dict[str, Any]]) -> None:
    for event in events:
        assert event["source"] == "demo"
        assert isinstance(event["id"], str) and event["id"]
        for name in REQUIRED[event["type"]]:
            assert event.get(name) not in (None, ""), (name, event)
        if event["type"] == "deployment":
            assert event.get("sha") or event.get("version"), event
            assert event["status"] == "running" or event.get("finished_at"), event


def test_demo_events_field_values_are_valid(events: list[dict[str, Any]]) -> None:
    for event in events:
        kind = event["type"]
        if "status" in event:
            assert event["status"] in STATUSES, event
        if kind == "commit":
            assert re.fullmatch(r"[0-9a-f]{40}", event["sha"])
            assert isinstance(event["parents"], list)
        elif kind == "change":
            assert isinstance(event["number"], int)
            assert all(isinstance(label, str) for label in event["labels"])
            assert isinstance(event["commits"], list)
        elif kind == "pipeline_run":
            for job in event["jobs"]:
                assert job["name"] and job["status"] in STATUSES and job["started_at"]
        elif kind == "deployment":
            assert event["trigger"] in ("automated", "manual")
            assert re.fullmatch(r"v\d+\.\d+\.\d+", event["version"]), event
        elif kind == "incident":
            assert event.get("severity") in ("sev1", "sev2", "sev3")
            assert event.get("cause", "change") in ("change", "external", "unknown")
            if "caused_by" in event:
                assert len(event["caused_by"]) == 1
                assert next(iter(event["caused_by"])) in ("deployment", "version", "sha", "change")
        elif kind == "automation_run":
            assert event["action"] in ("apply", "plan", "deploy", "test")
            assert event["trigger"] in ("schedule", "change", "manual")


def test_demo_events_timestamps_are_aware_utc_and_not_after_now(
    events: list[dict[str, Any]],
) -> None:
    def stamps(mapping: dict[str, Any]) -> list[str]:
        found = [v for k, v in mapping.items() if k in TIMESTAMPS]
        for job in mapping.get("jobs", ()):
            found += stamps(job)
        return found

    for event in events:
        for value in stamps(event):
            assert value.endswith("Z"), (value, event)
            moment = ts(value)
            assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
            assert moment <= NOW, event


def test_demo_events_are_in_time_order(events: list[dict[str, Any]]) -> None:
    def latest(event: dict[str, Any]) -> datetime:
        return max(ts(v) for k, v in event.items() if k in TIMESTAMPS)

    moments = [latest(e) for e in events]
    assert moments == sorted(moments)


def test_demo_events_ids_are_unique_per_source_and_type(events: list[dict[str, Any]]) -> None:
    keys = Counter((e["source"], e["type"], e["id"]) for e in events)
    assert keys.most_common(1)[0][1] == 1


def test_demo_events_durations_run_forwards(by_type: dict[str, list[dict[str, Any]]]) -> None:
    order = ("created_at", "ready_at", "first_review_at", "approved_at", "merged_at")
    for change in by_type["change"]:
        moments = [ts(change[name]) for name in order if name in change]
        assert moments == sorted(moments), change
    for kind in ("pipeline_run", "deployment", "automation_run"):
        for event in by_type[kind]:
            if "finished_at" in event:
                assert ts(event["started_at"]) <= ts(event["finished_at"]), event
    for incident in by_type["incident"]:
        moments = [
            ts(incident[n]) for n in ("opened_at", "mitigated_at", "resolved_at") if n in incident
        ]
        assert moments == sorted(moments), incident
        assert ts(incident["impact_started_at"]) <= ts(incident["opened_at"])


# -- the git graph ---------------------------------------------------------------------------------


def test_demo_commit_parents_are_yielded_first(events: list[dict[str, Any]]) -> None:
    seen: set[tuple[str, str]] = set()
    roots = Counter()
    for event in events:
        if event["type"] != "commit":
            continue
        for parent in event["parents"]:
            assert (event["repo"], parent) in seen, event
        if not event["parents"]:
            roots[event["repo"]] += 1
        seen.add((event["repo"], event["sha"]))
    assert set(roots.values()) == {1}  # one root commit per repository


def test_demo_changes_merge_onto_the_trunk(by_type: dict[str, list[dict[str, Any]]]) -> None:
    commits = {(c["repo"], c["sha"]): c for c in by_type["commit"]}
    merged = [c for c in by_type["change"] if "merged_at" in c]
    squashed = [c for c in merged if "squash_sha" in c]
    assert len(squashed) > 50 and len(merged) - len(squashed) > 50
    for change in merged:
        merge = commits[(change["repo"], change["merge_sha"])]
        assert merge["committed_at"] == change["merged_at"]
        assert change["commits"], change
        if "squash_sha" in change:
            assert change["squash_sha"] == change["merge_sha"]
            assert len(merge["parents"]) == 1
        else:
            assert merge["parents"][1] == change["commits"][-1]
        for sha in change["commits"]:  # the feature branch is a chain
            assert (change["repo"], sha) in commits
        for previous, sha in zip(change["commits"], change["commits"][1:], strict=False):
            assert commits[(change["repo"], sha)]["parents"] == [previous]
    # Some PRs are still open or were abandoned; some commits went straight to main.
    assert any("merged_at" not in c for c in by_type["change"])
    pr_shas = {(c["repo"], s) for c in by_type["change"] for s in c["commits"]}
    pr_shas |= {(c["repo"], c["merge_sha"]) for c in merged}
    direct = [c for c in by_type["commit"] if (c["repo"], c["sha"]) not in pr_shas and c["parents"]]
    assert direct


def test_demo_pull_request_numbers_follow_creation_order(
    by_type: dict[str, list[dict[str, Any]]],
) -> None:
    per_repo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for change in by_type["change"]:
        per_repo[change["repo"]].append(change)
    for changes in per_repo.values():
        changes.sort(key=lambda c: c["number"])
        assert [c["number"] for c in changes] == list(range(1, len(changes) + 1))
        created = [ts(c["created_at"]) for c in changes]
        assert created == sorted(created)


def test_demo_monorepo_commits_touch_exactly_one_service(
    by_type: dict[str, list[dict[str, Any]]],
) -> None:
    services = [s for s in demo_config()["services"] if s["repos"] == ["acme/mono"]]
    globs = {s["name"]: s["paths"] for s in services}
    touched = Counter()
    for commit in by_type["commit"]:
        if commit["repo"] != "acme/mono" or not commit["parents"]:
            continue  # the root commit (the imported history) has no file list
        assert commit["files"], commit
        owners = {
            name
            for path in commit["files"]
            for name, patterns in globs.items()
            if any(fnmatch(path, p) for p in patterns)
        }
        assert len(owners) == 1, commit
        for path in commit["files"]:
            assert sum(any(fnmatch(path, p) for p in pats) for pats in globs.values()) == 1
        touched[owners.pop()] += 1
    assert set(touched) == set(globs) and min(touched.values()) > 20


# -- the estate (dora/demo.yml) ----------------------------------------------------------------


def test_demo_config_describes_the_estate() -> None:
    config = demo_config()
    teams = {t["name"] for t in config["teams"]}
    assert len(teams) >= 3 and {"payments", "legacy-core"} <= teams
    services = config["services"]
    assert len(services) >= 10
    assert all(s["team"] in teams for s in services)
    assert sorted(s["name"] for s in services if s["kind"] == "infra") == [
        "k8s-platform",
        "network-stack",
    ]
    mono = {s["name"]: s["paths"] for s in services if s["repos"] == ["acme/mono"]}
    assert mono == {"search": ["services/search/**"], "recs": ["services/recs/**"]}
    environments = {e["name"]: e for e in config["environments"]}
    assert [environments[n]["order"] for n in ("development", "staging", "production")] == [1, 2, 3]
    assert environments["staging"]["stale_after"] == "7d"
    assert environments["production"]["stale_after"] == "7d"
    assert environments["production"]["targets"] == ["eu-west-1", "us-east-1", "ap-south-1"]


def test_demo_events_name_only_configured_services_and_environments(
    events: list[dict[str, Any]],
) -> None:
    config = demo_config()
    services = {s["name"] for s in config["services"]}
    repos = {r for s in config["services"] for r in s["repos"]}
    environments = {e["name"] for e in config["environments"]}
    for event in events:
        if "service" in event:
            assert event["service"] in services
        if "environment" in event:
            assert event["environment"] in environments
        if "repo" in event:
            assert event["repo"] in repos
        if "target" in event:
            assert event["target"] in ("eu-west-1", "us-east-1", "ap-south-1")


def test_demo_deployments_go_to_regions_or_one_target(
    by_type: dict[str, list[dict[str, Any]]],
) -> None:
    targets: dict[str, set[str]] = defaultdict(set)
    for d in by_type["deployment"]:
        if d["environment"] == "production":
            targets[d["service"]].add(d.get("target", ""))
    regional = {s for s, t in targets.items() if t == {"eu-west-1", "us-east-1", "ap-south-1"}}
    single = {s for s, t in targets.items() if t == {""}}
    assert len(regional) >= 3 and len(single) >= 3
    assert regional | single == set(targets)


def test_demo_deployments_reference_pipeline_runs(by_type: dict[str, list[dict[str, Any]]]) -> None:
    runs = {r["id"]: r for r in by_type["pipeline_run"]}
    referenced = [d for d in by_type["deployment"] if "pipeline_run" in d]
    assert len(referenced) > 500
    for d in referenced:
        run = runs[d["pipeline_run"]]
        assert run["sha"] == d["sha"] and run["repo"] == d["repo"]
    with_deploy_job = [r for r in runs.values() if any(j["name"] == "deploy" for j in r["jobs"])]
    assert with_deploy_job
    assert any(r["status"] == "failure" for r in runs.values())


# -- the stories --------------------------------------------------------------------------------


def test_demo_teams_differ_visibly(by_type: dict[str, list[dict[str, Any]]]) -> None:
    services = demo_config()["services"]
    team = {s["name"]: s["team"] for s in services}
    repo_team = {r: s["team"] for s in services for r in s["repos"]}
    versions: dict[str, set[tuple[str, str]]] = defaultdict(set)
    failed = Counter()
    for d in by_type["deployment"]:
        if d["environment"] == "production" and d["status"] == "success":
            versions[team[d["service"]]].add((d["service"], d["version"]))
        if d["status"] == "failure":
            failed[team[d["service"]]] += 1
    assert len(versions["payments"]) > 10 * len(versions["legacy-core"])
    assert len(versions["payments"]) > 2 * len(versions["discovery"])
    # several production rollouts a day on working days for the elite team's busiest service
    assert len(versions["payments"]) / 3 / (26 * 5) > 1.5

    def median_review_hours(name: str) -> float:
        spans = sorted(
            (ts(c["merged_at"]) - ts(c["created_at"])).total_seconds() / 3600
            for c in by_type["change"]
            if "merged_at" in c and repo_team[c["repo"]] == name
        )
        return spans[len(spans) // 2]

    assert median_review_hours("payments") < 8 < 5 * 24 < median_review_hours("legacy-core")


def test_demo_has_rollbacks(by_type: dict[str, list[dict[str, Any]]]) -> None:
    rollbacks = []
    for deployments in production_history(by_type).values():
        for i, d in enumerate(deployments[1:], start=1):
            earlier = {e["sha"] for e in deployments[: i - 1]}
            if d["sha"] != deployments[i - 1]["sha"] and d["sha"] in earlier:
                rollbacks.append(d)
    assert len(rollbacks) >= 3
    assert any(d["trigger"] == "manual" for d in rollbacks)


def test_demo_has_config_only_redeploys(by_type: dict[str, list[dict[str, Any]]]) -> None:
    found = [
        d
        for deployments in production_history(by_type).values()
        for previous, d in zip(deployments, deployments[1:], strict=False)
        if d["sha"] == previous["sha"] and d.get("config_version") != previous.get("config_version")
    ]
    assert found


def test_demo_has_hotfixes_shipped_within_a_day(by_type: dict[str, list[dict[str, Any]]]) -> None:
    first_live: dict[tuple[str, str], datetime] = {}
    for (service, _), deployments in production_history(by_type).items():
        for d in deployments:
            key = (service, d["sha"])
            first_live[key] = min(first_live.get(key, ts(d["finished_at"])), ts(d["finished_at"]))
    hotfixes = [c for c in by_type["change"] if "hotfix" in c["labels"] and "merge_sha" in c]
    assert hotfixes
    shipped = 0
    for change in hotfixes:
        live = [t for (s, sha), t in first_live.items() if sha == change["merge_sha"]]
        if not live:
            continue
        service = next(s for (s, sha) in first_live if sha == change["merge_sha"])
        before = [t for (s, _), t in first_live.items() if s == service and t < min(live)]
        assert min(live) - max(before) < timedelta(days=1), change
        shipped += 1
    assert shipped >= 2
    incidents = {i["id"] for i in by_type["incident"]}
    remediating = [d for d in by_type["deployment"] if "remediates" in d]
    assert remediating and all(d["remediates"] in incidents for d in remediating)


def test_demo_has_reverts(by_type: dict[str, list[dict[str, Any]]]) -> None:
    commits = {(c["repo"], c["sha"]): c for c in by_type["commit"]}
    reverts = [c for c in by_type["commit"] if c["message"].startswith("Revert")]
    assert reverts
    for revert in reverts:
        match = REVERT.match(revert["message"])
        assert match, revert["message"]
        reverted = commits[(revert["repo"], match["sha"])]
        assert reverted["message"].splitlines()[0] == match["subject"]


def test_demo_has_failed_deployments_that_never_went_live(
    by_type: dict[str, list[dict[str, Any]]],
) -> None:
    failed = [d for d in by_type["deployment"] if d["status"] == "failure"]
    assert any(d["environment"] == "production" for d in failed)
    assert any(d["environment"] == "staging" for d in failed)


def test_demo_incidents_link_explicitly_by_time_and_externally(
    by_type: dict[str, list[dict[str, Any]]],
) -> None:
    deployments = {d["id"]: d for d in by_type["deployment"]}
    versions = {(d["service"], d["version"]) for d in by_type["deployment"]}
    incidents = by_type["incident"]
    by_deployment = [i for i in incidents if "deployment" in i.get("caused_by", {})]
    by_version = [i for i in incidents if "version" in i.get("caused_by", {})]
    assert by_deployment and by_version
    for incident in by_deployment:
        deployment = deployments[incident["caused_by"]["deployment"]]
        assert deployment["service"] == incident["service"]
        assert ts(deployment["finished_at"]) <= ts(incident["opened_at"])
    for incident in by_version:
        assert (incident["service"], incident["caused_by"]["version"]) in versions
    assert any(i.get("cause") == "external" for i in incidents)
    assert any("resolved_at" not in i for i in incidents)
    assert {i["severity"] for i in incidents} == {"sev1", "sev2", "sev3"}
    # Unlinked incidents opened within hours of a production release: time-window inference.
    releases: dict[str, list[datetime]] = defaultdict(list)
    for (service, _), history in production_history(by_type).items():
        releases[service] += [ts(d["finished_at"]) for d in history]
    near = [
        i
        for i in incidents
        if "caused_by" not in i
        and i.get("cause") != "external"
        and any(
            timedelta(0) < ts(i["opened_at"]) - t < timedelta(hours=24)
            for t in releases[i["service"]]
        )
    ]
    assert len(near) >= 5


def test_demo_network_stack_staging_is_stale(by_type: dict[str, list[dict[str, Any]]]) -> None:
    runs = [
        r
        for r in by_type["automation_run"]
        if (r["service"], r["environment"]) == ("network-stack", "staging")
    ]
    newest_apply = max(ts(r["finished_at"]) for r in runs if r["action"] == "apply")
    assert newest_apply < NOW - timedelta(days=28)
    later_plans = [r for r in runs if r["action"] == "plan" and ts(r["finished_at"]) > newest_apply]
    assert later_plans and any(r.get("drift_detected") for r in later_plans)
    # Elsewhere the stacks are applied at least weekly.
    newest: dict[tuple, datetime] = {}
    for r in by_type["automation_run"]:
        if r["action"] == "apply" and r["status"] == "success":
            key = (r["service"], r["environment"], r.get("target", ""))
            newest[key] = max(newest.get(key, ts(r["finished_at"])), ts(r["finished_at"]))
    fresh = [k for k, t in newest.items() if NOW - t < timedelta(days=7)]
    assert len(fresh) >= 6


def test_demo_automation_runs_are_realistic(by_type: dict[str, list[dict[str, Any]]]) -> None:
    runs = by_type["automation_run"]
    assert Counter(r["action"] for r in runs).keys() == {"plan", "apply"}
    assert {r["trigger"] for r in runs} == {"schedule", "change", "manual"}
    assert any(r.get("drift_detected") for r in runs)
    assert any(r["status"] == "failure" for r in runs if r["action"] == "apply")
    instances = {(r["service"], r["environment"], r.get("target", "")) for r in runs}
    assert len(instances) == 10  # 2 stacks x (development, staging, 3 production regions)
    # Longer gaps since the instance's previous run fail more often.
    previous: dict[tuple, datetime] = {}
    short, long = [0, 0], [0, 0]
    for r in runs:
        key = (r["service"], r["environment"], r.get("target", ""))
        finished = ts(r["finished_at"])
        if key in previous and r["action"] == "apply":
            bucket = short if finished - previous[key] <= timedelta(days=1) else long
            bucket[0] += 1
            bucket[1] += r["status"] == "failure"
        previous[key] = finished
    assert long[0] >= 20
    assert long[1] / long[0] > 2 * short[1] / short[0]


def test_demo_events_short_window_keeps_the_stories() -> None:
    short = list(demo_events(now=NOW, weeks=4))
    start = NOW - timedelta(weeks=4)
    changes = [e for e in short if e["type"] == "change"]
    assert min(ts(c["created_at"]) for c in changes) >= start
    assert any("hotfix" in c["labels"] for c in changes)
    assert any(e["type"] == "commit" and e["message"].startswith("Revert ") for e in short)
    incidents = [e for e in short if e["type"] == "incident"]
    assert any(i.get("cause") == "external" for i in incidents)
    assert any("resolved_at" not in i for i in incidents)
    assert any("remediates" in e for e in short if e["type"] == "deployment")
