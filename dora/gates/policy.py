"""The gate's policy: its checks, modes and thresholds, resolved from defaults and rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

CHECKS: tuple[str, ...] = (
    "version_verified_in_source",
    "source_current",
    "soak_time",
    "source_fresh",
    "no_open_incidents",
    "target_rollout_complete",
    "infra_parity",
    "no_drift",
    "facts_derived",  # added: the facts above are derived from every event stored
    "no_out_of_band_changes",  # added: nothing changed by hand in `to` since its last apply
)
BLOCK, WARN, OFF = "block", "warn", "off"
MODES = (BLOCK, WARN, OFF)
DEFAULT_MODES: Mapping[str, str] = {
    "version_verified_in_source": BLOCK,
    "source_current": BLOCK,
    "soak_time": BLOCK,
    "source_fresh": BLOCK,
    "no_open_incidents": BLOCK,
    "target_rollout_complete": WARN,
    "infra_parity": WARN,
    "no_drift": WARN,
    "facts_derived": BLOCK,
    "no_out_of_band_changes": WARN,
}
# The thresholds each check reads besides its mode (CONTRACT §2 `gates:`; max_spread is added).
THRESHOLDS: Mapping[str, tuple[str, ...]] = {
    "version_verified_in_source": (),
    "source_current": (),
    "soak_time": ("min_soak",),
    "source_fresh": ("stale_after", "stacks"),
    "no_open_incidents": ("severity",),
    "target_rollout_complete": ("max_spread",),
    "infra_parity": ("stacks",),
    "no_drift": (),
    "facts_derived": (),
    "no_out_of_band_changes": (),
}
DEFAULT_MIN_SOAK = timedelta(minutes=30)
DEFAULT_STALE_AFTER = timedelta(days=7)
DEFAULT_SEVERITY = "sev2"
DEFAULT_MAX_SPREAD = 1
# Which infra stacks source_fresh and infra_parity judge: those the service depends on
# (`depends_on`, transitively), or every stack of the environment (a rule's `stacks: all`).
STACKS_DEPENDED_ON, STACKS_ALL = "depends_on", "all"
STACKS_CHOICES = (STACKS_DEPENDED_ON, STACKS_ALL)
NON_RESETTING_ACTIONS = frozenset({"plan"})  # METRICS §4.3: dry runs do not reset the lag


# ---------------------------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckSetting:
    """One check's override in a rule or the defaults; None keeps what comes before it."""

    mode: str | None = None
    min_soak: timedelta | None = None
    stale_after: timedelta | None = None
    severity: str | None = None
    max_spread: int | None = None
    stacks: str | None = None  # depends_on | all (source_fresh, infra_parity)


@dataclass(frozen=True)
class PolicyRule:
    """Settings for promotions matching service/from/to ('' matches all), in file order."""

    service: str = ""
    from_env: str = ""
    to_env: str = ""
    checks: Mapping[str, CheckSetting] = field(default_factory=dict)
    position: int = 0

    def matches(self, service: str, from_env: str, to_env: str) -> bool:
        return all(
            not want or want == have
            for want, have in (
                (self.service, service),
                (self.from_env, from_env),
                (self.to_env, to_env),
            )
        )

    @property
    def specificity(self) -> tuple[bool, bool, bool, int]:
        # A rule naming the service beats one that does not; then naming `from`, then `to`;
        # among equals the later one in the file wins.
        return (bool(self.service), bool(self.from_env), bool(self.to_env), self.position)


@dataclass(frozen=True)
class CheckPolicy:
    """A check's resolved mode and thresholds for one promotion."""

    name: str
    mode: str
    min_soak: timedelta = DEFAULT_MIN_SOAK
    stale_after: timedelta = DEFAULT_STALE_AFTER
    severity: str = DEFAULT_SEVERITY
    max_spread: int = DEFAULT_MAX_SPREAD
    stacks: str = STACKS_DEPENDED_ON


@dataclass(frozen=True)
class Policy:
    checks: Mapping[str, CheckPolicy]
    rules: tuple[PolicyRule, ...] = ()  # the rules that matched, least specific first

    def __getitem__(self, name: str) -> CheckPolicy:
        return self.checks[name]


def policy_resolve(
    rules: Iterable[PolicyRule],
    *,
    defaults: CheckSetting = CheckSetting(),
    service: str,
    from_env: str,
    to_env: str,
    source_stale_after: timedelta | None = None,
) -> Policy:
    """Each check's mode and thresholds for a promotion.

    Precedence, lowest first: built-in defaults (modes of CONTRACT §5; min_soak 30m, severity
    sev2, spread 1); the source environment's own `stale_after`; `gates.defaults`; then the
    matching rules, least specific first (see PolicyRule.specificity). A rule sets only what it
    names.
    """
    matched = tuple(
        sorted(
            (r for r in rules if r.matches(service, from_env, to_env)),
            key=lambda r: r.specificity,
        )
    )
    base = CheckSetting(
        min_soak=defaults.min_soak,
        stale_after=defaults.stale_after or source_stale_after,
        severity=defaults.severity,
        max_spread=defaults.max_spread,
    )
    resolved: dict[str, CheckPolicy] = {}
    for name in CHECKS:
        policy = _apply(CheckPolicy(name=name, mode=DEFAULT_MODES[name]), base)
        for rule in matched:
            if name in rule.checks:
                policy = _apply(policy, rule.checks[name])
        resolved[name] = policy
    return Policy(checks=resolved, rules=matched)


def _apply(policy: CheckPolicy, setting: CheckSetting) -> CheckPolicy:
    changes: dict[str, Any] = {
        key: value
        for key, value in (
            ("mode", setting.mode),
            ("min_soak", setting.min_soak),
            ("stale_after", setting.stale_after),
            ("severity", setting.severity),
            ("max_spread", setting.max_spread),
            ("stacks", setting.stacks),
        )
        if value is not None
    }
    return replace(policy, **changes) if changes else policy
