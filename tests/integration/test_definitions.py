"""Definitions are versioned (docs/DEFINITIONS.md): every page's footer links them, every export
names the version, and /definitions/ serves them to anyone."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from dora.models import Service
from tests.integration.test_dashboards_reports import pdf_texts
from tests.integration.test_intake import client_with

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]

VERSION = "2"
ANCHOR = f"/definitions/#version-{VERSION}"
WINDOW = {"since": "2026-02-01", "until": "2026-03-01"}


def footer_link(html: str) -> str:
    """The href of the footer's definitions link, which must say the version."""
    footer = re.search(r"<footer[^>]*>(.*?)</footer>", html, flags=re.S)
    assert footer, "the page has no footer"
    link = re.search(r'<a href="([^"]+)"[^>]*>definitions v(\d+)</a>', footer.group(1))
    assert link, footer.group(1)
    assert link.group(2) == VERSION
    return link.group(1)


def staff() -> Client:
    user = User.objects.create_superuser("ops", "ops@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_every_page_footer_names_definitions_v2_with_a_working_link() -> None:
    Service.objects.create(name="shop")
    anonymous, ops = Client(), staff()
    pages = [
        (anonymous, "/accounts/login/"),
        (anonymous, "/definitions/"),
        (ops, "/dashboards/estate/configuration"),
        (ops, "/dashboards/"),
        (ops, "/dashboards/service?service=shop"),
        (ops, "/dashboards/estate"),
        (ops, "/dashboards/gate"),
        (ops, "/dashboards/report"),
        (ops, "/api/docs/"),
        (ops, "/admin/"),
        (ops, "/dashboards/team?team=nope"),  # an error page has the footer too
    ]
    links = set()
    for client, path in pages:
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        links.add(footer_link(response.content.decode()))
    assert links == {"/definitions/"}
    # The link works without logging in, and shows the changelog with version 2 and 1.
    page = Client().get("/definitions/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<h1 id="definitions">Definitions</h1>' in html
    assert '<h2 id="version-2">Version 2</h2>' in html and '<h2 id="version-1">' in html
    assert "<code>definitions_version</code>" in html
    assert "<strong>A rebase merge is one change (<code>landed_commits</code>).</strong>" in html
    assert "Unknown services" in html and "Figures that move: none" in html
    text = Client().get("/definitions.md")
    assert text.status_code == 200 and text["Content-Type"].startswith("text/markdown")
    assert text.content.decode().startswith("# Definitions\n")


def test_metrics_api_and_items_name_the_definitions() -> None:
    client = client_with("read")
    report = client.get("/api/v1/metrics", WINDOW).json()
    assert report["definitions_version"] == VERSION
    assert report["definitions_url"] == ANCHOR  # as from the command (the same JSON)
    items = client.get("/api/v1/metrics/lead_time/items", WINDOW).json()
    assert items["definitions_version"] == VERSION
    assert items["definitions_url"] == ANCHOR
    assert items["results"] == []


def test_metrics_command_names_the_definitions_in_every_format() -> None:
    def run(fmt: str) -> str:
        out = io.StringIO()
        window = ("--since", WINDOW["since"], "--until", WINDOW["until"])
        call_command("metrics", *window, "--format", fmt, stdout=out)
        return out.getvalue()

    report = json.loads(run("json"))
    assert report["definitions_version"] == VERSION and report["definitions_url"] == ANCHOR
    assert f"definitions v{VERSION} ({ANCHOR})" in run("table").splitlines()[0]
    rows = list(csv.DictReader(io.StringIO(run("csv"))))
    assert rows and {row["definitions_version"] for row in rows} == {VERSION}


def test_leadership_report_csv_and_pdf_name_the_definitions() -> None:
    ops = staff()
    params = {"period": "month", "date": "2026-02-01"}
    response = ops.get("/dashboards/report.csv", params)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows
    assert {(row["definitions_version"], row["definitions_url"]) for row in rows} == {
        (VERSION, f"http://testserver{ANCHOR}")
    }
    response = ops.get("/dashboards/report.pdf", params)
    assert response.status_code == 200
    everything = b"\n".join(pdf_texts(response.content))
    # The link on its last line, and the document's subject.
    assert f"(http://testserver{ANCHOR})".encode() in everything
    assert f"definitions v{VERSION}".encode() in everything
