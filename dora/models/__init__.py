"""Records (what sources told us) and derived facts (what intake computed from them).

One module per family, their public names this package's (`from dora.models import Rollout`);
importing the package imports them all, so Django finds every model when the app loads:
`estate` (teams, services, environments, targets; the tiers and run statuses), `records` (one
row per normalized event), `derived` (facts dora.intake.derive computes from the records),
`access` (API tokens, organisation settings, digests sent), `gate` (figure targets, the
promotion gate's settings, rules and decisions, the facts generation) and `alerts`.
"""

from dora.models.access import (
    ApiToken,
    DigestSent,
    OrganisationSettings,
)
from dora.models.alerts import (
    AlertChannel,
    AlertDelivery,
    AlertState,
)
from dora.models.derived import (
    AutomationInstance,
    ChangeArrival,
    DerivePending,
    FailureLink,
    MissingCommit,
    Rollout,
    RolloutCommit,
    RolloutTarget,
)
from dora.models.estate import (
    TARGET_IDLE_AFTER,
    Environment,
    Service,
    Status,
    Target,
    Team,
    Tier,
    UnconfiguredService,
    UnconfiguredServiceManager,
)
from dora.models.gate import (
    DEFAULT_TARGET_WINDOW,
    FactsGeneration,
    FigureTarget,
    GateDecision,
    GateRule,
    GateSettings,
)
from dora.models.records import (
    AutomationRun,
    Change,
    ChangeCommit,
    Commit,
    Deployment,
    Incident,
    OutOfBandChange,
    PipelineRun,
    RawEvent,
)

__all__ = [
    "TARGET_IDLE_AFTER",
    "DEFAULT_TARGET_WINDOW",
    "Tier",
    "Status",
    "Team",
    "Service",
    "UnconfiguredServiceManager",
    "UnconfiguredService",
    "Environment",
    "Target",
    "RawEvent",
    "Commit",
    "Change",
    "ChangeCommit",
    "PipelineRun",
    "Deployment",
    "Incident",
    "AutomationRun",
    "OutOfBandChange",
    "Rollout",
    "RolloutCommit",
    "MissingCommit",
    "ChangeArrival",
    "RolloutTarget",
    "FailureLink",
    "AutomationInstance",
    "DerivePending",
    "ApiToken",
    "OrganisationSettings",
    "DigestSent",
    "FigureTarget",
    "GateSettings",
    "GateRule",
    "GateDecision",
    "FactsGeneration",
    "AlertChannel",
    "AlertState",
    "AlertDelivery",
]
