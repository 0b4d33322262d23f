"""Reading the composed YAML nodes, so that every problem can name its line (`_Reader`)."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from dora.benchmarks import industry_keys
from dora.config.vocabulary import (
    _DURATION_HINT,
    _ENV_VAR,
    _SECRET_KEYS,
    _SECRET_SUFFIXES,
    _TOKEN_PREFIXES,
    duration_parse,
)
from dora.gates import severity_rank

_INVALID: Any = object()  # a value that failed validation (its error is already recorded)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


class _Reader:
    """Validates composed nodes, collecting (line, message) problems instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[tuple[int, str]] = []
        # Teams named in the file, also those with other problems: a service naming one of
        # them should not get a second, misleading "team not defined" error.
        self.team_names: set[str] = set()
        # pagerduty sources' services: (line, where, our service), checked against the file's.
        self.source_services: list[tuple[int, str, str]] = []
        self._constructor = SafeConstructor()

    def error(self, node: yaml.Node | int, message: str) -> None:
        self.problems.append((node if isinstance(node, int) else _line(node), message))

    # -- structure ------------------------------------------------------------------------------

    def value(self, node: yaml.Node) -> Any:
        """The Python value of any node (for messages and scalars)."""
        try:
            return self._constructor.construct_object(node, deep=True)
        except ConstructorError as exc:
            self.error(node, f"cannot read this value: {exc.problem}")
            return _INVALID

    def mapping(
        self, node: yaml.Node, where: str, allowed: Sequence[str]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """Key -> (key node, value node); unknown, duplicate and secret keys are problems."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{where or 'the file'}: expected a mapping (key: value)")
            return None
        try:
            self._constructor.flatten_mapping(node)  # YAML merge keys (<<: *anchor)
        except ConstructorError as exc:
            self.error(node, f"{where}: {exc.problem}")
            return None
        place = f"in {where}" if where else "at the top level"
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            if not isinstance(key, str):
                self.error(key_node, f"{place}: keys must be names, not {_describe(key)}")
            elif key in entries:
                first = _line(entries[key][0])
                self.error(key_node, f"duplicate key '{key}' {place} (first on line {first})")
            elif key not in allowed and _is_secret_key(key):
                self.error(
                    key_node,
                    f"secret '{key}' {place}: secrets are never in the file; put it in an "
                    "environment variable and name that variable with token_env",
                )
            elif key not in allowed:
                self.error(
                    key_node,
                    f"unknown key '{key}' {place} (expected one of: {', '.join(allowed)})",
                )
            else:
                entries[key] = (key_node, value_node)
        return entries

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and self.value(node) is None:
            return []  # `teams:` with nothing under it
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{where}: expected a list (lines starting with '- ')")
            return []
        return list(node.value)

    def get(
        self,
        entries: Mapping[str, tuple[yaml.Node, yaml.Node]],
        key: str,
        where: str,
        parse: Callable[[yaml.Node, str], Any],
        *,
        default: Any = None,
        required_at: yaml.Node | None = None,
    ) -> Any:
        """Parse entries[key]; a missing or null key gives `default` (or a problem if required)."""
        if key not in entries or self.value(entries[key][1]) is None:
            if required_at is not None:
                self.error(required_at, f"{where}: '{key}' is required")
                return _INVALID
            return default
        return parse(entries[key][1], f"{where}.{key}")

    # -- scalars --------------------------------------------------------------------------------

    def string(self, node: yaml.Node, path: str) -> Any:
        value = self.value(node)
        if value is _INVALID:
            return _INVALID
        if not isinstance(value, str) or not value.strip():
            hint = " (quote it)" if isinstance(value, bool | int | float) else ""
            self.error(node, f"{path}: expected a text value, got {_describe(value)}{hint}")
            return _INVALID
        return value.strip()

    def names_map(self, node: yaml.Node, path: str) -> Any:
        """{name: name, ...} with text keys and values, as ((key, value), ...) in file order."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{path}: expected a mapping, e.g. {{PXXXXXX: checkout}}")
            return _INVALID
        pairs: list[tuple[str, str]] = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = self.string(key_node, path)
            value = self.string(value_node, f"{path}.{key}")
            if key is _INVALID or value is _INVALID:
                return _INVALID
            if key in seen:
                self.error(key_node, f"{path}: duplicate key '{key}'")
                return _INVALID
            seen.add(key)
            pairs.append((key, value))
        return tuple(pairs)

    def strings(self, node: yaml.Node, path: str) -> Any:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{path}: expected a list, e.g. [a, b]")
            return _INVALID
        items: list[str] = []
        for i, item in enumerate(node.value):
            text = self.string(item, f"{path}[{i}]")
            if text is _INVALID:
                continue
            if text in items:
                self.error(item, f"{path}[{i}]: '{text}' is listed twice")
                continue
            items.append(text)
        return tuple(items)

    def choice(self, choices: Sequence[str]) -> Callable[[yaml.Node, str], Any]:
        def parse(node: yaml.Node, path: str) -> Any:
            value = self.value(node)
            if value not in choices:
                self.error(node, f"{path}: {_describe(value)} is not one of: {', '.join(choices)}")
                return _INVALID
            return value

        return parse

    def boolean(self, node: yaml.Node, path: str) -> Any:
        value = self.value(node)
        if not isinstance(value, bool):
            self.error(node, f"{path}: expected true or false, got {_describe(value)}")
            return _INVALID
        return value

    def integer(self, node: yaml.Node, path: str) -> Any:
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(node, f"{path}: expected a whole number, got {_describe(value)}")
            return _INVALID
        return value

    def severity(self, node: yaml.Node, path: str) -> Any:
        """An incident severity the gate can rank: sev1..sev5, P1..P5, critical/high/..."""
        text = self.string(node, path)
        if text is _INVALID:
            return _INVALID
        if severity_rank(text) is None:
            self.error(node, f"{path}: '{text}' is not a severity (use sev1..sev5 or P1..P5)")
            return _INVALID
        return text

    def spread(self, node: yaml.Node, path: str) -> Any:
        value = self.integer(node, path)
        if value is not _INVALID and value < 1:
            self.error(node, f"{path}: must be at least 1 (one version live everywhere)")
            return _INVALID
        return value

    def number(self, node: yaml.Node, path: str) -> Any:
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(node, f"{path}: expected a number, got {_describe(value)}")
            return _INVALID
        return value

    def duration(self, node: yaml.Node, path: str) -> Any:
        value = self.value(node)
        try:
            parsed = duration_parse(value)
        except ValueError:
            self.error(node, f"{path}: {_describe(value)} is not a duration ({_DURATION_HINT})")
            return _INVALID
        if not parsed:
            self.error(node, f"{path}: must be longer than zero")
            return _INVALID
        return parsed

    def duration_or_zero(self, node: yaml.Node, path: str) -> Any:
        value = self.value(node)
        try:
            return duration_parse(value)
        except ValueError:
            self.error(node, f"{path}: {_describe(value)} is not a duration ({_DURATION_HINT})")
            return _INVALID

    def timezone(self, node: yaml.Node, path: str) -> Any:
        name = self.string(node, path)
        if name is _INVALID:
            return _INVALID
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.error(
                node,
                f"{path}: unknown time zone '{name}' (use an IANA name such as Europe/Berlin "
                "or UTC)",
            )
            return _INVALID
        return name

    def industry(self, node: yaml.Node, path: str) -> Any:
        """A 2025 Quick Check industry key, as DORA's published file names them (unchecked when
        the file is missing: the 2025 benchmark is then unavailable, and a key the file lacks
        places against all industries)."""
        value = self.string(node, path)
        if value is _INVALID:
            return _INVALID
        known = industry_keys()
        if known and value not in known:
            self.error(node, f"{path}: '{value}' is not one of: {', '.join(known)}")
            return _INVALID
        return value

    def regex(self, node: yaml.Node, path: str) -> Any:
        text = self.string(node, path)
        if text is _INVALID:
            return _INVALID
        try:
            re.compile(text)
        except re.error as exc:
            self.error(node, f"{path}: not a valid regular expression: {exc}")
            return _INVALID
        return text

    def url(self, node: yaml.Node, path: str) -> Any:
        text = self.string(node, path)
        if text is _INVALID:
            return _INVALID
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.error(node, f"{path}: expected an http(s) URL, got {text!r}")
            return _INVALID
        if parts.username or parts.password:
            self.error(
                node,
                f"{path}: credentials in the URL; secrets are never in the file, use token_env",
            )
            return _INVALID
        return text

    def env_var(self, node: yaml.Node, path: str) -> Any:
        text = self.string(node, path)
        if text is _INVALID:
            return _INVALID
        if text.startswith(_TOKEN_PREFIXES):
            self.error(
                node,
                f"{path}: this looks like a token; secrets are never in the file, put it in an "
                "environment variable and write that variable's name here",
            )
            return _INVALID
        if not _ENV_VAR.match(text):
            self.error(node, f"{path}: {text!r} is not an environment variable name")
            return _INVALID
        return text


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _SECRET_KEYS or (
        lowered.endswith(_SECRET_SUFFIXES) and not lowered.endswith("_env")
    )


def _unique_names(reader: _Reader, section: str, named: Iterable[tuple[str, int]]) -> set[str]:
    """Names defined twice in a section are problems; returns the names."""
    first: dict[str, int] = {}
    for name, line in named:
        if name in first:
            reader.error(line, f"{section}: '{name}' is already defined on line {first[name]}")
        else:
            first[name] = line
    return set(first)
