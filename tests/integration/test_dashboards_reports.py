"""Estate matrix, gate decisions and the leadership report on the demo estate: status, who may
see what (403), query bounds, filters, the PDF and the CSV."""

from __future__ import annotations

import csv
import io
import re
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import transaction
from django.template.loader import render_to_string
from django.test import Client

from dora.models import AutomationInstance, GateDecision, Service, Team
from dora.reads.leadership import leadership_report, period_of
from dora.reads.leadership_csv import CSV_HEADER, TAKEAWAY_FIGURES
from dora.web.access import LEADERSHIP_GROUP
from dora.web.leadership import _context as leadership_context

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]

NOW = "2026-03-02T12:00:00Z"
UNTIL = "2026-03-02T12:00:00Z"
# Per page, whatever the estate's size (now 23 for a member's estate, 9 for their decisions, 26
# for the report): the estate reads 5 frames per environment tier (3 tiers in the demo; the
# deploy pipelines, automation instances since definitions 2, are one of them, and the
# environments' stale_after and target_idle_after another), the report those and its two
# frames, services, first rollouts and one gate aggregate.
# +1 each for the organisation's 2025 industry (read once per page since the DORA 2025 benchmark)
# report: +1 for the takeaway's blocked decisions of the period (reasons and route).
# +1 for the report (a leader's page): the header's Teams menu reads every team's name (a
# member's come with their access, no query; dora.web.navigation)
MAX_QUERIES = {"estate": 26, "gate": 10, "report": 29}  # estate: +2 for out-of-band changes
FEBRUARY = {"period": "month", "date": "2026-02-01"}


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The demo estate, seeded once for this module in a transaction rolled back at its end."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", weeks=13, now=NOW, stdout=io.StringIO(), stderr=io.StringIO())
        yield
        transaction.set_rollback(True)


def login(username: str, *, leadership: bool = False, staff: bool = False) -> Client:
    user = User.objects.create_user(username, password="pw", is_staff=staff)
    if leadership:
        user.groups.add(Group.objects.get_or_create(name=LEADERSHIP_GROUP)[0])
    client = Client()
    client.force_login(user)
    return client


def url(path: str, **params: str) -> str:
    return f"{path}?{urlencode(params)}" if params else path


def no_external_urls(html: str) -> None:
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


# ---------------------------------------------------------------------------------------------
# Estate matrix
# ---------------------------------------------------------------------------------------------


def test_estate_matrix_for_a_member_shows_their_services_within_the_bound(
    demo, django_assert_max_num_queries
) -> None:
    client = login("alice")  # payments

    with django_assert_max_num_queries(MAX_QUERIES["estate"]):
        response = client.get(url("/dashboards/estate", until=UNTIL))

    assert response.status_code == 200
    html = response.content.decode()
    no_external_urls(html)
    for service in Service.objects.filter(team__name="payments").values_list("name", flat=True):
        assert f"service={service}" in html
    assert "service=search" not in html and "service=network-stack" not in html
    # Columns in promotion order, each with its stale_after.
    heads = re.findall(r'<th scope="col" id="env-\d+">(\w+)', html)
    assert heads == ["development", "staging", "production"]
    assert len(re.findall(r"stale after 7d</span></th>", html)) == 3  # each environment's
    # Payments runs no automation runs: no evidence chart, a note that says why; its deploy
    # pipelines are automation instances (METRICS §4.3), so the lag chart is drawn.
    assert 'id="no-runs"' in html
    assert 'id="chart-automation-lag"' in html and 'id="chart-automation-evidence"' not in html
    assert 'id="evidence-table"' in html


def test_estate_matrix_for_leadership_marks_infra_and_the_stale_stack(demo) -> None:
    html = (
        login("lead", leadership=True).get(url("/dashboards/estate", until=UNTIL)).content.decode()
    )

    for team in Team.objects.values_list("name", flat=True):
        assert f"team={team}" in html
    row = html[html.index("service=network-stack") :]
    row = row[: row.index('<th scope="row">')]
    assert 'title="an infrastructure stack">infra</span>' in row
    # The demo's network stack is not applied in staging for weeks: that cell is stale, in
    # colour (class) and in words.
    assert 'class="cell cell-stale"' in row
    assert re.search(r"automation lag \d+d &gt; stale after 7d", row)
    assert 'data-figure="figure-automation-evidence"' in html
    assert 'data-figure="figure-automation-lag"' in html
    # Each cell's targets open in a <details>: production has three regions.
    assert "3 targets" in html and "<details>" in html


def test_estate_matrix_team_filter_and_permissions(demo) -> None:
    alice = login("alice")

    mine = alice.get(url("/dashboards/estate", team="payments", until=UNTIL))
    assert mine.status_code == 200
    assert "service=checkout" in mine.content.decode()
    assert alice.get(url("/dashboards/estate", team="platform")).status_code == 403
    lead = login("lead", leadership=True)
    platform = lead.get(url("/dashboards/estate", team="platform", until=UNTIL)).content.decode()
    assert "service=network-stack" in platform and "service=checkout" not in platform
    assert lead.get(url("/dashboards/estate", team="no-such-team")).status_code == 404
    assert lead.get(url("/dashboards/estate", until="yesterday")).status_code == 400


def test_estate_matrix_cell_says_when_a_drift_check_found_drift(demo) -> None:
    AutomationInstance.objects.filter(
        service__name="k8s-platform", environment__name="production", target__name="eu-west-1"
    ).update(drift_detected=True, drift_checked_at=datetime(2026, 3, 1, tzinfo=UTC))
    lead = login("lead", leadership=True)

    html = lead.get(url("/dashboards/estate", until=UNTIL)).content.decode()
    before = lead.get(url("/dashboards/estate", until="2026-02-28T00:00:00Z")).content.decode()

    row = html[html.index("service=k8s-platform") :]
    row = row[: row.index('<th scope="row">')]
    # The row's cells in promotion order; the demo's out-of-band change drifts staging too.
    production = row.split('<td class="cell ')[3]
    assert production.count("drift found on 1 target") == 1
    assert "changes outside the pipeline" not in production
    before_row = before[before.index("service=k8s-platform") :]
    before_row = before_row[: before_row.index('<th scope="row">')]
    before_production = before_row.split('<td class="cell ')[3]
    assert "drift found" not in before_production  # checked after that moment: unknown then


def test_estate_matrix_at_a_past_moment_shows_what_was_live_then(demo) -> None:
    lead = login("lead", leadership=True)

    early = lead.get(url("/dashboards/estate", until="2025-12-10T00:00:00Z")).content.decode()
    late = lead.get(url("/dashboards/estate", until=UNTIL)).content.decode()

    assert early != late
    assert "live at 10 Dec 2025 00:00 UTC" in early


def test_estate_matrix_for_someone_without_teams(demo) -> None:
    response = login("nobody").get("/dashboards/estate")

    assert response.status_code == 200
    assert "not a member of any team" in response.content.decode()


# ---------------------------------------------------------------------------------------------
# Gate decisions
# ---------------------------------------------------------------------------------------------


def decision(service: str, *, allowed: bool, pipeline_run: str = "", **extra) -> GateDecision:
    return GateDecision.objects.create(
        id=uuid.uuid4(),
        evaluated_at=extra.pop("evaluated_at", datetime(2026, 3, 2, 11, tzinfo=UTC)),
        service=service,
        version=extra.pop("version", "v9.9.9"),
        from_env=extra.pop("from_env", "staging"),
        to_env=extra.pop("to_env", "production"),
        pipeline_run=pipeline_run,
        requested_by=extra.pop("requested_by", "token:ci"),
        allowed=allowed,
        checks=extra.pop(
            "checks",
            [
                {"name": "soak_time", "passed": True, "severity": "block", "detail": "2h"},
                {"name": "no_drift", "passed": False, "severity": "warn", "detail": "drifted"},
            ],
        ),
    )


def test_gate_decisions_for_a_member_are_their_services_only(
    demo, django_assert_max_num_queries
) -> None:
    client = login("alice")
    payments = set(Service.objects.filter(team__name="payments").values_list("name", flat=True))

    with django_assert_max_num_queries(MAX_QUERIES["gate"]):
        response = client.get("/dashboards/gate")

    assert response.status_code == 200
    html = response.content.decode()
    no_external_urls(html)
    shown = set(re.findall(r'<a href="/dashboards/service\?service=([\w-]+)">', html))
    assert shown and shown <= payments
    visible = GateDecision.objects.filter(service__in=payments)
    assert f"{visible.count()} decisions: {visible.filter(allowed=True).count()} allowed" in html
    assert html.count('<tr id="decision-') == min(25, visible.count())
    assert client.get(url("/dashboards/gate", service="search")).status_code == 403


def test_gate_decisions_filters_and_pages(demo) -> None:
    client = login("lead", leadership=True)
    total = GateDecision.objects.count()
    blocked = GateDecision.objects.filter(allowed=False).count()

    only_blocked = client.get(url("/dashboards/gate", outcome="blocked")).content.decode()
    assert f"{blocked} decisions: 0 allowed, {blocked} blocked" in only_blocked
    assert "outcome-allowed" not in only_blocked
    # Why: the demo's stale network stack in staging blocks the services on it (source_fresh).
    reasons = only_blocked[only_blocked.index('id="blocking-reasons"') :]
    assert re.search(r'<span class="mono">source_fresh</span> \d+×', reasons)
    web = client.get(url("/dashboards/gate", service="web", outcome="allowed")).content.decode()
    expected = GateDecision.objects.filter(service="web", allowed=True).count()
    assert f"{expected} decision" in web
    pair = client.get(url("/dashboards/gate", **{"from": "production", "to": "staging"}))
    assert "No decisions match these filters." in pair.content.decode()
    second = client.get(url("/dashboards/gate", page="2")).content.decode()
    assert f"page 2 of {(total + 24) // 25}" in second
    assert "outcome=blocked&amp;page=2" in only_blocked or blocked <= 25
    assert client.get(url("/dashboards/gate", outcome="maybe")).status_code == 400


def test_gate_decision_rows_expand_to_checks_and_link_a_pipeline_url(demo) -> None:
    decision(
        "checkout",
        allowed=False,
        pipeline_run="https://ci.example.com/acme/checkout/runs/77",
        evaluated_at=datetime(2026, 3, 3, tzinfo=UTC),  # the newest: first on the page
        checks=[
            {"name": "soak_time", "passed": True, "severity": "block", "detail": "2h"},
            {"name": "source_fresh", "passed": False, "severity": "block", "detail": "stale 9d"},
            {"name": "no_drift", "passed": False, "severity": "warn", "detail": "drifted"},
        ],
    )

    html = login("alice").get("/dashboards/gate").content.decode()

    first = html[html.index('<tr id="decision-') :]
    first = first[: first.index("</tr>\n")]
    assert '<a href="https://ci.example.com/acme/checkout/runs/77"' in first
    assert "blocked by source_fresh" in first
    # Failures first, each in words beside its colour.
    assert first.index("source_fresh") < first.index("no_drift") < first.index("soak_time")
    assert "failed (blocks)" in first and "failed (warn only)" in first and "passed" in first
    assert "token:ci" in first


def pdf_texts(body: bytes) -> list[bytes]:
    """The PDF's bytes and each of its (deflated) streams, inflated."""
    texts = [body]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", body, flags=re.S):
        try:
            texts.append(zlib.decompress(stream))
        except zlib.error:
            continue
    return texts


def pdf_page_count(body: bytes) -> int:
    """The /Count of the PDF's page tree, read through its (deflated) object streams."""
    texts = pdf_texts(body)
    counts = [
        int(n) for text in texts for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", text)
    ]
    counts += [
        int(n) for text in texts for n in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", text)
    ]
    return max(counts, default=0)


# ---------------------------------------------------------------------------------------------
# Leadership report
# ---------------------------------------------------------------------------------------------


def test_leadership_report_is_for_leadership_and_staff_only(demo) -> None:
    alice = login("alice")
    for path in ("/dashboards/report", "/dashboards/report.pdf", "/dashboards/report.csv"):
        response = alice.get(url(path, **FEBRUARY))
        assert response.status_code == 403, path
    assert "leadership group" in alice.get("/dashboards/report").content.decode()
    assert (
        login("ops", staff=True).get(url("/dashboards/report.csv", **FEBRUARY)).status_code == 200
    )
    assert Client().get("/dashboards/report").status_code == 302  # log in first


def test_leadership_report_page_in_sentences_within_the_bound(
    demo, django_assert_max_num_queries
) -> None:
    client = login("lead", leadership=True)

    with django_assert_max_num_queries(MAX_QUERIES["report"]):
        response = client.get(url("/dashboards/report", **FEBRUARY))

    assert response.status_code == 200
    html = response.content.decode()
    no_external_urls(html)
    assert "Leadership report: February 2026" in html and "against January 2026" in html
    headline = html[html.index('id="headline-sentences"') :]
    headline = headline[: headline.index("</ul>")]
    sentences = re.findall(r"<li[^>]*>(.*?)</li>", headline)
    # A change that is not significant stays, quiet (muted); a significant one is not.
    for tag, text in re.findall(r"(<li[^>]*>)(.*?)</li>", headline):
        assert ('class="quiet"' in tag) == (", significant)" not in text), text
    deltas = re.findall(
        r'<span class="delta ([^"]*)">(?:(?!<span class="delta).)*?'
        r'<span class="sig( yes)?">([^<]*)<',
        html,
        re.S,
    )
    assert deltas
    for classes, _, words in deltas:
        assert ("insignificant" in classes) == (words != "significant"), (classes, words)
    assert len(sentences) == 5
    assert sentences[1].startswith("Lead time ")
    assert all(re.search(r"(significant|too few to tell|no data)", s) for s in sentences), sentences
    assert re.search(r"Of 4 teams, ", html)
    assert html.count("<li>", html.index('id="improvements-list"')) >= 1
    risks = html[html.index('id="risk-sentences"') :]
    assert "network-stack in staging" in risks  # the demo's stale stack
    assert "The promotion gate blocked " in risks
    # The report opens with its three takeaways, before the headline figures.
    takeaways = html[html.index('id="takeaway-sentences"') : html.index('id="headline"')]
    items = re.findall(r"<li>(.*?)</li>", takeaways, re.S)
    assert len(items) == 3, items
    assert "Change that matters most:</strong> " in items[0]
    assert re.search(r"(a significant (worsening|improvement)|No significant change)", items[0])
    assert "Biggest estate risk:</strong> " in items[1]
    assert "Promotion gate:</strong> " in items[2] and "February 2026" in items[2]
    assert 'data-figure="figure-teams-per-level"' in html
    assert "/dashboards/report.pdf?period=month&amp;date=2026-02-01" in html
    assert 'aria-label="Benchmark year"' in html


def test_leadership_report_pdf_is_a_pdf_with_pages(demo) -> None:
    response = login("lead", leadership=True).get(url("/dashboards/report.pdf", **FEBRUARY))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="leadership-report-2026-02.pdf"' in response["Content-Disposition"]
    body = response.content
    assert body.startswith(b"%PDF-")
    assert pdf_page_count(body) >= 1
    assert body.rstrip().endswith(b"%%EOF")
    # The PDF is drawn from this HTML: it opens with the three takeaways too.
    report = leadership_report(
        period_of("month", datetime(2026, 2, 1).date()), now=datetime(2026, 3, 2, 12, tzinfo=UTC)
    )
    html = render_to_string("dora/leadership_pdf.html", leadership_context(report))
    takeaways = html[html.index('id="takeaway-sentences"') : html.index('id="headline"')]
    assert [s for s in report.takeaways if s in takeaways] == list(report.takeaways)
    assert len(report.takeaways) == 3 and "1–28 Feb 2026 (UTC)" in html


def test_leadership_report_csv_has_a_row_per_team_and_figure(demo) -> None:
    response = login("lead", leadership=True).get(
        url("/dashboards/report.csv", period="quarter", date="2026-01-15")
    )

    assert response.status_code == 200
    assert 'filename="leadership-report-2026-Q1.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert tuple(rows[0]) == CSV_HEADER
    # The takeaways come first, one row each, with their sentence and no numbers.
    takeaways, rows = rows[:3], rows[3:]
    assert [r["team"] for r in takeaways] == ["(takeaway)"] * 3
    assert [r["figure"] for r in takeaways] == list(TAKEAWAY_FIGURES)
    assert all(r["sentence"] and r["value"] == "" for r in takeaways)
    assert "Q1 2026" in takeaways[2]["sentence"]
    teams = Team.objects.count()
    assert len(rows) == (teams + 1) * 5
    assert {r["team"] for r in rows} == {
        "(organisation)",
        *Team.objects.values_list("name", flat=True),
    }
    lead_time = next(
        r for r in rows if r["team"] == "(organisation)" and r["figure"] == "lead_time"
    )
    assert lead_time["period_start"] == "2026-01-01" and lead_time["previous_start"] == "2025-10-01"
    assert float(lead_time["value"]) > 0 and int(lead_time["n"]) > 0
    assert lead_time["significant"] in ("significant", "not significant", "too few to tell")


def test_leadership_report_parameters(demo) -> None:
    client = login("lead", leadership=True)

    assert client.get(url("/dashboards/report", period="week")).status_code == 400
    assert client.get(url("/dashboards/report", date="2026-02-30")).status_code == 400
    assert client.get(url("/dashboards/report", date="2999-01-01")).status_code == 400
    # The default (last complete month of the real clock) has no demo data: it says so.
    default = client.get("/dashboards/report")
    assert default.status_code == 200
    assert "had no data in either period" in default.content.decode()
