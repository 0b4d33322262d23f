"""A team's `alerts:` channels: email recipients, a Slack incoming webhook, a JSON webhook."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import yaml

from dora.config.reader import _INVALID, _line, _Reader
from dora.config.spec import AlertChannelSpec
from dora.config.vocabulary import _ALERT_KINDS, _SLACK_ALERT_KEYS, _WEBHOOK_ALERT_KEYS

_SLACK_URL_HINT = (
    "a Slack incoming webhook URL is a secret (anyone holding it can post); put it in an "
    "environment variable and name that variable with webhook_url_env"
)
_URL_KEYS = ("url", "webhook_url")


def _load_alert_channels(reader: _Reader, node: yaml.Node, path: str) -> Any:
    """`[{email: [a@b]}, {slack: {webhook_url_env: X}}, {webhook: {url: ..., secret_env: Y}}]`"""
    channels: list[AlertChannelSpec] = []
    invalid = False
    for i, item in enumerate(reader.sequence(node, path)):
        where = f"{path}[{i}]"
        if isinstance(item, yaml.MappingNode) and len(item.value) > 1:
            reader.error(item, f"{where}: one channel per item ({', '.join(_ALERT_KINDS)})")
            invalid = True
            continue
        entries = reader.mapping(item, where, _ALERT_KINDS)
        if not entries:
            if entries is not None and not item.value:  # `{}`; an unknown key is reported
                reader.error(item, f"{where}: expected one of {', '.join(_ALERT_KINDS)}")
            invalid = True
            continue
        (kind, (_, value_node)), *_ = entries.items()
        load = {"email": _email, "slack": _slack, "webhook": _webhook}[kind]
        spec = load(reader, value_node, f"{where}.{kind}")
        if spec is _INVALID:
            invalid = True
        else:
            channels.append(spec)
    if invalid:
        return _INVALID
    seen: dict[tuple[Any, ...], int] = {}
    for spec in channels:
        ident = (spec.kind, spec.addresses, spec.url, spec.url_env, spec.secret_env)
        if ident in seen:
            reader.error(spec.line, f"{path}: this channel is already listed on line {seen[ident]}")
            return _INVALID
        seen[ident] = spec.line
    return tuple(channels)


def _email(reader: _Reader, node: yaml.Node, path: str) -> Any:
    if isinstance(node, yaml.ScalarNode):
        addresses = reader.string(node, path)
        addresses = _INVALID if addresses is _INVALID else (addresses,)
    else:
        addresses = reader.strings(node, path)
    if addresses is _INVALID:
        return _INVALID
    if not addresses:
        reader.error(node, f"{path}: expected at least one address")
        return _INVALID
    for address in addresses:
        local, _, domain = address.partition("@")
        if not local or "." not in domain or " " in address or "," in address:
            reader.error(node, f"{path}: {address!r} is not an email address")
            return _INVALID
    return AlertChannelSpec(kind="email", addresses=tuple(addresses), line=_line(node))


def _slack(reader: _Reader, node: yaml.Node, path: str) -> Any:
    if not isinstance(node, yaml.MappingNode):
        value = reader.value(node)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            reader.error(node, f"{path}: {_SLACK_URL_HINT}")
        else:
            reader.error(node, f"{path}: expected {{webhook_url_env: VARIABLE}}")
        return _INVALID
    for key_node, _ in node.value:
        if reader.value(key_node) in _URL_KEYS:
            reader.error(key_node, f"{path}: {_SLACK_URL_HINT}")
            return _INVALID
    entries = reader.mapping(node, path, _SLACK_ALERT_KEYS)
    if entries is None:
        return _INVALID
    url_env = reader.get(entries, "webhook_url_env", path, reader.env_var, required_at=node)
    if url_env is _INVALID:
        return _INVALID
    return AlertChannelSpec(kind="slack", url_env=url_env, line=_line(node))


def _webhook(reader: _Reader, node: yaml.Node, path: str) -> Any:
    entries = reader.mapping(node, path, _WEBHOOK_ALERT_KEYS)
    if entries is None:
        return _INVALID
    values = {
        "url": reader.get(entries, "url", path, reader.url),
        "url_env": reader.get(entries, "url_env", path, reader.env_var),
        "secret_env": reader.get(entries, "secret_env", path, reader.env_var),
    }
    if _INVALID in values.values():
        return _INVALID
    if (values["url"] is None) == (values["url_env"] is None):
        reader.error(node, f"{path}: give exactly one of url or url_env")
        return _INVALID
    if values["url"] and (urlsplit(values["url"]).hostname or "").endswith("hooks.slack.com"):
        reader.error(entries["url"][1], f"{path}.url: {_SLACK_URL_HINT} (use slack:)")
        return _INVALID
    return AlertChannelSpec(kind="webhook", **values, line=_line(node))
