"""Bench-only WSGI application and URLconf for bench/gate.py (never used outside the bench).

- The URLs are the project's (`dora.urls`, unchanged) plus `POST /bench/ping`: the trivial JSON
  view the gate is compared with. It goes through the same stack as the gate (gunicorn, Django's
  middleware, DRF, the bearer-token lookup and `last_used_at` update, the `gate` scope check, the
  JSON parsing of the same request body) and returns a constant body, so the gap between the two
  is the gate's own work: its reads, its checks and the stored decision.
- The clock: with BENCH_GATE_CLOCK (ISO time) and BENCH_GATE_EPOCH (Unix seconds), Django's
  `timezone.now()` reads BENCH_GATE_CLOCK at the moment BENCH_GATE_EPOCH and runs on from there.
  The bench estate's history ends on 2026-11-02 (bench/metrics.py); evaluated just after its
  last record, the gate's 30-day windows and 7-day freshness see it as live data, as a real
  gate sees its estate.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gate_settings")


def clock_shift() -> None:
    clock, epoch = os.environ.get("BENCH_GATE_CLOCK"), os.environ.get("BENCH_GATE_EPOCH")
    if not clock or not epoch:
        return
    from django.utils import timezone

    offset = datetime.fromisoformat(clock).timestamp() - float(epoch)

    def now() -> datetime:
        return datetime.fromtimestamp(time.time() + offset, tz=UTC)

    timezone.now = now


clock_shift()

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

from django.urls import include, path  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from dora.api.auth import scope_required  # noqa: E402


class BenchPing(APIView):
    """The trivial view: same authentication, permission and body parsing as the gate."""

    permission_classes = [scope_required("gate")]

    def post(self, request: Request) -> Response:
        request.data  # noqa: B018 (parsed as the gate parses it)
        return Response({"ok": True})


urlpatterns = [
    path("", include("dora.urls")),
    path("bench/ping", BenchPing.as_view(), name="bench-ping"),
]

# As dora.wsgi does for the project's URLconf: load it, then keep the long-lived objects out of
# the collector's rounds.
from dora.process import process_settle  # noqa: E402

process_settle()
