"""The gate decisions page's pure helpers: filters from a query string, checks as rows, links."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from dora.reads.report_query import ParameterError
from dora.web.gate_pages import DecisionFilters, checks_rows, decision_filters_parse, run_link


def test_decision_filters_parse_and_round_trip() -> None:
    filters = decision_filters_parse(
        QueryDict("service=web&outcome=Blocked&from=staging&to=production&page=3")
    )

    assert filters == DecisionFilters("web", "blocked", "staging", "production")
    assert filters.query_string() == "service=web&outcome=blocked&from=staging&to=production"
    assert decision_filters_parse(QueryDict("")).query_string() == ""


def test_decision_filters_reject_an_unknown_outcome() -> None:
    with pytest.raises(ParameterError) as raised:
        decision_filters_parse(QueryDict("outcome=maybe"))

    assert raised.value.parameter == "outcome"


def test_checks_rows_put_failures_first_and_say_what_they_did() -> None:
    checks = [
        {"name": "soak_time", "passed": True, "severity": "block", "detail": "2h"},
        {"name": "no_drift", "passed": False, "severity": "warn", "detail": "drift"},
        {"name": "source_fresh", "passed": False, "severity": "block", "detail": "9d"},
    ]

    rows = checks_rows(checks)

    assert [(r["name"], r["state"], r["state_text"]) for r in rows] == [
        ("no_drift", "failed-warn", "failed (warn only)"),
        ("source_fresh", "failed-block", "failed (blocks)"),
        ("soak_time", "passed", "passed"),
    ]
    assert checks_rows([]) == [] and checks_rows(None) == []  # type: ignore[arg-type]


def test_run_link_only_for_http_urls() -> None:
    assert run_link("https://ci.example.com/runs/7") == "https://ci.example.com/runs/7"
    assert run_link("demo-run-3") is None
    assert run_link("javascript:alert(1)") is None
    assert run_link("") is None
