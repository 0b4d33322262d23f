"""The gate's decision: every check's result over the facts, under the policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dora.gates.checks import _CHECK_FUNCTIONS
from dora.gates.facts import PromotionFacts
from dora.gates.policy import BLOCK, CHECKS, OFF, WARN, Policy

# ---------------------------------------------------------------------------------------------
# Decision
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    severity: str  # block | warn
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "severity": self.severity,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    checks: tuple[CheckResult, ...]

    @property
    def blocking(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed and c.severity == BLOCK)

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed and c.severity == WARN)


def promotion_evaluate(facts: PromotionFacts, policy: Policy) -> GateDecision:
    """Run every check that is not off, in CONTRACT §5's order.

    Allowed unless a check with severity `block` failed; failed `warn` checks never block.
    """
    results = []
    for name in CHECKS:
        setting = policy[name]
        if setting.mode == OFF:
            continue
        passed, detail = _CHECK_FUNCTIONS[name](facts, setting)
        results.append(CheckResult(name=name, passed=passed, severity=setting.mode, detail=detail))
    allowed = not any(not r.passed and r.severity == BLOCK for r in results)
    return GateDecision(allowed=allowed, checks=tuple(results))
