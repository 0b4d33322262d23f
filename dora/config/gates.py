"""The `gates:` section: defaults and per-service rules of CONTRACT §5 checks."""

from __future__ import annotations

from typing import Any

import yaml

from dora.config.reader import _INVALID, _describe, _line, _Reader
from dora.config.spec import CheckSpec, GateDefaults, GateRule, GatesSpec
from dora.config.vocabulary import (
    _CHECK_MODES,
    _CHECK_THRESHOLDS,
    _GATE_DEFAULTS_KEYS,
    _GATE_RULE_KEYS,
    _GATES_KEYS,
)
from dora.gates import STACKS_CHOICES


def _load_check(reader: _Reader, name: str, node: yaml.Node, where: str) -> Any:
    """`block`, `warn`, `off` (YAML reads a bare off as false), or {mode, thresholds...}."""
    if isinstance(node, yaml.MappingNode):
        entries = reader.mapping(node, where, ("mode", *_CHECK_THRESHOLDS[name]))
        if entries is None:
            return _INVALID
        values = {
            "mode": reader.get(entries, "mode", where, lambda n, p: _check_mode(reader, n, p)),
            "min_soak": reader.get(entries, "min_soak", where, reader.duration_or_zero),
            "stale_after": reader.get(entries, "stale_after", where, reader.duration),
            "severity": reader.get(entries, "severity", where, reader.severity),
            "max_spread": reader.get(entries, "max_spread", where, reader.spread),
            "stacks": reader.get(entries, "stacks", where, reader.choice(STACKS_CHOICES)),
        }
        return _INVALID if _INVALID in values.values() else CheckSpec(name=name, **values)
    mode = _check_mode(reader, node, where)
    return _INVALID if mode is _INVALID else CheckSpec(name=name, mode=mode)


def _check_mode(reader: _Reader, node: yaml.Node, path: str) -> Any:
    value = reader.value(node)
    if value is False:
        return "off"
    if value is True:
        return None  # `on`: the check's default severity
    if value not in _CHECK_MODES:
        reader.error(node, f"{path}: {_describe(value)} is not one of: {', '.join(_CHECK_MODES)}")
        return _INVALID
    return value


def _load_gates(reader: _Reader, node: yaml.Node) -> Any:
    entries = reader.mapping(node, "gates", _GATES_KEYS)
    if entries is None:
        return _INVALID
    defaults: Any = GateDefaults()
    if "defaults" in entries:
        d_entries = reader.mapping(entries["defaults"][1], "gates.defaults", _GATE_DEFAULTS_KEYS)
        if d_entries is None:
            defaults = _INVALID
        else:
            values = {
                "min_soak": reader.get(
                    d_entries, "min_soak", "gates.defaults", reader.duration_or_zero
                ),
                "stale_after": reader.get(
                    d_entries, "stale_after", "gates.defaults", reader.duration
                ),
                "severity": reader.get(d_entries, "severity", "gates.defaults", reader.severity),
                "max_spread": reader.get(d_entries, "max_spread", "gates.defaults", reader.spread),
            }
            defaults = _INVALID if _INVALID in values.values() else GateDefaults(**values)
    rules: list[GateRule] = []
    rule_nodes = reader.sequence(entries["rules"][1], "gates.rules") if "rules" in entries else []
    invalid = defaults is _INVALID
    for i, item in enumerate(rule_nodes):
        where = f"gates.rules[{i}]"
        r_entries = reader.mapping(item, where, _GATE_RULE_KEYS)
        if r_entries is None:
            invalid = True
            continue
        checks: list[Any] = []
        if "checks" in r_entries:
            c_where = f"{where}.checks"
            c_entries = reader.mapping(r_entries["checks"][1], c_where, tuple(_CHECK_THRESHOLDS))
            if c_entries is None:
                checks.append(_INVALID)
            else:
                for name, (_, value_node) in c_entries.items():
                    checks.append(_load_check(reader, name, value_node, f"{c_where}.{name}"))
        values = {
            "service": reader.get(r_entries, "service", where, reader.string),
            "from_env": reader.get(r_entries, "from", where, reader.string),
            "to_env": reader.get(r_entries, "to", where, reader.string),
        }
        if _INVALID in values.values() or _INVALID in checks:
            invalid = True
            continue
        rules.append(GateRule(**values, checks=tuple(checks), line=_line(item)))
    return _INVALID if invalid else GatesSpec(defaults=defaults, rules=tuple(rules))
