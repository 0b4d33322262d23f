"""POST /webhooks/gitlab: token first, raw delivery stored, events recorded, idempotent.

Bodies are the real payloads in ../shared/fixtures/gitlab/webhooks and
tests/fixtures/gitlab/webhooks (GitLab's documented examples), sent with a test secret token.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from dora.models import Change, ChangeCommit, Deployment, PipelineRun, RawEvent
from ingest.models import Source, WebhookDelivery
from tests.shared import shared_fixture

pytestmark = pytest.mark.django_db
SECRET = "test-gitlab-token"
URL = "/webhooks/gitlab"


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DORA_GITLAB_WEBHOOK_SECRET", SECRET)


def body_of(name: str) -> bytes:
    return shared_fixture("gitlab", "webhooks", f"{name}.json").read_bytes()


def deliver(
    event: str,
    body: bytes | dict[str, Any],
    *,
    uuid: str = "u-1",
    token: str | None = SECRET,
    url: str = URL,
) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"HTTP_X_GITLAB_EVENT": event, "HTTP_X_GITLAB_EVENT_UUID": uuid}
    if token is not None:
        headers["HTTP_X_GITLAB_TOKEN"] = token
    response = Client().generic("POST", url, raw, content_type="application/json", **headers)
    return response.status_code, response.json()


def test_wrong_or_missing_token_is_401_and_stores_nothing() -> None:
    body = body_of("deployment")
    assert deliver("Deployment Hook", body, token="wrong")[0] == 401
    assert deliver("Deployment Hook", body, token=None)[0] == 401
    assert deliver("Deployment Hook", body, token="")[0] == 401
    assert not WebhookDelivery.objects.exists() and not RawEvent.objects.exists()
    assert not Deployment.objects.exists()


def test_the_token_is_checked_before_the_body_is_parsed() -> None:
    status, answer = deliver("Push Hook", b'{"ref": ', token="wrong")
    assert status == 401 and "X-Gitlab-Token" in answer["detail"]
    status, answer = deliver("Push Hook", b'{"ref": ')
    assert status == 400 and answer["detail"].startswith("The body is not valid JSON")
    assert not WebhookDelivery.objects.exists()


def test_secret_not_configured_is_503_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DORA_GITLAB_WEBHOOK_SECRET")
    status, answer = deliver("Deployment Hook", body_of("deployment"))
    assert status == 503 and "DORA_GITLAB_WEBHOOK_SECRET" in answer["detail"]
    assert deliver("Deployment Hook", b"{}", url="/webhooks/gitlab/nope")[0] == 404


def test_body_over_the_limit_is_413(settings: Any) -> None:
    settings.DORA_MAX_BODY_BYTES = 100
    assert deliver("Deployment Hook", body_of("deployment"))[0] == 413
    assert not WebhookDelivery.objects.exists()


def test_unknown_event_is_202_and_kept_raw() -> None:
    status, answer = deliver("Wiki Page Hook", {"object_kind": "wiki_page"})
    assert status == 202 and "'Wiki Page Hook' is not used" in answer["detail"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.provider == "gitlab" and delivery.event == "Wiki Page Hook"
    assert not RawEvent.objects.exists()


def test_deployment_hook_records_a_finished_deployment_once() -> None:
    status, answer = deliver("Deployment Hook", body_of("deployment"), uuid="dep-15")
    assert status == 200 and answer["counts"]["created"] == 1
    deployment = Deployment.objects.get()
    assert deployment.service.name == "test-deployment-webhooks"
    assert deployment.environment.name == "staging"
    assert deployment.status == "success"
    assert deployment.finished_at.isoformat() == "2021-04-28T19:50:00+00:00"  # 21:50 +0200
    # The same delivery again: answered from the first, nothing recorded twice.
    status, answer = deliver("Deployment Hook", body_of("deployment"), uuid="dep-15")
    assert status == 200 and answer["duplicate"] is True
    assert Deployment.objects.count() == 1 and WebhookDelivery.objects.count() == 1


def test_merge_request_and_pipeline_hooks() -> None:
    assert deliver("Merge Request Hook", body_of("merge_request"), uuid="mr")[0] == 200
    change = Change.objects.get()
    assert (change.repo, change.number) == ("gitlabhq/gitlab-test", 1)
    assert deliver("Pipeline Hook", body_of("pipeline"), uuid="pl")[0] == 200
    run = PipelineRun.objects.get()
    assert run.status == "success"
    assert run.sha == "bcbb5ec396a2c0f828686f14fac9b80b780504f2"


def test_note_hook_on_a_merge_request_is_its_first_review() -> None:
    # GitLab docs' "Comment on a merge request" example (tests/fixtures/gitlab/README.md): user
    # 1 comments on MR !1 (author 8) of gitlab-org/gitlab-test at 2015-05-17 18:21:36 UTC.
    note = Path(__file__).parents[1] / "fixtures" / "gitlab" / "webhooks"
    status, _ = deliver("Note Hook", (note / "note_merge_request.json").read_bytes())
    assert status == 200
    change = Change.objects.get()
    assert (change.repo, change.number) == ("gitlab-org/gitlab-test", 1)
    assert change.first_review_at == datetime(2015, 5, 17, 18, 21, 36, tzinfo=UTC)


@pytest.mark.parametrize("hook_first", (False, True))
def test_a_merge_request_gets_the_commits_its_branchs_push_brought(hook_first: bool) -> None:
    # push.json's "fixed readme" (da15608...) pushed alone as the new branch `ms-viewport` of
    # gitlabhq/gitlab-test, the branch and last commit of merge_request.json's MR !1: the
    # change's one commit, whichever delivery came first (the push finds the change by branch).
    push = json.loads(body_of("push"))
    push["project"]["path_with_namespace"] = "gitlabhq/gitlab-test"
    push.update(
        ref="refs/heads/ms-viewport",
        before="0" * 40,
        commits=push["commits"][1:],
        total_commits_count=1,
    )
    deliveries = [("Push Hook", push), ("Merge Request Hook", body_of("merge_request"))]
    for n, (event, body) in enumerate(reversed(deliveries) if hook_first else deliveries):
        assert deliver(event, body, uuid=f"d-{n}")[0] == 200
    change = Change.objects.get()
    commits = ChangeCommit.objects.filter(change=change, role=ChangeCommit.Role.COMMIT)
    assert list(commits.values_list("sha", flat=True)) == [
        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    ]


def test_named_source_route(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.DORA_GITLAB_WEBHOOKS = {"gitlab-self": {"secret_env": "SELF_GITLAB_TOKEN"}}
    monkeypatch.setenv("SELF_GITLAB_TOKEN", "other")
    url = "/webhooks/gitlab/gitlab-self"
    assert deliver("Deployment Hook", body_of("deployment"), url=url)[0] == 401
    status, _ = deliver("Deployment Hook", body_of("deployment"), url=url, token="other")
    assert status == 200
    assert RawEvent.objects.get(type="deployment").source == "gitlab-self"


def test_a_gitlab_source_row_is_a_webhook_source_with_its_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Source.objects.create(
        name="gl-file", kind="gitlab", repos=["a/b"], webhook_secret_env="GL_FILE_SECRET"
    )
    monkeypatch.setenv("GL_FILE_SECRET", "from-the-file")
    url = "/webhooks/gitlab/gl-file"
    assert deliver("Deployment Hook", body_of("deployment"), url=url)[0] == 401  # not SECRET
    status, _ = deliver("Deployment Hook", body_of("deployment"), url=url, token="from-the-file")
    assert status == 200
    assert RawEvent.objects.get(type="deployment").source == "gl-file"
