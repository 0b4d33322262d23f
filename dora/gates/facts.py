"""The snapshot of facts one promotion is judged on (read by dora.reads.promotion)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dora.gates.words import _when

# Targets a rollout must reach, as derivation counts them: the environment's configured targets
# when the service deploys to any; otherwise those with a success within the environment's
# `target_idle_after` (this when it names none; METRICS §2, dora.intake.derive).
DEFAULT_TARGET_IDLE_AFTER = timedelta(days=90)


# ---------------------------------------------------------------------------------------------
# Facts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetDeployment:
    """A successful deployment of the service to one target of an environment."""

    target: str
    finished_at: datetime
    version: str = ""
    sha: str = ""

    @property
    def label(self) -> str:
        return self.version or self.sha[:12] or "(unlabelled)"

    def is_version(self, wanted: str) -> bool:
        return bool(wanted) and (wanted == self.version or wanted.lower() == self.sha.lower())


@dataclass(frozen=True)
class EnvironmentFacts:
    """One environment as the gate sees it for one service.

    deployments: successful deployments, oldest first; for each target at least its latest one,
      and every deployment since the first of the requested version (the selector bounds it).
    configured_targets: the environment's configured target names.
    idle_after: the environment's `target_idle_after`: a target the service has not deployed to
      successfully for this long is not one of its active targets (unless targets are configured).
    """

    name: str
    deployments: tuple[TargetDeployment, ...] = ()
    configured_targets: frozenset[str] = frozenset()
    idle_after: timedelta = DEFAULT_TARGET_IDLE_AFTER

    def latest(self) -> dict[str, TargetDeployment]:
        """Each target's live (latest successful) deployment."""
        live: dict[str, TargetDeployment] = {}
        for deployment in self.deployments:
            live[deployment.target] = deployment
        return live

    def active_targets(self, now: datetime) -> list[str]:
        """Targets a rollout must reach, sorted (derivation's rule, dora.intake.derive)."""
        live = self.latest()
        if self.configured_targets & set(live):
            return sorted(self.configured_targets)
        return sorted(t for t, d in live.items() if d.finished_at > now - self.idle_after)


@dataclass(frozen=True)
class RolloutFailure:
    """A rollout of the version in the source environment marked failed by derivation."""

    status: str  # confirmed | inferred
    causes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AutomationInstance:
    """One automation process instance: a service's (or infra stack's) runs in an environment
    on one target ('' when the runs name none)."""

    service: str
    environment: str
    target: str = ""
    infra: bool = False
    last_success_at: datetime | None = None  # latest successful run that resets the lag
    last_success_action: str = ""
    version: str = ""  # the version the latest successful run applied, when runs carry one
    drift_checked_at: datetime | None = None  # the newest run that reported drift either way
    drift_detected: bool | None = None

    @property
    def name(self) -> str:
        what = "infra stack" if self.infra else "service"
        where = f"{self.environment}/{self.target}" if self.target else self.environment
        return f"{what} {self.service} in {where}"


@dataclass(frozen=True)
class OutOfBandChange:
    """A change made outside the pipeline and not undone since: no successful apply or
    deployment of its service in its environment (and target) after it (dora.out_of_band)."""

    service: str
    environment: str
    changed_at: datetime
    actor: str
    what: str
    target: str = ""  # '' when it names none: the whole environment
    infra: bool = False
    source: str = ""
    id: str = ""

    @property
    def described(self) -> str:
        where = f"{self.environment}/{self.target}" if self.target else self.environment
        return (
            f"{self.what} on {self.service} in {where} by {self.actor} at {_when(self.changed_at)}"
        )


@dataclass(frozen=True)
class OpenIncident:
    id: str
    severity: str
    environment: str = ""  # '' when the incident names none
    opened_at: datetime | None = None
    title: str = ""


@dataclass(frozen=True)
class UnderivedFacts:
    """A (service, environment) whose stored events derivation could not turn into facts."""

    environment: str
    error: str
    failed_at: datetime | None = None


@dataclass(frozen=True)
class PromotionFacts:
    """What the gate knows at `now` about promoting `version` of `service` from → to."""

    service: str
    version: str
    source: EnvironmentFacts
    destination: EnvironmentFacts
    now: datetime
    failures: tuple[RolloutFailure, ...] = ()  # the version's rollouts in `source` marked failed
    automation: tuple[AutomationInstance, ...] = ()  # in `source` and `destination`
    incidents: tuple[OpenIncident, ...] = ()  # unresolved, on the service, in from/to/none
    underived: tuple[UnderivedFacts, ...] = ()  # in from/to: derivation failed there
    # The infra stacks the service depends on, transitively (its `depends_on`): what
    # source_fresh and infra_parity judge besides its own pipeline, unless `stacks: all`.
    stacks: frozenset[str] = frozenset()
    # Open out-of-band changes in `source` and `destination`, oldest first (added).
    out_of_band: tuple[OutOfBandChange, ...] = ()
