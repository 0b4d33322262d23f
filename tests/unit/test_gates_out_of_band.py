"""dora.gates: `no_out_of_band_changes` and the drift an out-of-band change makes (no_drift)."""

from __future__ import annotations

from datetime import UTC, datetime

from dora.gates import AutomationInstance, CheckSetting, OutOfBandChange, promotion_evaluate
from tests.unit.test_gates import check, facts, policy

CONSOLE = OutOfBandChange(
    service="shop",
    environment="production",
    target="p-a",
    changed_at=datetime(2026, 3, 9, 14, 5, tzinfo=UTC),
    actor="arn:aws:iam::111122223333:user/alice",
    what="AuthorizeSecurityGroupIngress",
    source="cloudtrail:prod",
)
STACK = OutOfBandChange(
    service="network",
    environment="production",
    infra=True,
    changed_at=datetime(2026, 3, 8, 9, 0, tzinfo=UTC),
    actor="bob",
    what="DeleteRoute",
)


def test_no_out_of_band_changes_passes_when_none_is_open() -> None:
    result = check(facts(), "no_out_of_band_changes")

    assert result.passed
    assert result.severity == "warn"
    assert result.detail == (
        "no change made outside the pipeline in production since its last apply or deployment"
    )


def test_no_out_of_band_changes_names_each_change_who_what_when() -> None:
    result = check(facts(out_of_band=(STACK, CONSOLE)), "no_out_of_band_changes")

    assert not result.passed
    assert result.detail == (
        "2 changes made outside the pipeline in production since the last successful apply or "
        "deployment: DeleteRoute on network in production by bob at 2026-03-08T09:00Z; "
        "AuthorizeSecurityGroupIngress on shop in production/p-a by "
        "arn:aws:iam::111122223333:user/alice at 2026-03-09T14:05Z"
    )


def test_no_out_of_band_changes_warns_by_default_and_blocks_by_policy() -> None:
    open_change = facts(out_of_band=(CONSOLE,))

    warned = promotion_evaluate(open_change, policy())  # type: ignore[arg-type]
    blocked = promotion_evaluate(
        open_change,
        policy(no_out_of_band_changes=CheckSetting(mode="block")),  # type: ignore[arg-type]
    )

    assert warned.allowed
    assert not blocked.allowed
    failed = [c for c in blocked.checks if not c.passed]
    assert [(c.name, c.severity) for c in failed] == [
        ("no_drift", "warn"),
        ("no_out_of_band_changes", "block"),
    ]


def test_no_out_of_band_changes_ignores_other_environments_and_other_apps() -> None:
    elsewhere = OutOfBandChange(
        service="shop", environment="staging", changed_at=CONSOLE.changed_at, actor="a", what="x"
    )
    other_app = OutOfBandChange(
        service="cart", environment="production", changed_at=CONSOLE.changed_at, actor="a", what="y"
    )

    assert check(facts(out_of_band=(elsewhere, other_app)), "no_out_of_band_changes").passed
    assert check(facts(out_of_band=(elsewhere, other_app)), "no_drift").passed


def test_an_open_out_of_band_change_drifts_even_without_a_drift_check() -> None:
    result = check(facts(out_of_band=(CONSOLE,)), "no_drift")

    assert not result.passed
    assert result.detail == (
        "drift detected: AuthorizeSecurityGroupIngress on shop in production/p-a by "
        "arn:aws:iam::111122223333:user/alice at 2026-03-09T14:05Z (changed outside the pipeline)"
    )


def test_drift_check_and_out_of_band_change_are_both_named() -> None:
    checked = AutomationInstance(
        service="network",
        environment="production",
        infra=True,
        drift_checked_at=datetime(2026, 3, 9, 6, 0, tzinfo=UTC),
        drift_detected=True,
    )

    result = check(facts(automation=(checked,), out_of_band=(STACK,)), "no_drift")

    assert result.detail == (
        "drift detected: infra stack network in production (checked 2026-03-09T06:00Z), "
        "DeleteRoute on network in production by bob at 2026-03-08T09:00Z "
        "(changed outside the pipeline)"
    )
