"""The explain page's lists through their URL: newest first by default, sorted by a column with
`sort=`, filtered (`failed=1`), durations in human units and each change linked to its PR."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.builders import change, commit, deployment, incident, when
from tests.integration.test_metrics_report import record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]

WINDOW = {"since": when(days=-1).isoformat(), "until": when(days=7).isoformat()}
PR2_URL = "https://github.com/acme/shop/pull/2"


def timeline() -> None:
    """Hours after T0, one service `shop`:

    -100 c0 authored; -96 d0 ships it (the first rollout: unattributed, before the window)
       0 c1 authored (PR 1); 20 d1 ships c1               lead time 20 h, arrival 20
      10 c2 authored (PR 2); 70 d2 ships c2               lead time 60 h, arrival 70
      65 c3 authored (PR 3); 72 d3 ships c3               lead time 7 h,  arrival 72
      71 an incident caused by d2: its rollout failed
    Newest first: PR 3, PR 2, PR 1. Slowest first: PR 2, PR 1, PR 3.
    """
    record(
        [
            commit("c0", hours=-100),
            commit("c1", ["c0"], hours=0),
            commit("c2", ["c1"], hours=10),
            commit("c3", ["c2"], hours=65),
            change(1, ["c1"], created=1, merged=2, merge="c1", title="one"),
            change(2, ["c2"], created=11, merged=12, merge="c2", title="two", url=PR2_URL),
            change(3, ["c3"], created=66, merged=67, merge="c3", title="three"),
            deployment("d0", "c0", hours=-96),
            deployment("d1", "c1", hours=20),
            deployment("d2", "c2", hours=70),
            deployment("d3", "c3", hours=72),
            incident("i1", hours=71, caused_by={"deployment": "d2"}),
        ]
    )


def page(path: str, **params: str) -> str:
    user = User.objects.create_user(f"lead{User.objects.count()}", is_staff=True)
    client = Client()
    client.force_login(user)
    response = client.get(f"{path}?{urlencode({'service': 'shop', **WINDOW, **params})}")
    assert response.status_code == 200
    return response.content.decode()


def column(html: str, index: int) -> list[str]:
    """The text of cell `index` of each body row of the items table."""
    body = html.split('id="items-table"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    return [re.sub(r"<[^>]+>", "", c[index]).strip() for c in cells]


def test_explain_lead_time_lists_newest_first_and_sorts_by_duration() -> None:
    timeline()

    html = page("/dashboards/explain/lead_time")
    assert column(html, 0) == ["acme/shop#3", "acme/shop#2", "acme/shop#1"]  # newest first
    # The duration next to the change, in human units (dora.units: one decimal below 10, days
    # above 48 h): 7 h, 60 h = 2.5 days, 20 h.
    assert column(html, 1) == ["7.0 h", "2.5 days", "20 h"]
    # The change links to its pull request when the source stored the page's address.
    assert f'<a href="{PR2_URL}" rel="noopener noreferrer">acme/shop#2</a>' in html
    assert "Slowest first</a>" in html  # one click away

    slowest = page("/dashboards/explain/lead_time", sort="-duration")
    assert column(slowest, 0) == ["acme/shop#2", "acme/shop#1", "acme/shop#3"]
    assert '<th scope="col" aria-sort="descending">' in slowest
    assert 'lead time <span class="sort-arrow" aria-hidden="true">▼</span>' in slowest
    # The header of the leading column reverses the order; the filters and scope stay.
    reverse = r'href="\?[^"]*sort=duration[^"]*" title="sort by lead time, smallest first"'
    assert re.search(reverse, slowest)

    fastest = page("/dashboards/explain/lead_time", sort="duration")
    assert column(fastest, 0) == ["acme/shop#3", "acme/shop#1", "acme/shop#2"]


def test_explain_change_failure_rate_puts_failed_first_and_filters_failed_only() -> None:
    timeline()

    html = page("/dashboards/explain/change_failure_rate")
    versions = column(html, 3)  # service, environment, kind, version ...
    assert len(versions) == 3  # d1, d2, d3 went live in the window
    failed_column = column(html, 6)
    assert failed_column == ["yes", "", ""]  # d2's rollout, failed, first
    assert 'name="failed" value="1"' in html  # the "failed only" filter is offered

    failed = page("/dashboards/explain/change_failure_rate", failed="1", of_service="", cause="")
    assert column(failed, 6) == ["yes"]
    assert "of_service=" not in failed  # the form's "all" is not carried into the links
    assert "1 of 3 items" in failed
    assert 'name="failed" value="1" checked' in failed


def test_explain_snapshot_serves_each_order_and_filter_its_own_list(settings) -> None:
    """The page is kept as a snapshot: a sorted or filtered URL never gets another's list."""
    settings.DORA_DASHBOARD_CACHE_SECONDS = 300
    timeline()

    newest = page("/dashboards/explain/lead_time")
    slowest = page("/dashboards/explain/lead_time", sort="-duration")
    again = page("/dashboards/explain/lead_time")
    assert column(newest, 0) == column(again, 0) == ["acme/shop#3", "acme/shop#2", "acme/shop#1"]
    assert column(slowest, 0) == ["acme/shop#2", "acme/shop#1", "acme/shop#3"]
