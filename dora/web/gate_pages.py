"""The promotion gate's decisions (CONTRACT §5: "every decision is stored ... and is listed on the
dashboard"): newest first, paginated, filterable by service, outcome and environment pair, each
with its checks. A member sees the decisions about their teams' services; leadership and staff
every decision.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dora.gate_evidence import decision_evidence
from dora.models import Environment, GateDecision, Service
from dora.reads.report_query import ParameterError
from dora.reads.scope import ORGANISATION_TIMEZONE
from dora.web.access import Access, dashboard_view, service_required
from dora.web.navigation import breadcrumbs, crumb
from dora.web.page_parts import _bad_request, window_control, window_of_request

PAGE_SIZE = 25
OUTCOMES = ("allowed", "blocked")


@dataclass(frozen=True)
class DecisionFilters:
    """The page's query string, checked: service, outcome, from, to (each optional)."""

    service: str = ""
    outcome: str = ""
    from_env: str = ""
    to_env: str = ""

    def apply(self, decisions: QuerySet[GateDecision]) -> QuerySet[GateDecision]:
        if self.service:
            decisions = decisions.filter(service=self.service)
        if self.outcome:
            decisions = decisions.filter(allowed=self.outcome == "allowed")
        if self.from_env:
            decisions = decisions.filter(from_env=self.from_env)
        if self.to_env:
            decisions = decisions.filter(to_env=self.to_env)
        return decisions

    def query_string(self) -> str:
        pairs = [
            ("service", self.service),
            ("outcome", self.outcome),
            ("from", self.from_env),
            ("to", self.to_env),
        ]
        return urlencode([(k, v) for k, v in pairs if v])


def decision_filters_parse(params: Any) -> DecisionFilters:
    """The filters from a query string; ParameterError for an outcome other than the two."""
    outcome = (params.get("outcome") or "").strip().lower()
    if outcome and outcome not in OUTCOMES:
        raise ParameterError("outcome", f"outcome {outcome!r} must be allowed or blocked")
    return DecisionFilters(
        service=(params.get("service") or "").strip(),
        outcome=outcome,
        from_env=(params.get("from") or "").strip(),
        to_env=(params.get("to") or "").strip(),
    )


def visible_decisions(access: Access) -> QuerySet[GateDecision]:
    """The decisions about services the viewer may see (names: decisions store the name)."""
    decisions = GateDecision.objects.all()
    if not access.everything:
        decisions = decisions.filter(service__in=sorted(access.services))
    return decisions


def run_link(pipeline_run: str) -> str | None:
    """The pipeline run as a link target when it is an http(s) URL, else None."""
    text = (pipeline_run or "").strip()
    return text if text.startswith(("https://", "http://")) else None


def checks_rows(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each stored check with a state the page shows as text and colour: passed, failed
    (blocking) or failed (warning only); failures first, in the gate's order otherwise."""
    rows = []
    for position, check in enumerate(checks or []):
        passed = bool(check.get("passed"))
        severity = str(check.get("severity") or "")
        if passed:
            state, state_text = "passed", "passed"
        elif severity == "block":
            state, state_text = "failed-block", "failed (blocks)"
        else:
            state, state_text = "failed-warn", f"failed ({severity or 'warn'} only)"
        rows.append(
            {
                "name": str(check.get("name") or ""),
                "passed": passed,
                "severity": severity,
                "detail": str(check.get("detail") or ""),
                "state": state,
                "state_text": state_text,
                "position": position,
            }
        )
    return sorted(rows, key=lambda r: (r["passed"], r["position"]))


def blocking_reasons(decisions: QuerySet[GateDecision]) -> list[tuple[str, int]]:
    """How often each check blocked among `decisions` (failed with severity block), most first;
    one query (jsonb on PostgreSQL; elsewhere the checks are counted here)."""
    blocked = decisions.filter(allowed=False).order_by()
    if connections[blocked.db].vendor != "postgresql":
        counts: dict[str, int] = {}
        for checks in blocked.values_list("checks", flat=True):
            for row in checks_rows(checks):
                if row["state"] == "failed-block":
                    counts[row["name"]] = counts.get(row["name"], 0) + 1
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    inner, params = blocked.values("id").query.sql_with_params()
    sql = f"""
        SELECT c->>'name' AS name, count(*) AS n
        FROM dora_gatedecision d CROSS JOIN LATERAL jsonb_array_elements(d.checks::jsonb) c
        WHERE d.id IN ({inner})
          AND c->>'severity' = 'block' AND NOT COALESCE((c->>'passed')::boolean, false)
        GROUP BY 1 ORDER BY 2 DESC, 1
    """  # noqa: S608 (inner is Django's SQL, values are parameters)
    with connections[blocked.db].cursor() as cursor:
        cursor.execute(sql, params)
        return [(str(name), int(n)) for name, n in cursor.fetchall()]


@require_GET
@dashboard_view
def gate_decision(request: HttpRequest, decision_id: uuid.UUID) -> HttpResponse:
    """One decision: its request, its checks, and the stored events its checks judged, each
    with who sent it. A decision about a service the viewer may not see is not found, like an
    unknown one."""
    access: Access = request.access  # type: ignore[attr-defined]
    decision = visible_decisions(access).filter(id=decision_id).first()
    if decision is None:
        raise Http404("No such gate decision (or not one about your teams' services).")
    return render(
        request,
        "dora/gate_decision.html",
        {
            "decision": decision,
            "outcome": "allowed" if decision.allowed else "blocked",
            "run_url": run_link(decision.pipeline_run),
            "checks": checks_rows(decision.checks),
            "evidence": decision_evidence(decision),
            "crumbs": breadcrumbs(
                access,
                service=decision.service,
                trail=(
                    crumb(
                        "Gate decisions",
                        f"{reverse('dashboard-gate')}?{urlencode({'service': decision.service})}",
                    ),
                    crumb(f"{decision.version}: {decision.from_env} → {decision.to_env}"),
                ),
            ),
        },
    )


@require_GET
@dashboard_view
def gate_decisions(request: HttpRequest) -> HttpResponse:
    """Recent gate decisions with their checks, filtered by the query string."""
    access: Access = request.access  # type: ignore[attr-defined]
    # A window only when the query string names one (range, end, start): without, every
    # decision, newest first, the current week's too.
    named = any(request.GET.get(name) for name in ("range", "end", "start"))
    try:
        filters = decision_filters_parse(request.GET)
        window = (
            window_of_request(request, tz=ORGANISATION_TIMEZONE, now=timezone.now())
            if named
            else None
        )
    except ParameterError as exc:
        return _bad_request(request, exc)
    if filters.service:
        service_required(access, filters.service)
    visible = visible_decisions(access)
    if window is not None:
        visible = visible.filter(evaluated_at__gte=window.since, evaluated_at__lt=window.until)
    decisions = filters.apply(visible).order_by("-evaluated_at", "id")
    totals = decisions.aggregate(total=Count("id"), blocked=Count("id", filter=Q(allowed=False)))
    paginator = Paginator(decisions, PAGE_SIZE)
    paginator.count = totals["total"]  # counted with the outcomes above: no second COUNT
    page = paginator.get_page(request.GET.get("page"))
    services = (
        sorted(access.services)
        if not access.everything
        else list(Service.objects.order_by("name").values_list("name", flat=True))
    )
    environments = list(
        Environment.objects.order_by("order", "name").values_list("name", flat=True)
    )
    service_url = reverse("dashboard-service")
    rows = []
    for decision in page.object_list:
        checks = checks_rows(decision.checks)
        rows.append(
            {
                "decision": decision,
                "outcome": "allowed" if decision.allowed else "blocked",
                "run_url": run_link(decision.pipeline_run),
                "checks": checks,
                "blocking": [c["name"] for c in checks if c["state"] == "failed-block"],
                "warnings": [c["name"] for c in checks if c["state"] == "failed-warn"],
                "service_url": (
                    f"{service_url}?{urlencode({'service': decision.service})}"
                    if access.service_allowed(decision.service)
                    else None
                ),
            }
        )
    return render(
        request,
        "dora/gate_decisions.html",
        {
            "filters": filters,
            "rows": rows,
            "page": page,
            "total": totals["total"],
            "blocked": totals["blocked"],
            "reasons": blocking_reasons(filters.apply(visible)) if totals["blocked"] else [],
            "allowed": totals["total"] - totals["blocked"],
            "services": services,
            "environments": environments,
            "outcomes": OUTCOMES,
            "query_string": "&".join(
                part
                for part in (filters.query_string(), urlencode(window.params()) if window else "")
                if part
            ),
            "window_params": window.params() if window else {},
            **window_control(request, window, "Every decision, newest first"),
            "crumbs": breadcrumbs(
                access, service=filters.service or None, trail=(crumb("Gate decisions"),)
            ),
        },
    )
