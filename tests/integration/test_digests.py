"""The weekly team digest and the monthly leadership digest (docs/DIGESTS.md) on two weeks of
events sent through the intake, with the clock passed in: figures computed by hand from
METRICS.md (arithmetic in comments), checked in the context, the rendered HTML and the text."""

from __future__ import annotations

import io
import re
import socket
import threading
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from celery import current_app
from django.contrib.auth.models import Group, User
from django.core import mail
from django.core.mail.backends import locmem
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.urls import resolve

from dora.digests import digest_deliver, digests_send, leadership_digest, team_digest
from dora.intake.events import events_record
from dora.models import DigestSent, Environment, OrganisationSettings, Service, Team
from dora.targets import Attainment
from dora.tasks import digests_send_task
from dora.web.access import LEADERSHIP_GROUP
from tests.builders import change, commit, deployment, when

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]

BASE = "https://dora.example.test"
HOUR = 3600.0
# T0 is Mon 2026-03-02 09:00 UTC. Last week: Mon 03-02 00:00 to Mon 03-09 00:00 UTC, hours
# [-9, 159) after T0; this week: Mon 03-09 to Mon 03-16 00:00, hours [159, 327).
SENT_AT = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)  # Monday 09:00 UTC
PR_URL = "https://git.example.test/acme/shop/pull/{}"


@pytest.fixture(autouse=True)
def _mail(settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DORA_BASE_URL = BASE
    settings.DORA_DIGEST_HOUR = 8


def record(events: list[dict[str, Any]]) -> None:
    report = events_record(events)
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]


def pr(number: int, name: str, parent: str, *, authored: float, merged: float) -> list[dict]:
    """Commit `name` (authored at `authored` h) and its pull request, merged at `merged` h."""
    return [
        commit(name, [parent], hours=authored),
        change(
            number,
            [name],
            created=authored + 1,
            merged=merged,
            merge=name,
            title=f"change {number}",
            url=PR_URL.format(number),
        ),
    ]


def two_weeks() -> Team:
    """Team payments (UTC; members alice and bob) owns shop (repo acme/shop).

    -200 c0 authored; -196 d0 ships it (the first rollout: unattributed, before both weeks)
    -100 a successful apply of shop in staging (stale_after 3 days): nothing since
    Last week:  PR1 (c1 authored 0) shipped by d1 at 5 h   -> lead 5 h
                PR2 (c2 authored 10) shipped by d2 at 20 h -> lead 10 h
    This week:  PR3 (c3, 168) by d3 at 180                 -> 12 h
                PR4 (c4, 190) by d4 at 200                 -> 10 h
                d5 at 202 ships c3 again: a rollback of d4 (r4 failed, restored at 202)
                PR5 (c5, 210) by d6 at 250                 -> 40 h
                PR6 (c6, 220) by d7 at 300                 -> 80 h
                PR7 (c7, 230) and PR8 (c8, 245) by d8 at 320 -> 90 h and 75 h
    Next week:  PR9 (c9, 328) by d9 at 335 (Mon 03-16 08:00): not in this digest
    A successful apply of shop in development at 300 h: not stale.
    """
    team = Team.objects.create(
        name="payments", timezone="UTC", members=["alice", "bob"], digest_to=["lead@example.com"]
    )
    Service.objects.create(name="shop", team=team, repos=["acme/shop"])
    Environment.objects.create(
        name="staging", tier="staging", order=3, stale_after=timedelta(days=3)
    )
    User.objects.create_user("alice", email="alice@example.com")
    User.objects.create_user("bob")  # no address: not a recipient
    User.objects.create_user("carol", email="carol@example.com")  # not a member
    events = [commit("c0", hours=-200), deployment("d0", "c0", hours=-196)]
    plan = [
        (1, "c1", "c0", 0, 2, "d1", 5),
        (2, "c2", "c1", 10, 12, "d2", 20),
        (3, "c3", "c2", 168, 170, "d3", 180),
        (4, "c4", "c3", 190, 192, "d4", 200),
        (5, "c5", "c4", 210, 212, "d6", 250),
        (6, "c6", "c5", 220, 222, "d7", 300),
        (7, "c7", "c6", 230, 232, None, None),
        (8, "c8", "c7", 245, 247, "d8", 320),
        (9, "c9", "c8", 328, 330, "d9", 335),
    ]
    for number, name, parent, authored, merged, deploy, hours in plan:
        events += pr(number, name, parent, authored=authored, merged=merged)
        if deploy:
            events.append(deployment(deploy, name, hours=hours))
    events.append(deployment("d5", "c3", hours=202))  # back to c3: the rollback
    for ident, environment, hours in (("apply-1", "staging", -100), ("apply-2", "dev", 300)):
        events.append(
            {
                "type": "automation_run",
                "id": ident,
                "service": "shop",
                "environment": environment,
                "action": "apply",
                "status": "success",
                "finished_at": when(hours).isoformat(),
            }
        )
    record(events)
    return team


class Cells(HTMLParser):
    """The rendered HTML's tables (by id): each row's attributes and cell texts, and every
    link's href."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[tuple[dict[str, str], list[str]]]] = {}
        self.links: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "table" and "id" in attributes:
            self._table = attributes["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append((attributes, []))
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "a":
            self.links.append(attributes["href"])
        elif tag in ("script", "img", "link"):
            raise AssertionError(f"an e-mail carries no <{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            text = " ".join("".join(self._cell).split())
            self.tables[self._table][-1][1].append(text)
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def rows(self, table: str) -> list[list[str]]:
        return [cells for _, cells in self.tables[table][1:]]  # the header row left out


def attainments(*, team: str, now: datetime) -> list[Attainment]:
    # At the end of the digest's week (Mon 03-16 00:00 UTC), not when it is sent.
    assert (team, now) == ("payments", datetime(2026, 3, 16, tzinfo=UTC))
    common = {"subject": "team", "subject_name": team, "window": timedelta(days=28)}
    return [
        Attainment(
            1,
            figure="lead_time.p50_seconds",
            direction="below",
            threshold=86400.0,
            value=57.5 * HOUR,
            status="missed",
            label="Lead time median below 1 day",
            value_text="2.4 days",
            **common,
        ),
        Attainment(
            2,
            figure="change_failure_rate.rate",
            direction="below",
            threshold=0.25,
            value=0.2,
            status="met",
            label="Change failure rate below 25%",
            value_text="20.0%",
            **common,
        ),
    ]


def test_team_digest_this_week_against_last_week_in_context_html_and_text() -> None:
    team = two_weeks()

    digest = team_digest(team, now=SENT_AT, attainments=attainments)

    assert digest.period_start.isoformat() == "2026-03-09"
    assert digest.subject == "payments: delivery digest for the week of Mon 9 Mar – Sun 15 Mar 2026"
    assert digest.to == ("alice@example.com", "lead@example.com")
    figures = {row["key"]: row for row in digest.context["figures"]}
    # Counted rollouts: this week r3, r4, r6, r7, r8 (the rollback d5 is not counted): 5;
    # last week r1, r2: 2. 5 - 2 = +3 a week, more is better.
    assert figures["deployment_frequency"]["this_week"] == "5 rollouts"
    assert figures["deployment_frequency"]["last_week"] == "2 rollouts"
    assert figures["deployment_frequency"]["change"].startswith("▲ +3.0/week, better")
    # Lead times this week 10, 12, 40, 75, 80, 90 h: median (40 + 75) / 2 = 57.5 h = 2.4 days;
    # last week 5 and 10 h: 7.5 h. 57.5 - 7.5 = 50 h = 2.1 days longer: worse.
    assert figures["lead_time"]["this_week"] == "2.4 days"
    assert figures["lead_time"]["this_n"] == "6 changes"
    assert figures["lead_time"]["last_week"] == "7.5 h"
    assert figures["lead_time"]["change"].startswith("▲ +2.1 days, worse")
    # r4 failed (rolled back) of five: 20.0%; last week 0 of 2: 0.0%.
    assert figures["change_failure_rate"]["this_week"] == "20.0%"
    assert figures["change_failure_rate"]["last_week"] == "0.0%"
    assert figures["change_failure_rate"]["change"].startswith("▲ +20.0 pts, worse")
    # r4 went live at 200 h and the rollback at 202 h: 2.0 h; nothing failed last week.
    assert figures["recovery_time"]["this_week"] == "2.0 h"
    assert figures["recovery_time"]["last_week"] == "–"
    assert figures["recovery_time"]["change"] == "no comparison (a period without data)"
    # Rework: the rollback among six production rollouts (five changes and it): 1/6 = 16.7%.
    assert figures["rework_rate"]["this_week"] == "16.7%"
    assert figures["rework_rate"]["change"].startswith("▲ +16.7 pts, worse")

    # The five slowest changes that reached production this week; PR4 (10 h) is the sixth and
    # PR9 arrived next week.
    slowest = [(row["change"], row["lead_time"], row["url"]) for row in digest.context["slowest"]]
    assert slowest == [
        ("acme/shop#7", "3.8 days", PR_URL.format(7)),  # 320 - 230 = 90 h
        ("acme/shop#6", "3.3 days", PR_URL.format(6)),  # 300 - 220 = 80 h
        ("acme/shop#8", "3.1 days", PR_URL.format(8)),  # 320 - 245 = 75 h
        ("acme/shop#5", "40 h", PR_URL.format(5)),
        ("acme/shop#3", "12 h", PR_URL.format(3)),
    ]
    # Stale at the week's end (Mon 03-16 00:00 = 327 h): staging's last apply at -100 h,
    # 427 h = 18 days ago, over its 3 days; development's at 300 h (27 h) and production's
    # deployment at 320 h (7 h) are within the default 7 days.
    stale = [
        (r["environment"], r["service"], r["age"], r["stale_after"])
        for r in digest.context["stale"]
    ]
    assert stale == [("staging", "shop", "18 days ago", "3.0 days")]

    cells = Cells(digest.html)
    rows = {attrs["data-figure"]: cells_ for attrs, cells_ in cells.tables["figures"][1:]}
    assert rows["deployment_frequency"][1:3] == ["5 rollouts", "2 rollouts"]
    assert rows["lead_time"][1:3] == ["2.4 days (6 changes)", "7.5 h (2 changes)"]
    assert rows["change_failure_rate"][1] == "20.0% (5 rollouts)"
    assert rows["change_failure_rate"][3].startswith("▲ +20.0 pts, worse")
    assert rows["recovery_time"][1:3] == ["2.0 h (1 restored)", "– (0 restored)"]
    assert rows["rework_rate"][1] == "16.7% (6 rollouts)"
    assert [row[0] for row in cells.rows("slowest")] == [
        "acme/shop#7 change 7",
        "acme/shop#6 change 6",
        "acme/shop#8 change 8",
        "acme/shop#5 change 5",
        "acme/shop#3 change 3",
    ]
    assert cells.rows("stale") == [["staging", "shop", "18 days ago", "3.0 days"]]
    # Targets: the missed one first.
    assert [(attrs["data-status"], c[1], c[2]) for attrs, c in cells.tables["targets"]] == [
        ("missed", "Lead time median below 1 day", "2.4 days"),
        ("met", "Change failure rate below 25%", "20.0%"),
    ]
    assert "1 met, 1 missed." in digest.html

    text = digest.text
    assert "- Lead time for changes: 2.4 days (6 changes); last week 7.5 h (2 changes); ▲" in text
    assert "- Deployment frequency: 5 rollouts; last week 2 rollouts; ▲ +3.0/week, better" in text
    assert "- acme/shop#7 change 7 (shop): 3.8 days\n  " + PR_URL.format(7) in text
    assert "- staging, shop: last success 18 days ago (stale after 3.0 days)" in text
    assert "- Missed: Lead time median below 1 day (2.4 days)" in text
    assert "&amp;" not in text and "&#x27;" not in text  # the text part is not HTML-escaped


def test_team_digest_links_are_absolute_and_open_real_pages() -> None:
    team = two_weeks()
    digest = team_digest(team, now=SENT_AT, attainments=lambda **_: [])
    links = Cells(digest.html).links
    ours = [link for link in links if link.startswith(BASE + "/")]
    theirs = [link for link in links if not link.startswith(BASE + "/")]
    assert theirs == [PR_URL.format(n) for n in (7, 6, 8, 5, 3)]
    names = {resolve(urlsplit(link).path).url_name for link in ours}
    assert names == {
        "dashboard-team",
        "dashboard-explain",
        "dashboard-estate",
        "definitions",
    }
    for link in ours:
        assert link in digest.text  # the text part carries the same links
    team_link = next(link for link in ours if "/dashboards/team?" in link)
    assert parse_qs(urlsplit(team_link).query) == {
        "team": ["payments"],
        "range": ["1w"],
        "end": ["2026-03-15"],
    }
    # A member following the links sees the team's week and the explained lead time.
    client = Client()
    client.force_login(User.objects.get(username="alice"))
    explain = next(link for link in ours if "/explain/lead_time?" in link)
    for link in (team_link, explain):
        parts = urlsplit(link)
        response = client.get(f"{parts.path}?{parts.query}")
        assert response.status_code == 200, link
    page = client.get(f"{urlsplit(explain).path}?{urlsplit(explain).query}").content.decode()
    assert "acme/shop#7" in page


def test_weekly_digest_is_sent_once_per_week_from_monday_8_local() -> None:
    two_weeks()

    assert digests_send(now=SENT_AT.replace(hour=7, minute=59), leadership=False).sent == []
    assert mail.outbox == []
    report = digests_send(now=SENT_AT.replace(hour=8), leadership=False)
    assert [to for _, to in report.sent] == [("alice@example.com", "lead@example.com")]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com", "lead@example.com"]
    assert message.subject.startswith("payments: delivery digest for the week of Mon 9 Mar")
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "<table" in html
    assert "THIS WEEK AGAINST LAST WEEK" in message.body
    # Later the same week: nothing more; the next Monday at 08:00: the next week's digest.
    for later in (SENT_AT, SENT_AT + timedelta(days=1, hours=22)):
        assert digests_send(now=later, leadership=False).skipped == ["payments: already sent"]
    assert digests_send(now=SENT_AT + timedelta(days=6), leadership=False).skipped == [
        "payments: not due (Monday 08:00 to Wednesday 08:00, local)"
    ]
    assert len(mail.outbox) == 1
    digests_send(now=SENT_AT + timedelta(days=7, hours=-1), leadership=False)
    assert len(mail.outbox) == 2
    assert "Mon 16 Mar – Sun 22 Mar 2026" in mail.outbox[1].subject
    assert list(DigestSent.objects.values_list("period_start", flat=True).order_by("period_start"))
    assert [d.isoformat() for d in DigestSent.objects.values_list("period_start", flat=True)] == [
        "2026-03-09",
        "2026-03-16",
    ]


def test_weekly_digest_follows_the_teams_time_zone() -> None:
    team = Team.objects.create(name="tokyo", timezone="Asia/Tokyo", members=["kenji"])
    User.objects.create_user("kenji", email="kenji@example.com")
    # Monday 08:00 in Tokyo (UTC+9) is Sunday 23:00 UTC.
    sunday = datetime(2026, 3, 15, 22, 59, tzinfo=UTC)
    assert digests_send(now=sunday, leadership=False).sent == []
    report = digests_send(now=sunday + timedelta(minutes=1), leadership=False)
    assert len(report.sent) == 1 and len(mail.outbox) == 1
    # Tokyo's week just ended: Mon 9 – Sun 15 March, local.
    assert "Mon 9 Mar – Sun 15 Mar 2026" in mail.outbox[0].subject
    sent = DigestSent.objects.get(team=team)
    assert sent.period_start.isoformat() == "2026-03-09"
    assert sent.sent_at == sunday + timedelta(minutes=1)
    # A UTC team is not due then: it is Sunday there, and its digest of the week before last
    # (due from Mon 9 Mar 08:00) is more than DIGEST_CATCH_UP late, so it is not sent late.
    Team.objects.create(name="london", timezone="UTC", members=["kenji"])
    assert digests_send(now=sunday + timedelta(minutes=2), leadership=False).sent == []


def test_weekly_digest_recipients_and_switch() -> None:
    team = Team.objects.create(name="quiet", members=["nobody"], digest_enabled=True)
    report = digests_send(now=SENT_AT, leadership=False)
    assert report.sent == [] and report.skipped == ["quiet: no recipients"]
    team.digest_to = ["list@example.com"]
    team.digest_enabled = False
    team.save()
    assert digests_send(now=SENT_AT, leadership=False).skipped == ["quiet: no recipients"]
    team.digest_enabled = True
    team.save()
    assert digests_send(now=SENT_AT, leadership=False).sent[0][1] == ("list@example.com",)


def test_weekly_digest_claimed_elsewhere_is_not_sent_again() -> None:
    team = two_weeks()
    digest = team_digest(team, now=SENT_AT, attainments=lambda **_: [])
    # Another worker's claim for the same week: this one sends nothing.
    DigestSent.objects.create(
        kind="weekly", team=team, period_start=digest.period_start, sent_at=SENT_AT
    )
    assert digest_deliver(digest, now=SENT_AT) is False
    assert mail.outbox == []


def test_weekly_digest_that_fails_to_send_is_tried_again(settings) -> None:
    two_weeks()
    # An SMTP server that is not there: a port nothing listens on.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    report = digests_send(now=SENT_AT, leadership=False)
    assert report.failed == ["payments"] and report.sent == []
    assert not DigestSent.objects.exists()  # the claim rolled back with the failure
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert len(digests_send(now=SENT_AT + timedelta(hours=1), leadership=False).sent) == 1
    assert len(mail.outbox) == 1


def test_leadership_digest_attaches_the_months_report_as_pdf() -> None:
    two_weeks()  # March 2026
    boss = User.objects.create_user("boss", email="boss@example.com")
    boss.groups.add(Group.objects.get_or_create(name=LEADERSHIP_GROUP)[0])
    OrganisationSettings.objects.create(digest_to=["board@example.com"])
    first = datetime(2026, 4, 1, 7, 59, tzinfo=UTC)

    digest = leadership_digest(now=first)
    assert digest.period_start.isoformat() == "2026-03-01"
    assert digest.subject == "Leadership report: March 2026"
    assert digest.to == ("board@example.com", "boss@example.com")
    ((name, content, mimetype),) = digest.attachments
    assert (name, mimetype) == ("leadership-report-2026-03.pdf", "application/pdf")
    assert content.startswith(b"%PDF")
    links = Cells(digest.html).links
    assert f"{BASE}/dashboards/report?period=month&date=2026-03-01" in links
    assert {resolve(urlsplit(link).path).url_name for link in links} >= {"dashboard-report"}
    # March's organisation: 8 counted rollouts in the month (d1..d4, d6..d9; the rollback d5
    # is not counted, d0 went live in February); over 31 days, 8 / (31 / 7) = 1.8 a week.
    rows = {row[0]: row for row in Cells(digest.html).rows("organisation")}
    assert rows["Deployment frequency"][1] == "1.8/week"

    assert digests_send(now=first, teams=[]).sent == []  # before 08:00 on the 1st
    report = digests_send(now=first + timedelta(minutes=1), teams=[])
    assert [subject for subject, _ in report.sent] == ["Leadership report: March 2026"]
    (message,) = mail.outbox
    assert message.attachments[0][2] == "application/pdf"
    assert message.attachments[0][1].startswith(b"%PDF")
    assert digests_send(now=first + timedelta(hours=5), teams=[]).skipped == [
        "leadership: already sent"
    ]
    assert DigestSent.objects.get(team=None).period_start.isoformat() == "2026-03-01"


def test_send_digests_command_dry_run_prints_and_sends_nothing() -> None:
    two_weeks()
    out = io.StringIO()
    call_command(
        "send_digests", "--team", "payments", "--dry-run", "--now", "2026-03-16T09:00Z", stdout=out
    )
    printed = out.getvalue()
    assert printed.startswith(
        "Subject: payments: delivery digest for the week of Mon 9 Mar – Sun 15 Mar 2026\n"
        "To: alice@example.com, lead@example.com\n"
    )
    assert "- Change failure rate: 20.0% (5 rollouts); last week 0.0% (2 rollouts)" in printed
    assert mail.outbox == [] and not DigestSent.objects.exists()
    html = io.StringIO()
    call_command(
        "send_digests", "--team", "payments", "--dry-run", "--html", "--now", "2026-03-16T09:00Z",
        stdout=html,
    )  # fmt: skip
    assert re.search(r'<tr data-figure="lead_time">', html.getvalue())
    # Without --dry-run it sends, once.
    out = io.StringIO()
    call_command("send_digests", "--team", "payments", "--now", "2026-03-16T09:00Z", stdout=out)
    call_command("send_digests", "--team", "payments", "--now", "2026-03-16T10:00Z", stdout=out)
    assert out.getvalue().splitlines()[1].startswith("already sent for this period: payments")
    assert len(mail.outbox) == 1


class HeldBackend(locmem.EmailBackend):
    """A mail server that holds the first message until told to go on: the first worker is
    then inside its sending transaction while the second one runs."""

    entered = threading.Event()
    release = threading.Event()

    def send_messages(self, messages: Any) -> int:
        HeldBackend.entered.set()
        assert HeldBackend.release.wait(10)
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_a_digest_once(settings) -> None:
    Team.objects.create(name="duo", digest_to=["duo@example.com"])
    settings.EMAIL_BACKEND = f"{__name__}.HeldBackend"
    HeldBackend.entered.clear()
    HeldBackend.release.clear()
    reports: dict[str, Any] = {}

    def worker(name: str) -> None:
        try:
            reports[name] = digests_send(now=SENT_AT, leadership=False)
        finally:
            connections.close_all()

    first = threading.Thread(target=worker, args=("first",))
    first.start()
    assert HeldBackend.entered.wait(30)  # the first holds its claim, uncommitted
    second = threading.Thread(target=worker, args=("second",))
    second.start()
    second.join(2)
    assert second.is_alive()  # its claim waits for the first's transaction
    HeldBackend.release.set()
    first.join(30)
    second.join(30)

    assert [len(reports[name].sent) for name in ("first", "second")] == [1, 0]
    assert reports["second"].skipped == ["duo: already sent"]
    assert len(mail.outbox) == 1
    assert DigestSent.objects.count() == 1


def test_beat_sends_the_digests_every_quarter_hour(settings) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["digests-send"]
    assert (entry["task"], entry["schedule"]) == ("dora.tasks.digests_send_task", 900.0)
    assert entry["task"] in current_app.tasks
    Team.objects.create(name="duo", digest_to=["duo@example.com"])
    settings.DORA_DIGESTS = False
    assert digests_send_task() == 0 and mail.outbox == []
    settings.DORA_DIGESTS = True
    # The task reads the clock; any moment of the week has a due or a not-yet-due digest, so
    # it is only checked that it sends at most the one digest, once.
    sent = digests_send_task()
    assert sent == len(mail.outbox) <= 1
    assert digests_send_task() == 0
