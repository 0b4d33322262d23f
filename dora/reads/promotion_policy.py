"""The promotion policy: stored gate rules <-> dora.gates, resolved once per process."""

from __future__ import annotations

import functools
import json
from datetime import timedelta
from typing import Any

from dora import gates
from dora.config import duration_parse
from dora.prepared import duration

# ---------------------------------------------------------------------------------------------
# Policy: stored rules <-> dora.gates
# ---------------------------------------------------------------------------------------------


# The resolved policy for one promotion from its rows of `_NAMES_SQL`: the same stored rows
# resolve to the same policy, parsed once per process, not per request.
@functools.lru_cache(maxsize=1024)
def _policy_resolved(
    service: str,
    from_env: str,
    to_env: str,
    source_stale_after: timedelta | None,
    rows: tuple[tuple[Any, ...], ...],
) -> gates.Policy:
    defaults = gates.CheckSetting()
    for kind, *_, min_soak, stale_after, severity, max_spread in rows:
        if kind == "defaults":
            defaults = gates.CheckSetting(
                min_soak=duration(min_soak),
                stale_after=duration(stale_after),
                severity=severity or None,
                max_spread=max_spread,
            )
    rules = [
        gates.PolicyRule(
            service=rule_service,
            from_env=rule_from,
            to_env=rule_to,
            checks=checks_parse(json.loads(checks)),
            position=position,
        )
        for kind, _, rule_service, rule_from, rule_to, checks, position, *_ in rows
        if kind == "rule"
    ]
    return gates.policy_resolve(
        rules,
        defaults=defaults,
        service=service,
        from_env=from_env,
        to_env=to_env,
        source_stale_after=source_stale_after,
    )


def checks_parse(data: Any) -> dict[str, gates.CheckSetting]:
    """A stored rule's `checks` JSON (the config file's shape) as settings; ValueError names
    what is wrong, for the admin form."""
    if not isinstance(data, dict):
        raise ValueError("checks must be an object: check name -> block | warn | off | {...}")
    settings: dict[str, gates.CheckSetting] = {}
    for name, value in data.items():
        if name not in gates.CHECKS:
            raise ValueError(f"unknown check '{name}'; checks: {', '.join(gates.CHECKS)}")
        if isinstance(value, str) or value is None or isinstance(value, bool):
            settings[name] = gates.CheckSetting(mode=_mode(name, value))
            continue
        if not isinstance(value, dict):
            raise ValueError(f"{name}: expected block, warn, off or an object")
        allowed = ("mode", *gates.THRESHOLDS[name])
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(f"{name}: unknown key {unknown[0]} (allowed: {', '.join(allowed)})")
        settings[name] = gates.CheckSetting(
            mode=_mode(name, value.get("mode")) if "mode" in value else None,
            min_soak=_duration(name, value, "min_soak", zero_ok=True),
            stale_after=_duration(name, value, "stale_after", zero_ok=False),
            severity=_severity(name, value.get("severity")),
            max_spread=_spread(name, value.get("max_spread")),
            stacks=_stacks(name, value.get("stacks")),
        )
    return settings


def _mode(name: str, value: Any) -> str | None:
    if value is False:
        return gates.OFF
    if value is True or value is None:
        return None
    if value not in gates.MODES:
        raise ValueError(f"{name}: mode {value!r} is not one of {', '.join(gates.MODES)}")
    return str(value)


def _duration(name: str, value: dict, key: str, *, zero_ok: bool) -> timedelta | None:
    if key not in value:
        return None
    try:
        parsed = duration_parse(value[key])
    except ValueError as exc:
        raise ValueError(f"{name}.{key}: {exc}") from None
    if not parsed and not zero_ok:
        raise ValueError(f"{name}.{key}: must be longer than zero")
    return parsed


def _severity(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or gates.severity_rank(value) is None:
        raise ValueError(f"{name}.severity: {value!r} is not a severity (sev1..sev5, P1..P5)")
    return value


def _stacks(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if value not in gates.STACKS_CHOICES:
        raise ValueError(
            f"{name}.stacks: {value!r} is not one of {', '.join(gates.STACKS_CHOICES)}"
        )
    return str(value)


def _spread(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}.max_spread: {value!r} must be a whole number of at least 1")
    return value
