"""dora.gates: each check of CONTRACT §5, passing and failing, with its detail; policies."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dora.gates import (
    AutomationInstance,
    CheckSetting,
    EnvironmentFacts,
    OpenIncident,
    PolicyRule,
    PromotionFacts,
    RolloutFailure,
    TargetDeployment,
    UnderivedFacts,
    policy_resolve,
    promotion_evaluate,
    severity_rank,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


def dep(target: str, when: datetime, version: str, sha: str = "") -> TargetDeployment:
    return TargetDeployment(target=target, finished_at=when, version=version, sha=sha)


def staging(*deployments: TargetDeployment, configured: tuple[str, ...] = ()) -> EnvironmentFacts:
    return EnvironmentFacts(
        name="staging",
        deployments=tuple(sorted(deployments, key=lambda d: d.finished_at)),
        configured_targets=frozenset(configured),
    )


def production(*deployments: TargetDeployment) -> EnvironmentFacts:
    return EnvironmentFacts(
        name="production", deployments=tuple(sorted(deployments, key=lambda d: d.finished_at))
    )


# v1.4.2 live on all three staging targets since 2026-03-05T10:00Z; production runs v1.4.1.
GOOD_STAGING = (
    dep("s-a", datetime(2026, 3, 5, 9, 0, tzinfo=UTC), "v1.4.2"),
    dep("s-b", datetime(2026, 3, 5, 9, 30, tzinfo=UTC), "v1.4.2"),
    dep("s-c", datetime(2026, 3, 5, 10, 0, tzinfo=UTC), "v1.4.2"),
)
GOOD_PRODUCTION = (
    dep("p-a", datetime(2026, 3, 1, 9, 0, tzinfo=UTC), "v1.4.1"),
    dep("p-b", datetime(2026, 3, 1, 9, 5, tzinfo=UTC), "v1.4.1"),
)


def facts(**overrides: object) -> PromotionFacts:
    values: dict[str, object] = {
        "service": "shop",
        "version": "v1.4.2",
        "source": staging(*GOOD_STAGING),
        "destination": production(*GOOD_PRODUCTION),
        "now": NOW,
    }
    values.update(overrides)
    return PromotionFacts(**values)  # type: ignore[arg-type]


def policy(**settings: CheckSetting) -> object:
    return policy_resolve(
        [PolicyRule(checks=settings)] if settings else [],
        service="shop",
        from_env="staging",
        to_env="production",
        source_stale_after=timedelta(days=7),
    )


def check(result_facts: PromotionFacts, name: str, **settings: CheckSetting):
    decision = promotion_evaluate(result_facts, policy(**settings))  # type: ignore[arg-type]
    return next(c for c in decision.checks if c.name == name)


# --------------------------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------------------------


def test_gate_allows_a_verified_current_soaked_version_with_all_checks_in_order() -> None:
    decision = promotion_evaluate(facts(), policy())  # type: ignore[arg-type]

    assert decision.allowed
    assert [c.name for c in decision.checks] == [
        "version_verified_in_source",
        "source_current",
        "soak_time",
        "source_fresh",
        "no_open_incidents",
        "target_rollout_complete",
        "infra_parity",
        "no_drift",
        "facts_derived",
        "no_out_of_band_changes",
    ]
    assert all(c.passed for c in decision.checks)
    assert [c.severity for c in decision.checks] == ["block"] * 5 + ["warn"] * 3 + ["block", "warn"]


def test_gate_warn_failures_never_block() -> None:
    mid_rollout = production(
        dep("p-a", NOW - 2 * H, "v1.4.2"), dep("p-b", datetime(2026, 3, 1, tzinfo=UTC), "v1.4.1")
    )

    decision = promotion_evaluate(facts(destination=mid_rollout), policy())  # type: ignore[arg-type]

    assert decision.allowed
    assert [c.name for c in decision.warnings] == ["target_rollout_complete"]
    assert decision.blocking == ()


def test_gate_off_checks_are_not_run_and_block_mode_makes_a_warning_block() -> None:
    mid_rollout = production(
        dep("p-a", NOW - 2 * H, "v1.4.2"), dep("p-b", datetime(2026, 3, 1, tzinfo=UTC), "v1.4.1")
    )
    chosen = policy(
        target_rollout_complete=CheckSetting(mode="block"), no_drift=CheckSetting(mode="off")
    )

    decision = promotion_evaluate(facts(destination=mid_rollout), chosen)  # type: ignore[arg-type]

    assert not decision.allowed
    assert [c.name for c in decision.blocking] == ["target_rollout_complete"]
    assert "no_drift" not in [c.name for c in decision.checks]


# --------------------------------------------------------------------------------------------
# version_verified_in_source
# --------------------------------------------------------------------------------------------


def test_version_verified_passes_with_every_target_and_names_when() -> None:
    result = check(facts(), "version_verified_in_source")

    assert result.passed
    assert result.detail == "live in staging on 3/3 targets since 2026-03-05T10:00Z"


def test_version_verified_fails_on_two_of_three_targets() -> None:
    partial = staging(*GOOD_STAGING[:2], dep("s-c", NOW - 3 * D, "v1.4.1"))

    result = check(facts(source=partial), "version_verified_in_source")

    assert not result.passed
    assert result.detail == "v1.4.2 reached 2/3 staging targets; missing s-c"


def test_version_verified_counts_configured_targets_never_deployed() -> None:
    source = staging(*GOOD_STAGING, configured=("s-a", "s-b", "s-c", "s-d"))

    result = check(facts(source=source), "version_verified_in_source")

    assert not result.passed
    assert result.detail == "v1.4.2 reached 3/4 staging targets; missing s-d"


def test_version_verified_ignores_targets_idle_for_longer_than_target_idle_after() -> None:
    # 91 days idle: past the default 90 (METRICS §2); 31 days idle: still one of the targets.
    retired = staging(*GOOD_STAGING, dep("s-old", NOW - 91 * D, "v0.9.0"))
    idle = staging(*GOOD_STAGING, dep("s-old", NOW - 31 * D, "v0.9.0"))
    thirty = replace(idle, idle_after=30 * D)

    assert check(facts(source=retired), "version_verified_in_source").passed
    result = check(facts(source=idle), "version_verified_in_source")
    assert result.detail == "v1.4.2 reached 3/4 staging targets; missing s-old"
    assert check(facts(source=thirty), "version_verified_in_source").passed


def test_version_verified_fails_for_a_version_never_deployed_to_source() -> None:
    result = check(facts(version="v9.9.9"), "version_verified_in_source")

    assert not result.passed
    assert result.detail == "v9.9.9 was never deployed successfully to staging"


def test_version_verified_fails_when_the_rollout_was_marked_failed() -> None:
    failed = (RolloutFailure(status="confirmed", causes=("rollback",)),)

    result = check(facts(failures=failed), "version_verified_in_source")

    assert not result.passed
    assert result.detail == "v1.4.2's rollout in staging was marked failed, confirmed (rollback)"


def test_version_verified_matches_a_full_sha_case_insensitively() -> None:
    sha = "8f2c1e0" + "a" * 33
    source = staging(*(dep(d.target, d.finished_at, "", sha) for d in GOOD_STAGING))

    result = check(facts(source=source, version=sha.upper()), "version_verified_in_source")

    assert result.passed


# --------------------------------------------------------------------------------------------
# source_current
# --------------------------------------------------------------------------------------------


def test_source_current_passes_while_source_still_runs_the_version() -> None:
    result = check(facts(), "source_current")

    assert result.passed
    assert result.detail == "staging still runs v1.4.2 on 3/3 targets"


def test_source_current_fails_when_staging_moved_on_to_a_newer_version() -> None:
    moved = staging(*GOOD_STAGING, dep("s-a", NOW - 2 * H, "v1.4.3"))

    result = check(facts(source=moved), "source_current")

    assert not result.passed
    assert result.detail == (
        "staging moved on from v1.4.2: v1.4.3 deployed to s-a (latest 2026-03-10T10:00Z)"
    )


def test_source_current_passes_after_a_redeploy_back_to_the_version() -> None:
    back = staging(
        *GOOD_STAGING, dep("s-a", NOW - 3 * H, "v1.4.3"), dep("s-a", NOW - 2 * H, "v1.4.2")
    )

    assert check(facts(source=back), "source_current").passed


# --------------------------------------------------------------------------------------------
# soak_time
# --------------------------------------------------------------------------------------------


def test_soak_time_passes_after_min_soak_on_every_target() -> None:
    result = check(facts(), "soak_time")

    assert result.passed
    assert result.detail == "v1.4.2 live in staging for 5d 2h (since 2026-03-05T10:00Z), min 30m"


def test_soak_time_fails_until_the_last_target_has_soaked() -> None:
    fresh = staging(*GOOD_STAGING[:2], dep("s-c", NOW - 12 * timedelta(minutes=1), "v1.4.2"))

    result = check(facts(source=fresh), "soak_time")

    assert not result.passed
    assert result.detail == "v1.4.2 live in staging for 12m (since 2026-03-10T11:48Z); needs 30m"


def test_soak_time_restarts_when_the_version_is_deployed_again_after_another() -> None:
    again = staging(
        *GOOD_STAGING, dep("s-b", NOW - 3 * H, "v1.4.3"), dep("s-b", NOW - 1 * H, "v1.4.2")
    )

    result = check(facts(source=again), "soak_time", soak_time=CheckSetting(min_soak=2 * H))

    assert not result.passed
    assert result.detail == "v1.4.2 live in staging for 1h (since 2026-03-10T11:00Z); needs 2h"


def test_soak_time_fails_when_the_version_is_not_live() -> None:
    result = check(facts(version="v1.4.0"), "soak_time")

    assert not result.passed
    assert result.detail == "v1.4.0 is not live in staging"


# --------------------------------------------------------------------------------------------
# source_fresh
# --------------------------------------------------------------------------------------------


def stack(
    env: str, last: datetime | None, *, service: str = "network", target: str = "", **kw: object
) -> AutomationInstance:
    return AutomationInstance(
        service=service,
        environment=env,
        target=target,
        infra=kw.pop("infra", True),  # type: ignore[arg-type]
        last_success_at=last,
        last_success_action=kw.pop("action", "apply"),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


STACKS = frozenset({"network", "k8s"})  # shop's depends_on, transitively
JUDGED = (
    "judged shop's deploy pipeline in staging (3 instances) and infra stacks k8s, network "
    "(depends_on)"
)


def test_source_fresh_blocks_on_a_stack_not_applied_for_9_days_naming_it_and_its_age() -> None:
    runs = (stack("staging", NOW - 9 * D), stack("staging", NOW - D, service="k8s"))

    result = check(facts(automation=runs, stacks=STACKS), "source_fresh")

    assert not result.passed
    assert result.detail == (
        "stale after 7d: infra stack network in staging: last successful apply 9d ago "
        f"(2026-03-01T12:00Z); {JUDGED}"
    )


def test_source_fresh_passes_when_every_instance_ran_recently() -> None:
    runs = (
        stack("staging", NOW - 2 * D - 4 * H, target="s-a"),
        stack("staging", NOW - 3 * H, service="shop", infra=False, action="deploy"),
        stack("production", NOW - 30 * D),  # another environment: not the source's freshness
    )

    result = check(facts(automation=runs, stacks=STACKS), "source_fresh")

    # shop's pipeline: its runs naming no target (3 h ago) and its deployments on s-a, s-b, s-c
    # (2026-03-05 09:00, 09:30, 10:00: 5d 3h, 5d 2h 30m, 5d 2h ago); network on s-a 2d 4h ago.
    assert result.passed
    assert result.detail == (
        "5 automation instances in staging ran within 7d (oldest 5d 3h ago: service shop in "
        "staging/s-a); judged shop's deploy pipeline in staging (4 instances) and infra stacks "
        "k8s (no runs in staging), network (depends_on)"
    )


def test_source_fresh_ignores_other_services_pipelines_and_honours_stale_after() -> None:
    runs = (
        stack("staging", NOW - 20 * D, service="billing", infra=False),
        stack("staging", NOW - 9 * D),
    )

    result = check(
        facts(automation=runs, stacks=STACKS),
        "source_fresh",
        source_fresh=CheckSetting(stale_after=10 * D),
    )

    assert result.passed


def test_source_fresh_counts_an_instance_that_never_succeeded_as_stale() -> None:
    result = check(facts(automation=(stack("staging", None),), stacks=STACKS), "source_fresh")

    assert not result.passed
    assert result.detail == (
        "stale after 7d: infra stack network in staging: never ran successfully; judged shop's "
        "deploy pipeline in staging (3 instances) and infra stacks k8s (no runs in staging), "
        "network (depends_on)"
    )


def test_source_fresh_judges_only_the_stacks_the_service_depends_on() -> None:
    # network was not applied for 9 days; shop depends on k8s only, so network is not judged.
    runs = (stack("staging", NOW - 9 * D), stack("staging", NOW - D, service="k8s"))

    result = check(facts(automation=runs, stacks=frozenset({"k8s"})), "source_fresh")

    assert result.passed
    assert result.detail == (
        "4 automation instances in staging ran within 7d (oldest 5d 3h ago: service shop in "
        "staging/s-a); judged shop's deploy pipeline in staging (3 instances) and infra stack k8s "
        "(depends_on)"
    )


def test_source_fresh_with_stacks_all_judges_every_stack_of_the_environment() -> None:
    runs = (stack("staging", NOW - 9 * D), stack("staging", NOW - D, service="k8s"))

    result = check(
        facts(automation=runs, stacks=frozenset({"k8s"})),
        "source_fresh",
        source_fresh=CheckSetting(stacks="all"),
    )

    assert not result.passed
    assert result.detail == (
        "stale after 7d: infra stack network in staging: last successful apply 9d ago "
        "(2026-03-01T12:00Z); judged shop's deploy pipeline in staging (3 instances) and every "
        "infra stack of staging (stacks: all): k8s, network"
    )


def test_source_fresh_blocks_on_a_deploy_pipeline_nobody_ran_for_9_days() -> None:
    # Nothing but deployments: s-a and s-b got v1.4.2 9 days ago, s-c 8 days ago.
    old = staging(
        dep("s-a", NOW - 9 * D, "v1.4.2"),
        dep("s-b", NOW - 9 * D + H, "v1.4.2"),
        dep("s-c", NOW - 8 * D, "v1.4.2"),
    )

    result = check(facts(source=old), "source_fresh")

    assert not result.passed
    assert result.detail == (
        "stale after 7d: service shop in staging/s-a: last successful deployment 9d ago "
        "(2026-03-01T12:00Z), service shop in staging/s-b: last successful deployment 8d 23h "
        "ago (2026-03-01T13:00Z), service shop in staging/s-c: last successful deployment 8d ago "
        "(2026-03-02T12:00Z); judged shop's deploy pipeline in staging (3 instances) and no infra "
        "stack (shop declares no depends_on)"
    )


def test_source_fresh_takes_the_later_of_a_pipeline_run_and_a_deployment() -> None:
    # A deploy pipeline run on s-a a day ago resets that target's lag; s-b and s-c were
    # deployed 9 days ago and are stale.
    old = staging(*(dep(t, NOW - 9 * D, "v1.4.2") for t in ("s-a", "s-b", "s-c")))
    runs = (stack("staging", NOW - D, service="shop", infra=False, target="s-a", action="deploy"),)

    result = check(facts(source=old, automation=runs), "source_fresh")

    assert not result.passed
    assert result.detail.startswith(
        "stale after 7d: service shop in staging/s-b: last successful deployment 9d ago "
        "(2026-03-01T12:00Z), service shop in staging/s-c: last successful deployment 9d ago "
        "(2026-03-01T12:00Z); judged"
    )


# --------------------------------------------------------------------------------------------
# no_open_incidents
# --------------------------------------------------------------------------------------------


def incident(ident: str, severity: str, env: str = "production") -> OpenIncident:
    return OpenIncident(id=ident, severity=severity, environment=env, opened_at=NOW - 2 * H)


def test_no_open_incidents_blocks_on_an_open_sev1_in_production() -> None:
    result = check(facts(incidents=(incident("INC-7", "sev1"),)), "no_open_incidents")

    assert not result.passed
    assert result.detail == (
        "open incident at or above sev2 on shop: INC-7 (sev1, production, opened 2026-03-10T10:00Z)"
    )


def test_no_open_incidents_passes_below_the_threshold_and_counts_them() -> None:
    low = (incident("INC-8", "sev3"), incident("INC-9", "P4", env="staging"))

    result = check(facts(incidents=low), "no_open_incidents")

    assert result.passed
    assert result.detail == "2 open incidents on shop, all below sev2"


def test_no_open_incidents_threshold_is_configurable_and_unknown_severity_blocks() -> None:
    sev2 = (incident("INC-8", "SEV-2"),)
    assert check(
        facts(incidents=sev2), "no_open_incidents", no_open_incidents=CheckSetting(severity="sev1")
    ).passed

    odd = check(facts(incidents=(incident("INC-10", "purple"),)), "no_open_incidents")
    assert not odd.passed


def test_no_open_incidents_passes_with_none_open() -> None:
    result = check(facts(), "no_open_incidents")

    assert result.passed
    assert result.detail == "no open incident on shop in staging or production"


@pytest.mark.parametrize(
    ("text", "rank"),
    [("sev1", 1), ("SEV-2", 2), ("S3", 3), ("P1", 1), ("4", 4), ("critical", 1), ("low", 4)],
)
def test_severity_rank_reads_common_spellings(text: str, rank: int) -> None:
    assert severity_rank(text) == rank


def test_severity_rank_unknown_is_none() -> None:
    assert severity_rank("urgent-ish") is None


# --------------------------------------------------------------------------------------------
# target_rollout_complete
# --------------------------------------------------------------------------------------------


def test_target_rollout_complete_warns_when_production_is_mid_rollout() -> None:
    mid = production(
        dep("p-a", NOW - 2 * H, "v1.4.1"),
        dep("p-b", NOW - H, "v1.4.2"),
        dep("p-c", NOW - 2 * H, "v1.4.1"),
    )

    result = check(facts(destination=mid), "target_rollout_complete")

    assert not result.passed
    assert result.severity == "warn"
    assert result.detail == (
        "production is mid-rollout: 2 versions across 3 targets (v1.4.1 on p-a, p-c; v1.4.2 on p-b)"
    )


def test_target_rollout_complete_passes_on_one_version_or_within_max_spread() -> None:
    result = check(facts(), "target_rollout_complete")
    assert result.passed
    assert result.detail == "production runs v1.4.1 on 2/2 targets"

    mid = production(dep("p-a", NOW - 2 * H, "v1.4.1"), dep("p-b", NOW - H, "v1.4.2"))
    assert check(
        facts(destination=mid),
        "target_rollout_complete",
        target_rollout_complete=CheckSetting(max_spread=2),
    ).passed


def test_target_rollout_complete_passes_when_nothing_is_live_yet() -> None:
    result = check(facts(destination=production()), "target_rollout_complete")

    assert result.passed
    assert result.detail == "shop has no live version in production yet"


# --------------------------------------------------------------------------------------------
# infra_parity
# --------------------------------------------------------------------------------------------


def test_infra_parity_warns_when_stack_versions_differ() -> None:
    runs = (
        stack("staging", NOW - D, version="1.9.0"),
        stack("production", NOW - D, version="1.8.2"),
        stack("staging", NOW - D, service="k8s", version="3.1"),
        stack("production", NOW - D, service="k8s", version="3.1"),
    )

    result = check(facts(automation=runs, stacks=STACKS), "infra_parity")

    assert not result.passed
    assert result.detail == (
        "infra versions differ: network staging 1.9.0, production 1.8.2; judged infra stacks "
        "k8s, network (depends_on)"
    )
    # Not depending on network, shop does not see it differ; with stacks: all it does.
    assert check(facts(automation=runs, stacks=frozenset({"k8s"})), "infra_parity").passed
    everything = check(
        facts(automation=runs), "infra_parity", infra_parity=CheckSetting(stacks="all")
    )
    assert not everything.passed
    assert everything.detail.startswith("infra versions differ: network staging 1.9.0, ")


def test_infra_parity_passes_on_equal_versions_and_ignores_one_sided_stacks() -> None:
    runs = (
        stack("staging", NOW - D, service="k8s", version="3.1", target="s-a"),
        stack("production", NOW - D, service="k8s", version="3.1", target="p-a"),
        stack("staging", NOW - D, service="dns", version="0.2"),
    )

    result = check(facts(automation=runs, stacks=frozenset({"k8s", "dns"})), "infra_parity")

    assert result.passed
    assert result.detail == (
        "1 infra stack on the same versions in staging and production; judged infra stacks "
        "dns, k8s (depends_on)"
    )


def test_infra_parity_passes_with_no_shared_stack() -> None:
    result = check(facts(), "infra_parity")

    assert result.passed
    assert result.detail == (
        "no infra stack with a known version in both staging and production; judged no infra "
        "stack (shop declares no depends_on)"
    )


# --------------------------------------------------------------------------------------------
# no_drift
# --------------------------------------------------------------------------------------------


def test_no_drift_warns_when_the_newest_check_found_drift() -> None:
    runs = (
        stack(
            "production",
            NOW - D,
            target="p-a",
            drift_checked_at=NOW - 3 * H,
            drift_detected=True,
        ),
        stack("production", NOW - D, target="p-b", drift_checked_at=NOW - H, drift_detected=False),
    )

    result = check(facts(automation=runs), "no_drift")

    assert not result.passed
    assert result.detail == (
        "drift detected: infra stack network in production/p-a (checked 2026-03-10T09:00Z)"
    )


def test_no_drift_passes_when_checks_found_none_or_none_ran() -> None:
    runs = (
        stack("production", NOW - D, drift_checked_at=NOW - H, drift_detected=False),
        stack("staging", NOW - D, drift_checked_at=NOW - H, drift_detected=True),  # not `to`
    )
    result = check(facts(automation=runs), "no_drift")
    assert result.passed
    assert result.detail == "no drift in 1 instance of production (newest check 2026-03-10T11:00Z)"

    assert check(facts(), "no_drift").detail == "no drift check recorded in production"


# facts_derived


def test_facts_derived_blocks_when_derivation_failed_in_either_environment() -> None:
    underived = (
        UnderivedFacts(
            environment="staging",
            error="OverflowError: date value out of range",
            failed_at=NOW - 2 * H,
        ),
    )
    decision = promotion_evaluate(facts(underived=underived), policy())  # type: ignore[arg-type]
    result = next(c for c in decision.checks if c.name == "facts_derived")

    assert not decision.allowed
    assert (result.passed, result.severity) == (False, "block")
    assert "could not be derived in staging" in result.detail
    assert "OverflowError: date value out of range" in result.detail
    assert "derive --retry-failed" in result.detail


def test_facts_derived_passes_when_every_event_is_derived() -> None:
    result = check(facts(), "facts_derived")
    assert result.passed
    assert result.detail == "facts derived from every stored event in staging and production"


# --------------------------------------------------------------------------------------------
# Policy resolution
# --------------------------------------------------------------------------------------------


def resolve(rules: list[PolicyRule], **kw: object):
    return policy_resolve(
        rules,
        service="shop",
        from_env="staging",
        to_env="production",
        source_stale_after=timedelta(days=5),
        **kw,  # type: ignore[arg-type]
    )


def test_policy_defaults_are_the_contracts() -> None:
    resolved = resolve([])

    assert {name: c.mode for name, c in resolved.checks.items()} == {
        "version_verified_in_source": "block",
        "source_current": "block",
        "soak_time": "block",
        "source_fresh": "block",
        "no_open_incidents": "block",
        "target_rollout_complete": "warn",
        "infra_parity": "warn",
        "no_drift": "warn",
        "facts_derived": "block",
        "no_out_of_band_changes": "warn",
    }
    assert resolved["soak_time"].min_soak == timedelta(minutes=30)
    assert resolved["source_fresh"].stale_after == timedelta(days=5)  # the environment's own
    assert resolved["no_open_incidents"].severity == "sev2"
    assert resolved["target_rollout_complete"].max_spread == 1


def test_policy_gates_defaults_override_the_environment_and_built_ins() -> None:
    resolved = resolve([], defaults=CheckSetting(stale_after=timedelta(days=3), severity="sev1"))

    assert resolved["source_fresh"].stale_after == timedelta(days=3)
    assert resolved["no_open_incidents"].severity == "sev1"


def test_policy_the_more_specific_rule_wins_and_rules_for_others_do_not_match() -> None:
    rules = [
        PolicyRule(service="shop", checks={"soak_time": CheckSetting(min_soak=2 * H)}, position=0),
        PolicyRule(
            from_env="staging",
            to_env="production",
            checks={
                "soak_time": CheckSetting(min_soak=H, mode="warn"),
                "infra_parity": CheckSetting(mode="block"),
            },
            position=1,
        ),
        PolicyRule(service="web", checks={"no_drift": CheckSetting(mode="off")}, position=2),
    ]

    resolved = resolve(rules)

    # The rule naming the service beats the environment-pair rule for the field it sets;
    # the pair rule's other settings still apply.
    assert resolved["soak_time"].min_soak == 2 * H
    assert resolved["soak_time"].mode == "warn"
    assert resolved["infra_parity"].mode == "block"
    assert resolved["no_drift"].mode == "warn"
    assert [r.position for r in resolved.rules] == [1, 0]


def test_policy_later_rule_wins_between_equally_specific_rules() -> None:
    rules = [
        PolicyRule(from_env="staging", checks={"no_drift": CheckSetting(mode="off")}, position=0),
        PolicyRule(from_env="staging", checks={"no_drift": CheckSetting(mode="block")}, position=1),
    ]

    assert resolve(rules)["no_drift"].mode == "block"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (40, "40s"),
        (12 * 60, "12m"),
        (3 * 3600 + 5 * 60, "3h 5m"),
        (9 * 86400, "9d"),
        (9 * 86400 + 61, "9d"),  # the two largest units: 9d 0h, and a zero hour is not said
        (9 * 86400 + 2 * 3600 + 59 * 60, "9d 2h"),
    ],
)
def test_durations_are_written_with_their_two_largest_units(seconds: int, text: str) -> None:
    from dora.gates.words import _duration

    assert _duration(timedelta(seconds=seconds)) == text
