"""DORA_UNKNOWN_SERVICES: what an event naming a service nobody declared does, on every path
that records events (POST /api/v1/events, import_events, GitHub webhooks, GitHub sync)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from dora.models import Commit, Deployment, Incident, Service
from ingest.models import Source
from tests.builders import commit, deployment, incident
from tests.fake_github import FakeGitHub
from tests.integration.test_github_sync import REPO, estate
from tests.integration.test_github_webhook import body_of, deliver
from tests.integration.test_intake import client_with, post

pytestmark = pytest.mark.django_db

DECLARED = """\
teams:
  - name: payments
services:
  - name: checkout
    team: payments
    repos: [acme/checkout]
  - name: payments-api
    team: payments
"""


def apply_config(tmp_path: Path, text: str = DECLARED) -> None:
    path = tmp_path / "dora.yml"
    path.write_text(text)
    call_command("apply_config", str(path), stdout=io.StringIO())


def test_without_declared_services_an_unknown_service_is_created_as_before() -> None:
    # The default while apply_config has declared nothing: create (and say nothing).
    event = deployment("d1", None, hours=1, service="shop", version="v1")
    status, body = post(client_with("ingest"), event)
    assert status == 200
    assert body["items"] == [{"index": 0, "status": "created", "key": "api:deployment:d1"}]
    assert Service.objects.get().name == "shop"


def test_once_apply_config_declared_services_a_typo_is_rejected_and_nothing_else_lost(
    tmp_path: Path,
) -> None:
    apply_config(tmp_path)
    client = client_with("ingest")
    batch = [
        commit("c1"),
        deployment("d1", "c1", hours=1, service="checkout"),
        deployment("d2", "c1", hours=2, service="chekout"),  # the typo
        incident("i1", hours=3, service="chekout"),
        incident("i2", hours=3, service="payments-api"),
    ]
    status, body = post(client, batch)
    assert status == 207
    statuses = [item["status"] for item in body["items"]]
    assert statuses == ["created", "created", "rejected", "rejected", "created"]
    reason = body["items"][2]["reason"]
    assert reason.startswith("service: 'chekout' is not a known service")
    assert "did you mean 'checkout'?" in reason
    assert "Known services: checkout, payments-api." in reason
    assert "apply_config has declared services" in reason  # why: the default, not a setting
    assert body["counts"] == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 2}
    assert sorted(Service.objects.values_list("name", flat=True)) == ["checkout", "payments-api"]
    assert Commit.objects.count() == 1
    assert list(Deployment.objects.values_list("external_id", flat=True)) == ["deployment:d1"]
    assert list(Incident.objects.values_list("external_id", flat=True)) == ["incident:i2"]
    # One event alone: 400, as for any other rejected item; the gate and intake now agree.
    status, body = post(client, deployment("d3", "c1", hours=4, service="chekout"))
    assert status == 400 and body["items"][0]["status"] == "rejected"
    gate = client_with("gate").post(
        "/api/v1/gates/promotion",
        {"service": "chekout", "version": "v1", "from": "staging", "to": "production"},
        format="json",
    )
    assert gate.status_code == 404


def test_reject_names_close_matches_first_and_caps_the_known_list(settings: Any) -> None:
    settings.DORA_UNKNOWN_SERVICES = "reject"
    Service.objects.bulk_create(
        [Service(name=f"svc-{i:02d}", configured=True) for i in range(30)]
        + [Service(name="checkout", configured=True)]
    )
    status, body = post(client_with("ingest"), deployment("d1", "c1", hours=1, service="chekout"))
    assert status == 400
    reason = body["items"][0]["reason"]
    assert "(DORA_UNKNOWN_SERVICES=reject, so events create none)" in reason
    listed = reason.split("Known services: ")[1].split(" … ")[0].split(", ")
    # 20 names: the close match first, then the first 19 others by name; 31 in all.
    assert listed == ["checkout"] + [f"svc-{i:02d}" for i in range(19)]
    assert "(31 in all; the admin lists them)" in reason
    assert not Service.objects.filter(name="chekout").exists()


def test_create_setting_keeps_creating_even_with_declared_services(
    tmp_path: Path, settings: Any
) -> None:
    settings.DORA_UNKNOWN_SERVICES = "create"
    apply_config(tmp_path)
    event = deployment("d1", None, hours=1, service="shop", version="v1")
    status, body = post(client_with("ingest"), event)
    assert status == 200 and "warning" not in body["items"][0]
    assert Service.objects.filter(name="shop", configured=False).exists()


def test_warn_stores_answers_with_a_warning_and_lists_the_service_in_the_admin(
    tmp_path: Path, settings: Any
) -> None:
    settings.DORA_UNKNOWN_SERVICES = "warn"
    apply_config(tmp_path)
    client = client_with("ingest")
    status, body = post(
        client,
        [
            deployment("d1", "c1", hours=1, service="chekout"),
            deployment("d2", "c1", hours=2, service="checkout"),
            incident("i1", hours=3, service="chekout"),
        ],
    )
    assert status == 200
    first, declared, again = body["items"]
    assert first["status"] == again["status"] == declared["status"] == "created"
    assert first["warning"].startswith(
        "service 'chekout' has no configuration: created now (DORA_UNKNOWN_SERVICES=warn)"
    )
    assert "sha " in first["warning"]  # the unknown-commit warning is kept beside it
    assert "has no configuration" not in declared.get("warning", "")
    service = Service.objects.get(name="chekout")
    assert not service.configured
    assert service.first_event_type == "deployment"
    assert service.first_event_key == "api:deployment:d1"
    assert service.first_event_sent_by.startswith("token:test-ingest")
    # Later events naming it are stored and warned about too (it was created by intake).
    status, body = post(client, incident("i2", hours=4, service="chekout"))
    assert status == 200 and "created by intake" in body["items"][0]["warning"]

    user = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
    browser = Client()
    browser.force_login(user)
    page = browser.get("/admin/dora/unconfiguredservice/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Services without configuration" in html
    assert "chekout" in html and "api:deployment:d1" in html and "token:test-ingest" in html
    assert ">checkout<" not in html and "payments-api" not in html  # declared: not listed
    index = browser.get("/admin/").content.decode()
    assert "Services without configuration" in index
    # Declaring it in the admin (or in dora.yml) takes it off the list.
    apply_config(tmp_path, DECLARED + "  - name: chekout\n    team: payments\n")
    page = browser.get("/admin/dora/unconfiguredservice/")
    assert "api:deployment:d1" not in page.content.decode()


def test_import_events_rejects_unknown_service_lines_and_keeps_the_others(
    tmp_path: Path,
) -> None:
    apply_config(tmp_path)
    lines = [
        commit("c1"),
        deployment("d1", "c1", hours=1, service="checkout"),
        deployment("d2", "c1", hours=2, service="shop"),
        deployment("d3", "c1", hours=3, service="payments-api"),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("import_events", str(path), "--quiet", stdout=out, stderr=err)
    assert failed.value.returncode == 1
    assert out.getvalue().startswith("4 events: 3 created, 0 updated, 0 unchanged, 1 rejected")
    assert "line 3: service: 'shop' is not a known service" in err.getvalue()
    assert sorted(Deployment.objects.values_list("external_id", flat=True)) == [
        "deployment:d1",
        "deployment:d3",
    ]
    assert not Service.objects.filter(name="shop").exists()


def test_import_events_warn_names_the_services_without_configuration(
    tmp_path: Path, settings: Any
) -> None:
    settings.DORA_UNKNOWN_SERVICES = "warn"
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(deployment("d1", None, hours=1, service="shop", version="v1")))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_events", str(path), "--quiet", stdout=out, stderr=err)
    assert "1 created" in out.getvalue()
    assert "events named 1 service(s) without configuration: shop" in err.getvalue()


def test_webhook_deployment_of_a_repository_no_service_lists_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DORA_GITHUB_WEBHOOK_SECRET", "test-webhook-secret")
    apply_config(tmp_path)
    # Codertocat/Hello-World is listed by no service: its deployment names "Hello-World".
    status, answer = deliver("deployment_status", body_of("deployment_status/payload.json"))
    assert status == 200  # the delivery was received and kept; its one item was refused
    assert answer["counts"]["rejected"] == 1
    reason = answer["items"][0]["reason"]
    assert reason.startswith("service: 'Hello-World' is not a known service")
    assert "add Codertocat/Hello-World to a service's repos" in reason
    assert not Deployment.objects.exists()
    assert not Service.objects.filter(name="Hello-World").exists()
    # Commits name no service: a push from the same repository is stored.
    push = json.loads(body_of("push/with-new-branch.payload.json"))
    push.update(created=False, before="a" * 40)  # as test_github_webhook's push test
    status, answer = deliver("push", push, delivery="d-2")
    assert status == 200 and answer["counts"] == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    assert Commit.objects.count() == 1
    # Listing the repository under a declared service maps its deployments there.
    apply_config(tmp_path, DECLARED + "    repos: [Codertocat/Hello-World]\n")
    status, answer = deliver(
        "deployment_status", body_of("deployment_status/payload.json"), delivery="d-3"
    )
    assert status == 200 and answer["counts"]["created"] == 1
    assert Deployment.objects.get().service.name == "payments-api"


def test_sync_rejects_deployments_and_incidents_of_unlisted_repositories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingest.http.SystemClock.sleep", lambda self, seconds: None)
    apply_config(tmp_path)  # declares checkout and payments-api; octo/shop is nobody's
    with FakeGitHub() as server:
        estate(server)  # 12 commits, 7 PRs, 6 runs, 4 deployments, 3 releases, 3 incidents
        Source.objects.create(
            name="gh-test",
            base_url=server.url,
            token_env="FAKE_GITHUB_TOKEN",
            repos=[REPO],
            backfill_days=3650,  # the command reads the real clock
            deployments={"from": ["deployments_api", "releases"], "tag_pattern": "^v"},
        )
        out, err = io.StringIO(), io.StringIO()
        call_command("sync", "--source", "gh-test", stdout=out, stderr=err)
    # 4 deployments + 3 releases + 3 incidents name the fallback service "shop": rejected.
    assert "'rejected': 10" in out.getvalue()
    assert "events of unknown services rejected (DORA_UNKNOWN_SERVICES): shop" in err.getvalue()
    assert Commit.objects.filter(source="gh-test").count() == 12
    assert not Deployment.objects.exists() and not Incident.objects.exists()
    assert not Service.objects.filter(name="shop").exists()
