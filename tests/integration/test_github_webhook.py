"""POST /webhooks/github: signature first, raw delivery stored, events recorded, idempotent.

Bodies are the real payloads in ../shared/fixtures/github/webhooks, signed in the test with a
test secret; the published signature vector checks the HMAC itself.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from django.test import Client

from dora.intake.events import events_record
from dora.models import Change, Commit, Deployment, Incident, PipelineRun, RawEvent, Service
from ingest.models import WebhookDelivery
from ingest.webhooks import github_signature_valid
from tests.shared import shared_fixture

pytestmark = pytest.mark.django_db
SECRET = "test-webhook-secret"
URL = "/webhooks/github"


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DORA_GITHUB_WEBHOOK_SECRET", SECRET)


def body_of(path: str) -> bytes:
    return shared_fixture("github", "webhooks", path).read_bytes()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    event: str,
    body: bytes | dict[str, Any],
    *,
    delivery: str = "d-1",
    signature: str | None = None,
    url: str = URL,
) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "HTTP_X_GITHUB_EVENT": event,
        "HTTP_X_GITHUB_DELIVERY": delivery,
        "HTTP_X_HUB_SIGNATURE_256": signature if signature is not None else sign(raw),
    }
    response = Client().generic("POST", url, raw, content_type="application/json", **headers)
    return response.status_code, response.json()


def test_signature_vector_from_github_docs() -> None:
    vector = json.loads(shared_fixture("signature-vectors.json").read_text())[
        "github_x_hub_signature_256"
    ]
    secret, body = vector["secret"].encode(), vector["body_utf8"].encode()
    assert github_signature_valid(secret, body, vector["expected"])
    assert not github_signature_valid(secret, body + b" ", vector["expected"])
    assert not github_signature_valid(b"another secret", body, vector["expected"])
    assert not github_signature_valid(secret, body, None)
    assert not github_signature_valid(secret, body, vector["expected"].replace("sha256=", "sha1="))


def test_published_vector_through_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    vector = json.loads(shared_fixture("signature-vectors.json").read_text())[
        "github_x_hub_signature_256"
    ]
    monkeypatch.setenv("DORA_GITHUB_WEBHOOK_SECRET", vector["secret"])
    body = vector["body_utf8"].encode()
    # The signature is right, so the body is parsed: "Hello, World!" is not JSON.
    status, answer = deliver("ping", body, signature=vector["expected"])
    assert status == 400 and "not valid JSON" in answer["detail"]
    # Tampered body: refused before parsing, nothing stored.
    status, answer = deliver("ping", b"Hello, World?", signature=vector["expected"])
    assert status == 401 and "X-Hub-Signature-256" in answer["detail"]
    assert not WebhookDelivery.objects.exists()


def test_bad_or_missing_signature_is_401_and_stores_nothing() -> None:
    body = body_of("deployment_status/payload.json")
    assert deliver("deployment_status", body, signature=sign(body, "wrong"))[0] == 401
    assert deliver("deployment_status", body, signature="")[0] == 401
    tampered = body.replace(b'"success"', b'"failure"', 1)
    assert deliver("deployment_status", tampered, signature=sign(body))[0] == 401
    assert not WebhookDelivery.objects.exists() and not RawEvent.objects.exists()
    assert not Deployment.objects.exists()


def test_secret_not_configured_is_503_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DORA_GITHUB_WEBHOOK_SECRET")
    status, answer = deliver("ping", body_of("ping/payload.json"))
    assert status == 503 and "DORA_GITHUB_WEBHOOK_SECRET" in answer["detail"]
    assert deliver("ping", b"{}", url="/webhooks/github/nope")[0] == 404


def test_unknown_event_type_is_202_and_kept_raw() -> None:
    status, answer = deliver("check_run", body_of("check_run/completed.payload.json"))
    assert status == 202 and "'check_run' is not used" in answer["detail"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "check_run" and delivery.action == "completed"
    assert not RawEvent.objects.exists()


def test_malformed_json_is_400() -> None:
    status, answer = deliver("push", b'{"ref": ')
    assert status == 400 and answer["detail"].startswith("The body is not valid JSON")
    assert not WebhookDelivery.objects.exists()


def test_deployment_status_success_creates_a_finished_deployment() -> None:
    status, answer = deliver("deployment_status", body_of("deployment_status/payload.json"))
    assert status == 200
    assert answer["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 0}
    assert answer["items"][0]["key"] == (
        "github:deployment:Codertocat/Hello-World:deployment:145988746@Hello-World"
    )
    deployment = Deployment.objects.select_related("service", "environment").get()
    assert deployment.service.name == "Hello-World"
    assert deployment.environment.name == "production"
    assert deployment.environment.tier == "production"  # inferred from the name
    assert deployment.sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert deployment.status == "success"
    assert deployment.finished_at.isoformat() == "2019-05-15T15:20:55+00:00"  # status created_at
    assert deployment.started_at.isoformat() == "2019-05-15T15:20:53+00:00"
    delivery = WebhookDelivery.objects.get()
    assert delivery.delivery_id == "d-1" and delivery.processed_at is not None
    assert delivery.payload["deployment_status"]["id"] == 209916254


def test_duplicate_delivery_is_idempotent() -> None:
    body = body_of("deployment_status/payload.json")
    first = deliver("deployment_status", body, delivery="same")
    again = deliver("deployment_status", body, delivery="same")
    assert first[0] == again[0] == 200
    assert again[1]["duplicate"] is True and again[1]["counts"] == first[1]["counts"]
    assert WebhookDelivery.objects.count() == 1 and Deployment.objects.count() == 1
    # The same content in a new delivery: recorded again, unchanged.
    status, answer = deliver("deployment_status", body, delivery="other")
    assert status == 200 and answer["counts"]["unchanged"] == 1


def test_later_statuses_keep_the_first_success_time() -> None:
    payload = json.loads(body_of("deployment_status/payload.json"))
    deliver("deployment_status", payload, delivery="d-1")
    # Variant: GitHub marks the deployment inactive when a newer one succeeds.
    later = copy.deepcopy(payload)
    later["deployment_status"].update(
        id=209916999, state="inactive", created_at="2019-05-16T09:00:00Z"
    )
    assert deliver("deployment_status", later, delivery="d-2")[0] == 200
    deployment = Deployment.objects.get()
    assert deployment.status == "success"
    assert deployment.finished_at.isoformat() == "2019-05-15T15:20:55+00:00"


def test_deployment_maps_to_the_services_listing_the_repo() -> None:
    Service.objects.create(name="web", repos=["Codertocat/Hello-World"])
    Service.objects.create(name="docs", repos=["Codertocat/Hello-World"])
    assert deliver("deployment_status", body_of("deployment_status/payload.json"))[0] == 200
    assert sorted(Deployment.objects.values_list("service__name", flat=True)) == ["docs", "web"]


def test_pull_request_then_review_fill_one_change() -> None:
    opened = json.loads(body_of("pull_request/opened.payload.json"))
    assert deliver("pull_request", opened, delivery="d-1")[0] == 200
    # Variant of the same PR: a review by someone other than the author, then the merge.
    review = {
        "action": "submitted",
        "review": {
            "id": 1,
            "user": {"login": "hubot"},
            "state": "approved",
            "submitted_at": "2019-05-15T15:21:00Z",
        },
        "pull_request": opened["pull_request"],
        "repository": opened["repository"],
    }
    assert deliver("pull_request_review", review, delivery="d-2")[0] == 200
    closed = json.loads(body_of("pull_request/closed.payload.json"))
    closed["pull_request"].update(merged=True, merged_at="2019-05-15T15:21:18Z")
    assert deliver("pull_request", closed, delivery="d-3")[0] == 200
    change = Change.objects.get()
    assert (change.repo, change.number) == ("Codertocat/Hello-World", 2)
    assert change.created_at.isoformat() == "2019-05-15T15:20:33+00:00"
    assert change.ready_at.isoformat() == "2019-05-15T15:20:33+00:00"
    assert change.first_review_at.isoformat() == "2019-05-15T15:21:00+00:00"
    assert change.approved_at.isoformat() == "2019-05-15T15:21:00+00:00"
    assert change.merged_at.isoformat() == "2019-05-15T15:21:18+00:00"
    assert change.merge_sha == "c4295bd74fb0f4fda03689c3df3f2803b658fd85"
    assert change.labels == ["bug"] and change.author == "Codertocat"


def test_push_records_commits_with_parents() -> None:
    # Variant of with-new-branch: pushed onto an existing master, so its parent is `before`.
    payload = json.loads(body_of("push/with-new-branch.payload.json"))
    payload.update(created=False, before="a" * 40)
    status, answer = deliver("push", payload)
    assert status == 200 and answer["counts"]["created"] == 1
    commit = Commit.objects.get()
    assert commit.sha == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert commit.parents == ["a" * 40] and commit.files == ["README.md"]
    assert commit.authored_at.isoformat() == "2019-05-15T15:19:25+00:00"


def test_workflow_run_then_job_and_deploy_job(settings: Any) -> None:
    settings.DORA_GITHUB_WEBHOOKS = {
        "github": {
            "secret_env": "DORA_GITHUB_WEBHOOK_SECRET",
            "deployments": {"from": ["workflow_jobs"], "workflow_pattern": "^linters$"},
        }
    }
    run = json.loads(body_of("workflow_run/completed.payload.json"))
    assert deliver("workflow_run", run, delivery="d-1")[0] == 200
    pipeline = PipelineRun.objects.get()
    assert (pipeline.name, pipeline.status, pipeline.sha) == (
        "test",
        "success",
        "3484a3fb816e0859fd6e1cea078d76385ff50625",
    )
    status, answer = deliver(
        "workflow_job",
        body_of("workflow_job/completed.success.with-organization.payload.json"),
        delivery="d-2",
    )
    assert status == 200 and answer["counts"]["created"] == 1
    deployment = Deployment.objects.get()
    assert deployment.external_id == "deployment:Codertocat/Hello-World:job:289782451@Hello-World"
    assert deployment.finished_at.isoformat() == "2021-08-05T10:38:16+00:00"  # the job's finish
    assert deployment.pipeline_run == "Codertocat/Hello-World:run:2202229078"


def test_release_and_incident_issue(settings: Any) -> None:
    settings.DORA_GITHUB_WEBHOOKS = {
        "github": {
            "secret_env": "DORA_GITHUB_WEBHOOK_SECRET",
            "deployments": {"from": ["releases"], "tag_pattern": r"^\d"},
            "incidents": {"label": "bug"},
        }
    }
    assert deliver("release", body_of("release/published.payload.json"), delivery="d-1")[0] == 200
    release = Deployment.objects.get()
    assert (release.version, release.status) == ("0.0.1", "success")
    assert release.finished_at.isoformat() == "2019-05-15T15:20:53+00:00"
    assert deliver("issues", body_of("issues/opened.payload.json"), delivery="d-2")[0] == 200
    incident = Incident.objects.select_related("service").get()
    assert incident.service.name == "Hello-World"
    assert incident.opened_at.isoformat() == "2019-05-15T15:20:18+00:00"
    assert incident.title == "Spelling error in the README file" and incident.resolved_at is None


def test_an_older_delivery_replayed_under_a_new_id_never_moves_a_pull_request_back() -> None:
    """Issue 13, finding 6: GitHub's own updated_at decides, not the order of arrival."""
    opened = json.loads(body_of("pull_request/opened.payload.json"))
    closed = json.loads(body_of("pull_request/closed.payload.json"))
    assert opened["pull_request"]["updated_at"] < closed["pull_request"]["updated_at"]
    assert deliver("pull_request", opened, delivery="d-opened")[0] == 200
    assert deliver("pull_request", closed, delivery="d-closed")[0] == 200
    change = Change.objects.get(repo="Codertocat/Hello-World", number=2)
    assert change.closed_at is not None

    # The signed "opened" body again, under a delivery id never seen: answered, not stored.
    status, answer = deliver("pull_request", opened, delivery="d-replayed")
    assert status == 200
    (item,) = answer["items"]
    assert item["status"] == "unchanged" and "later updated_at" in item["warning"]
    change.refresh_from_db()
    assert change.closed_at.isoformat() == closed["pull_request"]["closed_at"].replace(
        "Z", "+00:00"
    )
    raw = RawEvent.objects.get(type="change")
    assert raw.sent_by == "webhook:github delivery d-closed"


def test_deliveries_arriving_out_of_order_end_as_the_newest_state() -> None:
    opened = json.loads(body_of("pull_request/opened.payload.json"))
    closed = json.loads(body_of("pull_request/closed.payload.json"))
    assert deliver("pull_request", closed, delivery="d-closed")[0] == 200
    assert deliver("pull_request", opened, delivery="d-opened")[0] == 200  # late
    change = Change.objects.get(repo="Codertocat/Hello-World", number=2)
    assert change.closed_at is not None


def test_push_parents_guessed_by_a_webhook_never_replace_git_ones() -> None:
    """A new default branch's push and GitHub's merge push of PR #2 (variants of with-new-
    branch), after the sync stored the first commit with its parent read from git: that parent
    stays (the payload cannot give it); the merge commit gets the base head before the merge and
    the PR's last commit; the PR commits chain in payload order."""
    first = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    from_git = {
        "type": "commit",
        "id": f"Codertocat/Hello-World@{first}",
        "repo": "Codertocat/Hello-World",
        "sha": first,
        "parents": ["d" * 40],
        "authored_at": "2019-05-15T15:19:25Z",
    }
    assert events_record([from_git], default_source="github").counts["created"] == 1
    payload = json.loads(body_of("push/with-new-branch.payload.json"))
    assert deliver("push", payload, delivery="d-1")[0] == 200
    assert Commit.objects.get(sha=first).parents == ["d" * 40]

    payload.update(created=False, before="a" * 40)
    second = {**copy.deepcopy(payload["commits"][0]), "id": "b" * 40, "message": "Second"}
    merge = {**copy.deepcopy(second), "id": "c" * 40}
    merge["message"] = "Merge pull request #2 from Codertocat/changes"
    payload["commits"] = [payload["commits"][0], second, merge]
    assert deliver("push", payload, delivery="d-2")[0] == 200
    parents = dict(Commit.objects.values_list("sha", "parents"))
    assert parents == {first: ["d" * 40], "b" * 40: [first], "c" * 40: ["a" * 40, "b" * 40]}
