"""The `targets:` section: figure targets of teams and services."""

from __future__ import annotations

from typing import Any

import yaml

from dora.config.reader import _INVALID, _line, _Reader
from dora.config.spec import DEFAULT_TARGET_WINDOW, FigureTargetSpec
from dora.config.vocabulary import _FIGURE_TARGET_KEYS, FIGURES


def _figure(reader: _Reader, node: yaml.Node, path: str) -> Any:
    text = reader.string(node, path)
    if text is _INVALID:
        return _INVALID
    family, _, name = text.partition(".")
    if family not in FIGURES:
        reader.error(
            node,
            f"{path}: unknown figure '{text}' (expected family.field, families: "
            f"{', '.join(FIGURES)})",
        )
        return _INVALID
    if name not in FIGURES[family]:
        reader.error(
            node,
            f"{path}: unknown figure '{text}' (fields of {family}: {', '.join(FIGURES[family])})",
        )
        return _INVALID
    return text


def _load_figure_targets(reader: _Reader, node: yaml.Node) -> list[FigureTargetSpec]:
    specs: list[FigureTargetSpec] = []
    first: dict[tuple[str, str, str, str], str] = {}  # (subject, name, figure, direction)
    for i, item in enumerate(reader.sequence(node, "targets")):
        where = f"targets[{i}]"
        entries = reader.mapping(item, where, _FIGURE_TARGET_KEYS)
        if entries is None:
            continue
        values = {
            "team": reader.get(entries, "team", where, reader.string),
            "service": reader.get(entries, "service", where, reader.string),
            "figure": reader.get(
                entries, "figure", where, lambda n, p: _figure(reader, n, p), required_at=item
            ),
            "below": reader.get(entries, "below", where, reader.number),
            "above": reader.get(entries, "above", where, reader.number),
            "window": reader.get(
                entries, "window", where, reader.duration, default=DEFAULT_TARGET_WINDOW
            ),
        }
        if ("team" in entries) == ("service" in entries):
            reader.error(item, f"{where}: give exactly one of team or service")
            continue
        if ("below" in entries) == ("above" in entries):
            reader.error(item, f"{where}: give exactly one of below or above")
            continue
        if _INVALID not in values.values():
            subject = "team" if "team" in entries else "service"
            direction = "below" if "below" in entries else "above"
            key = (subject, values[subject], values["figure"], direction)
            if key in first:
                reader.error(
                    item,
                    f"{where}: {subject} '{key[1]}' already has a target for {key[2]} "
                    f"{direction} ({first[key]}); give each figure one bound per direction",
                )
                continue
            first[key] = where
            team_line = _line(entries["team"][1]) if "team" in entries else _line(item)
            specs.append(FigureTargetSpec(**values, line=_line(item), team_line=team_line))
    return specs
