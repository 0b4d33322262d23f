"""The e-mail digests: a team's weekly digest and the monthly leadership digest (docs/DIGESTS.md).

A digest is built from the computations the pages use (dora.reads.dashboards' weeks and comparison,
the report's automation lag and lead-time items, dora.reads.leadership's report and its PDF),
rendered from templates/dora/email/ as HTML with a plain-text part, and sent through Django's e-mail
backend. `digests_send` is the beat task's work: each digest that is due and not yet sent goes
out once (a DigestSent row, claimed in the transaction that sends it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pandas as pd
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse

from dora import targets as figure_targets
from dora.leadership_pdf import report_pdf_bytes
from dora.metrics import DEFINITIONS_URL
from dora.models import DigestSent, OrganisationSettings, Team
from dora.reads import dashboards as dash
from dora.reads import leadership as lead
from dora.reads.figures import Figure
from dora.reads.links import explain_url
from dora.reads.report import MetricsComputation
from dora.reads.report_items import _with_change
from dora.reads.report_query import MetricsQuery, metrics_query_parse
from dora.reads.scope import ORGANISATION_TIMEZONE
from dora.reads.value_stream import change_links
from dora.reads.weeks import Comparison, WeekRow, local_monday, week_rows, weekly
from dora.units import duration_human
from dora.web.access import LEADERSHIP_GROUP
from dora.window import Window, last_complete_day, local_midnight

logger = logging.getLogger(__name__)

SLOWEST_CHANGES = 5
STALE_SHOWN = 10
# Read at once for a team's two weeks (MetricsComputation.prefetch).
TEAM_FRAMES = (
    "rollouts",
    "arrivals",
    "first_rollout_at",
    "automation_runs",
    "deploy_pipelines",
    "environment_settings",
)
# How long after it falls due a digest is still sent (a run missed while workers were down).
DIGEST_CATCH_UP = timedelta(days=2)
ARROWS = {"up": "▲", "down": "▼", "flat": "=", "none": ""}


@dataclass(frozen=True)
class Digest:
    """One digest, ready to send: subject, the template context, both parts, who gets it and
    which period it covers (a team's week's Monday, the leadership report's month)."""

    kind: str  # DigestSent.Kind
    team: Team | None
    period_start: date
    subject: str
    context: dict[str, Any] = field(repr=False)
    html: str = field(repr=False)
    text: str = field(repr=False)
    to: tuple[str, ...] = ()
    attachments: tuple[tuple[str, bytes, str], ...] = field(default=(), repr=False)

    def message(self) -> EmailMultiAlternatives:
        message = EmailMultiAlternatives(
            subject=self.subject,
            body=self.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=list(self.to),
        )
        message.attach_alternative(self.html, "text/html")
        for filename, content, mimetype in self.attachments:
            message.attach(filename, content, mimetype)
        return message


def absolute(path: str) -> str:
    """A path of this server as a link an e-mail can carry (DORA_BASE_URL)."""
    return f"{settings.DORA_BASE_URL}{path}"


# ---------------------------------------------------------------------------------------------
# Targets (dora.targets: attainments of the configured goals)
# ---------------------------------------------------------------------------------------------


def targets_attainments(*, team: str, now: datetime) -> list[figure_targets.Attainment]:
    """The team's target attainments (dora.targets.attainments) at `now` (a weekly digest
    passes its week's end, local Monday 00:00): its own targets and its services'. A digest
    builder takes another function in its place (tests)."""
    return list(figure_targets.attainments(team=team, now=now))


def targets_context(items: Sequence[Any]) -> dict[str, Any]:
    """The "Targets met and missed" section: missed first (what needs attention), then met,
    then those without data."""
    rows = [
        {
            "label": item.label,
            "value_text": item.value_text,
            "status": item.status,
            "status_text": {"met": "Met", "missed": "Missed"}.get(item.status, "No data"),
        }
        for item in items
    ]
    order = {"missed": 0, "met": 1}
    rows.sort(key=lambda row: (order.get(row["status"], 2), row["label"]))
    return {
        "rows": rows,
        "met": sum(row["status"] == "met" for row in rows),
        "missed": sum(row["status"] == "missed" for row in rows),
        "no_data": sum(row["status"] not in order for row in rows),
    }


# ---------------------------------------------------------------------------------------------
# Who gets a digest
# ---------------------------------------------------------------------------------------------


def _unique(addresses: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for address in addresses:
        address = address.strip()
        if address and address.lower() not in seen:
            seen[address.lower()] = address
    return tuple(sorted(seen.values(), key=str.lower))


def team_recipients(team: Team) -> tuple[str, ...]:
    """The active users among the team's members with an e-mail address, plus the team's
    `digest: to:` addresses; nobody when its digest is off."""
    if not team.digest_enabled:
        return ()
    emails = (
        get_user_model()
        .objects.filter(username__in=list(team.members or []), is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    return _unique([*emails, *(team.digest_to or [])])


def leadership_recipients() -> tuple[str, ...]:
    """`organisation: digest: to:` plus the active users of the leadership group with an
    e-mail address (the report's readers, dora.web.access)."""
    configured = OrganisationSettings.objects.values_list("digest_to", flat=True).first() or []
    emails = (
        get_user_model()
        .objects.filter(groups__name=LEADERSHIP_GROUP, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    return _unique([*emails, *configured])


# ---------------------------------------------------------------------------------------------
# A team's weekly digest
# ---------------------------------------------------------------------------------------------


def digest_week(now: datetime, tz: str) -> date:
    """The local Monday of the week a digest sent at `now` reports: the last complete week."""
    monday = local_monday(now, tz).astimezone(ZoneInfo(tz)).date()
    return monday - timedelta(days=7)


def _due(now: datetime, start: datetime) -> bool:
    """Due from `start` (local) for DIGEST_CATCH_UP: a run missed then (workers down) sends
    it later, but never a digest so late that it is news no more."""
    return start <= now < start + DIGEST_CATCH_UP


def weekly_due(now: datetime, tz: str) -> bool:
    """Whether the digest of the week just ended is due: from Monday DORA_DIGEST_HOUR:00 in
    `tz` for DIGEST_CATCH_UP."""
    monday = local_monday(now, tz).astimezone(ZoneInfo(tz))
    return _due(now, monday.replace(hour=settings.DORA_DIGEST_HOUR))


def _week_window(monday: date, tz: str, now: datetime) -> Window:
    return Window(
        range="1w",
        first=monday,
        last=monday + timedelta(days=6),
        tz=tz,
        latest=last_complete_day(now, tz),
    )


def _explain(name: str, team: str, window: Window, benchmark: int) -> str:
    """The explain page of figure `name` for the team's week, absolute."""
    return absolute(explain_url(name, scope={"team": team}, window=window, benchmark=benchmark))


def change_words(change: Comparison) -> str:
    """A change against the period before in words, never colour alone: "▲ +2.0/week, better
    (not significant)" (METRICS §6: significant when the 95% intervals are apart)."""
    if change.direction == "none":
        return "no comparison (a period without data)"
    if change.text == "unchanged" or change.direction == "flat":
        return "= unchanged"
    verdict = "" if change.better is None else (", better" if change.better else ", worse")
    return f"{ARROWS[change.direction]} {change.text}{verdict} ({change.significance_text})"


def _week_text(figure: Figure) -> str:
    """A week's value; the week's count of rollouts says what it counts."""
    if figure.key == "deployment_frequency":
        return f"{figure.n} rollout" + ("" if figure.n == 1 else "s")
    return figure.text


def _n_text(figure: Figure) -> str:
    """How many items a week's value stands on ("" for frequency: its value is its count)."""
    if figure.key == "deployment_frequency":
        return ""
    return f"{figure.n} {figure.n_label}"


def figure_rows(
    rows: Sequence[WeekRow], team: str, weeks: dict[str, Window], benchmark: int
) -> list[dict[str, Any]]:
    """The five figures, this week against last week, with the week's explain page."""
    return [
        {
            "key": row.key,
            "label": row.label,
            "this_week": _week_text(row.this_week),
            "this_n": _n_text(row.this_week),
            "last_week": _week_text(row.last_week),
            "last_n": _n_text(row.last_week),
            "change": change_words(row.change),
            "direction": row.change.direction,
            "better": row.change.better,
            "url": _explain(row.key, team, weeks["this"], benchmark),
        }
        for row in rows
    ]


def slowest_changes(
    c: MetricsComputation, result: dash.Headline, *, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """The SLOWEST_CHANGES changes that reached production in [since, until) with the longest
    lead time (timed, valid), with their pull or merge request's page when it has one."""
    items = result.lead_time.items
    if items.empty:
        return []
    arrived = pd.to_datetime(items["arrived_at"], utc=True)
    timed = items[
        (arrived >= since) & (arrived < until) & ~items["unattributed"] & ~items["invalid"]
    ]
    if timed.empty:
        return []
    slowest = _with_change(timed, c.arrivals).sort_values(
        ["lead_time_seconds", "change"], ascending=[False, True], kind="stable"
    )
    slowest = slowest.head(SLOWEST_CHANGES)
    ids = [int(i) for i in slowest["change_id"].dropna()]
    links = change_links(ids)
    rows = []
    for row in slowest.itertuples(index=False):
        change_id = None if pd.isna(row.change_id) else int(row.change_id)
        label, url = links.get(change_id, ("", "")) if change_id is not None else ("", "")
        rows.append(
            {
                "change": label or str(row.change),
                "title": "" if pd.isna(row.title) else str(row.title),
                "service": row.service,
                "lead_time": duration_human(float(row.lead_time_seconds)),
                "lead_time_seconds": float(row.lead_time_seconds),
                "arrived_at": pd.Timestamp(row.arrived_at).to_pydatetime(),
                "url": url,
            }
        )
    return rows


def stale_environments(c: MetricsComputation) -> list[dict[str, Any]]:
    """The automation instances of the scope stale at the end of the week (METRICS §4.3):
    longest without a successful run first; never succeeded first of all."""
    table = c.automation.instances
    if table.empty:
        return []
    stale = table[table["stale"]].sort_values(
        ["lag_seconds", "environment", "service", "target"],
        ascending=[False, True, True, True],
        na_position="first",
    )
    return [
        {
            "environment": row.environment,
            "service": row.service,
            "target": row.target or "",
            "last_success_at": None
            if pd.isna(row.last_success_at)
            else pd.Timestamp(row.last_success_at).to_pydatetime(),
            "age": "never succeeded"
            if pd.isna(row.lag_seconds)
            else f"{duration_human(float(row.lag_seconds))} ago",
            "stale_after": duration_human(float(row.stale_after_seconds)),
        }
        for row in stale.itertuples(index=False)
    ]


def team_digest(
    team: Team,
    *,
    now: datetime,
    attainments: Callable[..., Sequence[Any]] = targets_attainments,
) -> Digest:
    """The weekly digest of `team` as sent at `now`: the last complete local week against the
    one before (dora.reads.weeks.weekly and week_rows, the team page's figures), targets met
    and missed, stale environments at the week's end, and the week's slowest changes."""
    tz = team.timezone or "UTC"
    monday = digest_week(now, tz)
    previous = monday - timedelta(days=7)
    since, until = local_midnight(previous, tz), local_midnight(monday + timedelta(days=7), tz)
    week_since = local_midnight(monday, tz)
    parsed = metrics_query_parse(now=now, team=team.name, rule_window=False)
    query = MetricsQuery(
        scope=parsed.scope,
        since=since,
        until=until,
        benchmark=parsed.benchmark,
        industry=parsed.industry,
    )
    c = MetricsComputation(query, now=now)
    c.prefetch(TEAM_FRAMES)
    result = dash.headline(
        c.rollouts,
        c.arrivals,
        since=since,
        until=until,
        now=now,
        tz=tz,
        benchmark=query.benchmark,
        first_rollout_at=c.first_rollout_at,
        incidents=dash.incidents_for_levels(c),
        industry=query.industry,
    )
    series = weekly(result, weeks=[previous, monday], tz=tz)
    weeks = {"this": _week_window(monday, tz, now), "last": _week_window(previous, tz, now)}
    stale = stale_environments(c)
    team_url = absolute(
        f"{reverse('dashboard-team')}?{urlencode({'team': team.name, **weeks['this'].params()})}"
    )
    context = {
        "team": team.name,
        "timezone": tz,
        "week": weeks["this"],
        "week_text": weeks["this"].dates_text,
        "last_week_text": weeks["last"].dates_text,
        "figures": figure_rows(week_rows(result, series), team.name, weeks, query.benchmark),
        # At the week's end, as the figures: a digest sent late says what it would have said.
        "targets": targets_context(attainments(team=team.name, now=until)),
        "stale": stale[:STALE_SHOWN],
        "stale_more": max(0, len(stale) - STALE_SHOWN),
        "stale_url": absolute(f"{reverse('dashboard-estate')}?{urlencode({'team': team.name})}"),
        "slowest": slowest_changes(c, result, since=week_since, until=until),
        "slowest_url": _explain("lead_time", team.name, weeks["this"], query.benchmark),
        "team_url": team_url,
        "definitions_url": absolute(DEFINITIONS_URL),
    }
    subject = f"{team.name}: delivery digest for the week of {weeks['this'].dates_text}"
    return Digest(
        kind=DigestSent.Kind.WEEKLY,
        team=team,
        period_start=monday,
        subject=subject,
        context=context,
        html=render_to_string("dora/email/team_digest.html", context),
        text=render_to_string("dora/email/team_digest.txt", context),
        to=team_recipients(team),
    )


# ---------------------------------------------------------------------------------------------
# The monthly leadership digest
# ---------------------------------------------------------------------------------------------


def monthly_due(now: datetime) -> bool:
    """Whether the leadership digest of the month just ended is due: from the 1st at
    DORA_DIGEST_HOUR:00 in the organisation's time zone (UTC: scope.ORGANISATION_TIMEZONE)
    for DIGEST_CATCH_UP."""
    local = now.astimezone(ZoneInfo(ORGANISATION_TIMEZONE))
    first = local.replace(day=1, hour=settings.DORA_DIGEST_HOUR, minute=0, second=0, microsecond=0)
    return _due(now, first)


def leadership_digest(*, now: datetime) -> Digest:
    """The leadership digest sent at `now`: the previous calendar month's leadership report
    (dora.reads.leadership) in brief, with the report's PDF attached."""
    period = lead.period_of("month", now.date()).previous()
    report = lead.leadership_report(period, now=now)
    month = f"{period.start:%Y-%m}"
    params = urlencode({"period": "month", "date": period.start.date().isoformat()})
    context = {
        "report": report,
        "organisation": [
            {
                "label": row.label,
                "current": row.current.text,
                "previous": row.previous.text,
                "change": change_words(row.comparison),
                "sentence": row.sentence,
            }
            for row in report.organisation
        ],
        "report_url": absolute(f"{reverse('dashboard-report')}?{params}"),
        "pdf_url": absolute(f"{reverse('dashboard-report-pdf')}?{params}"),
        "overview_url": absolute(reverse("dashboard-overview")),
        "definitions_url": absolute(DEFINITIONS_URL),
    }
    pdf = report_pdf_bytes(report, definitions=absolute(DEFINITIONS_URL))
    return Digest(
        kind=DigestSent.Kind.MONTHLY,
        team=None,
        period_start=period.start.date(),
        subject=f"Leadership report: {report.period.label}",
        context=context,
        html=render_to_string("dora/email/leadership_digest.html", context),
        text=render_to_string("dora/email/leadership_digest.txt", context),
        to=leadership_recipients(),
        attachments=((f"leadership-report-{month}.pdf", pdf, "application/pdf"),),
    )


# ---------------------------------------------------------------------------------------------
# Sending, once
# ---------------------------------------------------------------------------------------------


def digest_sent(kind: str, team: Team | None, period_start: date) -> bool:
    return DigestSent.objects.filter(kind=kind, team=team, period_start=period_start).exists()


def digest_deliver(digest: Digest, *, now: datetime) -> bool:
    """Send `digest` unless it was sent already; True when this call sent it.

    The DigestSent row is inserted in the transaction that sends the message: a second worker
    inserting the same row waits for this one and then fails the unique constraint (nothing
    sent twice); a send that raises rolls the row back, so the next run tries again."""
    if not digest.to:
        return False
    with transaction.atomic():
        try:
            with transaction.atomic():
                DigestSent.objects.create(
                    kind=digest.kind,
                    team=digest.team,
                    period_start=digest.period_start,
                    sent_at=now,
                    recipients=list(digest.to),
                )
        except IntegrityError:
            return False
        digest.message().send()
    return True


@dataclass
class SendReport:
    """What a pass of `digests_send` did: (subject, recipients) sent, and why others were not."""

    sent: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def digests_send(
    *,
    now: datetime,
    teams: Sequence[str] | None = None,
    leadership: bool = True,
    attainments: Callable[..., Sequence[Any]] = targets_attainments,
) -> SendReport:
    """Send every digest due at `now` and not yet sent: each team's weekly digest from its
    Monday DORA_DIGEST_HOUR:00 local time, the leadership digest from the 1st of the month at
    that hour (UTC). A team without recipients is skipped before anything is computed; one
    digest failing (logged) does not stop the others."""
    now = now.astimezone(UTC)
    report = SendReport()
    queryset = Team.objects.order_by("name")
    if teams is not None:
        queryset = queryset.filter(name__in=list(teams))
    for team in queryset:
        tz = team.timezone or "UTC"
        if not weekly_due(now, tz):
            report.skipped.append(f"{team.name}: not due ({_due_text('Monday', 'Wednesday')})")
            continue
        if digest_sent(DigestSent.Kind.WEEKLY, team, digest_week(now, tz)):
            report.skipped.append(f"{team.name}: already sent")
            continue
        if not team_recipients(team):
            report.skipped.append(f"{team.name}: no recipients")
            continue
        _send(
            report, team.name, lambda t=team: team_digest(t, now=now, attainments=attainments), now
        )
    if leadership:
        month = lead.period_of("month", now.date()).previous().start.date()
        if not monthly_due(now):
            report.skipped.append(f"leadership: not due ({_due_text('the 1st', 'the 3rd')})")
        elif digest_sent(DigestSent.Kind.MONTHLY, None, month):
            report.skipped.append("leadership: already sent")
        elif not leadership_recipients():
            report.skipped.append("leadership: no recipients")
        else:
            _send(report, "leadership", lambda: leadership_digest(now=now), now)
    return report


def _due_text(first: str, last: str) -> str:
    hour = f"{settings.DORA_DIGEST_HOUR:02d}:00"
    return f"{first} {hour} to {last} {hour}, local"


def _send(report: SendReport, name: str, build: Callable[[], Digest], now: datetime) -> None:
    try:
        digest = build()
        if digest_deliver(digest, now=now):
            report.sent.append((digest.subject, digest.to))
        else:
            report.skipped.append(f"{name}: already sent")
    except Exception:  # noqa: BLE001 - one digest's failure must not stop the others
        logger.exception("digest for %s failed; the next run tries again", name)
        report.failed.append(name)
