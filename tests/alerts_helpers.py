"""Shared by the alerts tests: an estate, a scripted condition provider, local HTTP receivers
(http.server in a thread) and small readers of what was recorded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dora.alerts.evaluate import AlertContext, Condition, alert_provider
from dora.models import AlertChannel, AlertDelivery, AlertState, GateDecision, Team

STALE = ["dora.alerts.providers.stale_environments"]
SPREAD = ["dora.alerts.providers.spread_over_limit"]
GATE = ["dora.alerts.providers.gate_blocks"]
SCRIPTED = ["tests.alerts_helpers.scripted"]
BROKEN = "tests.alerts_helpers.broken"

ESTATE = """\
teams:
  - name: payments
  - name: search
services:
  - name: shop
    team: payments
  - name: finder
    team: search
environments:
  - name: staging
    tier: staging
  - name: production
    tier: production
    stale_after: 3d
"""

# The conditions the scripted provider reports (a test sets them).
SCRIPT: list[Condition] = []


@alert_provider("scripted")
def scripted(context: AlertContext) -> list[Condition]:
    return list(SCRIPT)


@alert_provider("broken")
def broken(context: AlertContext) -> list[Condition]:
    raise RuntimeError("the metrics read failed")


@pytest.fixture(autouse=True)
def script_cleared() -> Iterator[None]:
    """Each test starts with no scripted condition (autouse where imported)."""
    SCRIPT.clear()
    yield
    SCRIPT.clear()


def states(team: str = "payments") -> dict[str, AlertState]:
    return {s.key: s for s in AlertState.objects.filter(team__name=team)}


def deliveries(**filters: Any) -> list[tuple[str, str, str]]:
    return sorted(
        (d.state.key, d.event, d.channel.kind)
        for d in AlertDelivery.objects.filter(**filters).select_related("state", "channel")
    )


def channel(kind: str, team: str = "payments", **fields: Any) -> AlertChannel:
    return AlertChannel.objects.create(team=Team.objects.get(name=team), kind=kind, **fields)


def decision(service: str, *, at: datetime, allowed: bool = False) -> GateDecision:
    return GateDecision.objects.create(
        evaluated_at=at,
        service=service,
        version="v9",
        from_env="staging",
        to_env="production",
        requested_by="ci",
        allowed=allowed,
        checks=[
            {
                "name": "version_verified_in_source",
                "passed": False,
                "severity": "block",
                "detail": "v9 never ran in staging",
            }
        ],
    )


class Receiver:
    """A local HTTP receiver answering `status` to every POST and keeping what it got."""

    def __init__(self, status: int, answer: bytes = b"ok") -> None:
        self.status, self.answer = status, answer
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
