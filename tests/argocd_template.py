"""docs/argocd's ConfigMap for tests: its keys, and its template rendered by hand (the Go
text/template constructs it uses, nothing more), so a test can feed the rendered body."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

CONFIGMAP = Path(__file__).resolve().parents[1] / "docs" / "argocd" / "argocd-notifications-cm.yaml"


def configmap() -> dict[str, str]:
    return yaml.safe_load(CONFIGMAP.read_text())["data"]


def template_body() -> str:
    template = yaml.safe_load(configmap()["template.dora-deployment"])
    return template["webhook"]["dora"]["body"]


_MISSING = object()


def _lookup(context: dict[str, Any], path: str) -> Any:
    value: Any = context
    for key in path.lstrip(".").split("."):
        value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            return None
    return value


def render(body: str, context: dict[str, Any]) -> str:
    """Go text/template by hand, for what the template uses: `{{.a.b}}` (a missing key prints
    `<no value>`), `{{if eq .a "X"}}..{{else}}..{{end}}` and `{{if .a}}..{{else}}..{{end}}`."""

    def branch(match: re.Match[str]) -> str:
        path, literal, yes, no = match.groups()
        value = _lookup(context, path)
        chosen = value == literal if literal is not None else bool(value)
        return yes if chosen else no

    body = re.sub(
        r'\{\{if (?:eq )?(\.[\w.]+)(?: "(\w+)")?\}\}(.*?)\{\{else\}\}(.*?)\{\{end\}\}',
        branch,
        body,
    )

    def field(match: re.Match[str]) -> str:
        value = _lookup(context, match.group(1))
        return "<no value>" if value is None else str(value)

    rendered = re.sub(r"\{\{(\.[\w.]+)\}\}", field, body)
    assert "{{" not in rendered, rendered  # nothing the renderer does not know
    return rendered
