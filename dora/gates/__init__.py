"""Promotion gate: the checks of CONTRACT §5 over a snapshot of facts, pure.

`promotion_evaluate(facts, policy)` answers "may version V of service S go from `from` to `to`?"
with every check's name, passed, severity and a one-line detail naming its evidence. No Django,
no database: `dora.reads.promotion` reads the snapshot and stores the decision.

The package's modules: `policy` (checks, modes, thresholds, policy_resolve), `facts` (the
snapshot judged), `checks` (one function per check), `decision` (promotion_evaluate) and `words`
(how details write times and lists); their public names are this package's.
"""

from dora.gates.checks import (
    check_facts_derived,
    check_infra_parity,
    check_no_drift,
    check_no_open_incidents,
    check_no_out_of_band_changes,
    check_soak_time,
    check_source_current,
    check_source_fresh,
    check_target_rollout_complete,
    check_version_verified_in_source,
    severity_rank,
)
from dora.gates.decision import (
    CheckResult,
    GateDecision,
    promotion_evaluate,
)
from dora.gates.facts import (
    DEFAULT_TARGET_IDLE_AFTER,
    AutomationInstance,
    EnvironmentFacts,
    OpenIncident,
    OutOfBandChange,
    PromotionFacts,
    RolloutFailure,
    TargetDeployment,
    UnderivedFacts,
)
from dora.gates.policy import (
    BLOCK,
    CHECKS,
    DEFAULT_MAX_SPREAD,
    DEFAULT_MIN_SOAK,
    DEFAULT_MODES,
    DEFAULT_SEVERITY,
    DEFAULT_STALE_AFTER,
    MODES,
    NON_RESETTING_ACTIONS,
    OFF,
    STACKS_ALL,
    STACKS_CHOICES,
    STACKS_DEPENDED_ON,
    THRESHOLDS,
    WARN,
    CheckPolicy,
    CheckSetting,
    Policy,
    PolicyRule,
    policy_resolve,
)
from dora.gates.words import LISTED

__all__ = [
    "AutomationInstance",
    "BLOCK",
    "CHECKS",
    "CheckPolicy",
    "CheckResult",
    "CheckSetting",
    "DEFAULT_MAX_SPREAD",
    "DEFAULT_MIN_SOAK",
    "DEFAULT_MODES",
    "DEFAULT_SEVERITY",
    "DEFAULT_STALE_AFTER",
    "DEFAULT_TARGET_IDLE_AFTER",
    "EnvironmentFacts",
    "GateDecision",
    "LISTED",
    "MODES",
    "NON_RESETTING_ACTIONS",
    "OFF",
    "OpenIncident",
    "OutOfBandChange",
    "Policy",
    "PolicyRule",
    "PromotionFacts",
    "RolloutFailure",
    "STACKS_ALL",
    "STACKS_CHOICES",
    "STACKS_DEPENDED_ON",
    "THRESHOLDS",
    "TargetDeployment",
    "UnderivedFacts",
    "WARN",
    "check_facts_derived",
    "check_infra_parity",
    "check_no_drift",
    "check_no_open_incidents",
    "check_no_out_of_band_changes",
    "check_soak_time",
    "check_source_current",
    "check_source_fresh",
    "check_target_rollout_complete",
    "check_version_verified_in_source",
    "policy_resolve",
    "promotion_evaluate",
    "severity_rank",
]
