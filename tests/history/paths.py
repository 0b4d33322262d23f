"""The ways a history reaches the service, and what the service made of it.

A path is a small object with a `name` and `feed(history, workdir)`: render the history in its
source's shape and hand it to the service through a public entry point. `history_outcome` runs
one path on a fresh state (inside a savepoint rolled back afterwards) and returns the derived
facts (tests/facts.py) and the `manage.py metrics` JSON; `outcome_differences` says, line by
line, where two outcomes part.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import random
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from django.core.management import call_command
from django.db import transaction
from django.test import Client

from dora.models import Commit
from tests.facts import facts_snapshot
from tests.fake_github import FakeGitHub
from tests.fake_gitlab import FakeGitLab
from tests.history.events import history_events, jsonl_write
from tests.history.git import git_repository_write, history_with_shas
from tests.history.github import Delivery, fake_github_load, webhook_deliveries
from tests.history.gitlab import fake_gitlab_load
from tests.history.gitlab import webhook_deliveries as gitlab_webhook_deliveries
from tests.history.scenario import STACK, History, _iso

SOURCE = "github"
TOKEN_ENV = "HISTORY_GITHUB_TOKEN"
SECRET_ENV = "HISTORY_GITHUB_WEBHOOK_SECRET"
SECRET = "history-webhook-secret"
NO_SERVER = "http://127.0.0.1:9/api/v3"  # the events and webhook paths never call GitHub
GITLAB_SOURCE = "gitlab"
GITLAB_TOKEN_ENV = "HISTORY_GITLAB_TOKEN"
GITLAB_SECRET_ENV = "HISTORY_GITLAB_WEBHOOK_SECRET"
NO_GITLAB = "http://127.0.0.1:9"  # nor GitLab
ARGOCD_SOURCE = "argocd"
ARGOCD_SECRET_ENV = "HISTORY_ARGOCD_WEBHOOK_SECRET"
SPACELIFT_SOURCE = "spacelift"
FLUX_SOURCE = "flux"
FLUX_SECRET_ENV = "HISTORY_FLUX_WEBHOOK_SECRET"
SPACELIFT_SECRET_ENV = "HISTORY_SPACELIFT_WEBHOOK_SECRET"
TERRAFORM_SOURCE = "terraform"  # the events path's automation runs' source
TERRAFORM_SECRET_ENV = "HISTORY_TERRAFORM_WEBHOOK_SECRET"
TERRAFORM_TOKEN_ENV = "HISTORY_TERRAFORM_TOKEN"
TERRAFORM_URL = "https://tfe.history.test"  # replayed with `responses`, never reached

CONFIG = """\
teams:
  - name: shop-team
services:
  - name: {service}
    team: shop-team
    repos: [{repo}]
  - name: {stack}
    team: shop-team
    kind: infra
environments:
  - name: staging
    tier: staging
    order: 1
  - name: production
    tier: production
    order: 2
sources:
  - name: {source}
    kind: github
    base_url: {base_url}
    token_env: {token_env}
    webhook_secret_env: {secret_env}
    repos: [{repo}]
    backfill: 3650d
    deployments:
      from: [deployments_api]
    incidents:
      label: incident
  - name: {gitlab_source}
    kind: gitlab
    base_url: {gitlab_url}
    token_env: {gitlab_token_env}
    webhook_secret_env: {gitlab_secret_env}
    projects: [{repo}]
    backfill: 3650d
    deployments:
      from: [deployments_api]
    incidents:
      label: incident
  - name: {argocd_source}
    kind: argocd
    webhook_secret_env: {argocd_secret_env}
    stacks:
      - {{match: {service}-staging, service: {service}, environment: staging}}
      - {{match: {service}-production-*, service: {service}, environment: production}}
  - name: {flux_source}
    kind: flux
    webhook_secret_env: {flux_secret_env}
    stacks:
      - {{match: "Kustomization/{service}/{service}-staging", service: {service},
          environment: staging}}
      - {{match: "Kustomization/{service}/{service}-production-*", service: {service},
          environment: production}}
  - name: {spacelift_source}
    kind: spacelift
    webhook_secret_env: {spacelift_secret_env}
    stacks:
      - {{match: {stack}-staging, service: {stack}, environment: staging}}
      - {{match: {stack}-production, service: {stack}, environment: production}}
  - name: {terraform_source}
    kind: terraform
    webhook_secret_env: {terraform_secret_env}
    token_env: {terraform_token_env}
    base_url: {terraform_url}
    stacks:
      - {{match: {stack}-staging, service: {stack}, environment: staging}}
      - {{match: {stack}-production, service: {stack}, environment: production}}
"""


class HistoryPath(Protocol):
    """Render a history in one source's shape and feed it to the service."""

    name: str

    def feed(self, history: History, workdir: Path) -> Mapping[str, str] | None:
        """Returns None, or, when the source makes shas of its own (a git repository), the
        history's sha of each of them: the outcome is read back in the history's shas."""
        ...


def config_apply(
    history: History, workdir: Path, *, base_url: str = NO_SERVER, gitlab_url: str = NO_GITLAB
) -> None:
    """The same configuration for every path (`manage.py apply_config`): a github source and a
    gitlab source of the same repository (project), each path feeding one of them."""
    path = workdir / "dora.yml"
    path.write_text(
        CONFIG.format(
            service=history.service,
            repo=history.repo,
            stack=STACK,
            source=SOURCE,
            base_url=base_url,
            token_env=TOKEN_ENV,
            secret_env=SECRET_ENV,
            gitlab_source=GITLAB_SOURCE,
            gitlab_url=gitlab_url,
            gitlab_token_env=GITLAB_TOKEN_ENV,
            gitlab_secret_env=GITLAB_SECRET_ENV,
            argocd_source=ARGOCD_SOURCE,
            argocd_secret_env=ARGOCD_SECRET_ENV,
            spacelift_source=SPACELIFT_SOURCE,
            flux_source=FLUX_SOURCE,
            flux_secret_env=FLUX_SECRET_ENV,
            spacelift_secret_env=SPACELIFT_SECRET_ENV,
            terraform_source=TERRAFORM_SOURCE,
            terraform_secret_env=TERRAFORM_SECRET_ENV,
            terraform_token_env=TERRAFORM_TOKEN_ENV,
            terraform_url=TERRAFORM_URL,
        )
    )
    call_command("apply_config", str(path), stdout=io.StringIO(), stderr=io.StringIO())


def events_import(events: list[dict[str, Any]], path: Path) -> None:
    """`manage.py import_events FILE` (which fails when any line is rejected)."""
    path = jsonl_write(events, path)
    call_command("import_events", str(path), "--quiet", stdout=io.StringIO(), stderr=io.StringIO())


@contextmanager
def environ(**values: str) -> Iterator[None]:
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class EventsPath:
    """(a) CONTRACT §1 events through `manage.py import_events` (tests/history/events.py)."""

    name = "events"

    def feed(self, history: History, workdir: Path) -> None:
        events_import(history_events(history), workdir / "history.jsonl")


class GitHubSyncPath:
    """(b) The GitHub REST sync (`manage.py sync --source github`) against the fake GitHub
    holding the history (tests/history/github.py, tests/fake_github.py)."""

    name = "github-sync"

    def feed(self, history: History, workdir: Path) -> None:
        with FakeGitHub(page_cap=100) as server, environ(**{TOKEN_ENV: "t0ken"}):
            fake_github_load(server, history)
            config_apply(history, workdir, base_url=server.url)
            out, err = io.StringIO(), io.StringIO()
            call_command("sync", "--source", SOURCE, stdout=out, stderr=err)
            assert not err.getvalue(), err.getvalue()


def webhooks_post(history: History, deliveries: list[Delivery]) -> None:
    """Each delivery signed and posted to /webhooks/github, in the order given."""
    client = Client()
    with environ(**{SECRET_ENV: SECRET}):
        for n, delivery in enumerate(deliveries):
            body = json.dumps(delivery.payload).encode()
            signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            response = client.generic(
                "POST",
                f"/webhooks/{SOURCE}",
                body,
                content_type="application/json",
                HTTP_X_GITHUB_EVENT=delivery.event,
                HTTP_X_GITHUB_DELIVERY=f"history-{history.seed}-{n}",
                HTTP_X_HUB_SIGNATURE_256=f"sha256={signature}",
            )
            assert response.status_code == 200, (delivery.event, response.json())
            assert not response.json()["counts"].get("rejected"), response.json()


class GitHubWebhooksPath:
    """(c) GitHub's webhook deliveries for the history, signed, posted to /webhooks/github in
    the order GitHub sends them."""

    name = "github-webhooks"

    def feed(self, history: History, workdir: Path) -> None:
        webhooks_post(history, webhook_deliveries(history))


def _delivery_object(delivery: Delivery) -> tuple[str, Any]:
    """What a delivery is about: its pull request, deployment, workflow run, issue, or (a push)
    itself."""
    payload = delivery.payload
    if delivery.event in ("pull_request", "pull_request_review"):
        return ("pull", payload["pull_request"]["number"])
    if delivery.event in ("deployment", "deployment_status"):
        return ("deployment", payload["deployment"]["id"])
    if delivery.event == "workflow_run":
        return ("run", payload["workflow_run"]["id"])
    if delivery.event == "workflow_job":
        return ("run", payload["workflow_job"]["run_id"])
    if delivery.event == "issues":
        return ("issue", payload["issue"]["number"])
    # GitLab's hooks (X-Gitlab-Event)
    if delivery.event == "Merge Request Hook":
        return ("pull", payload["object_attributes"]["iid"])
    if delivery.event == "Note Hook":
        return ("pull", payload["merge_request"]["iid"])
    if delivery.event == "Deployment Hook":
        return ("deployment", payload["deployment_id"])
    if delivery.event == "Pipeline Hook":
        return ("run", payload["object_attributes"]["id"])
    if delivery.event == "Issue Hook":
        return ("issue", payload["object_attributes"]["iid"])
    return ("push", payload["after"])


def deliveries_shuffle(deliveries: list[Delivery], seed: int) -> list[Delivery]:
    """The deliveries interleaved at random, each object's own deliveries kept in their order
    (a pull request opened before it is closed, a deployment before its status): pushes and
    pull requests, deployments and the commits they ship arrive in any order between them."""
    queues: dict[tuple[str, Any], list[Delivery]] = {}
    for delivery in deliveries:
        queues.setdefault(_delivery_object(delivery), []).append(delivery)
    rng = random.Random(seed)
    keys = [key for key, queue in queues.items() for _ in queue]
    rng.shuffle(keys)
    return [queues[key].pop(0) for key in keys]


@dataclass(frozen=True)
class GitHubWebhooksShuffledPath:
    """(c'') The webhook deliveries in a shuffled order (deliveries_shuffle): facts must not
    depend on which of a push and a pull request delivery came first."""

    seed: int

    @property
    def name(self) -> str:
        return f"github-webhooks-shuffled-{self.seed}"

    def feed(self, history: History, workdir: Path) -> None:
        webhooks_post(history, deliveries_shuffle(webhook_deliveries(history), self.seed))


class GitHubWebhooksThenSyncPath:
    """(c') The webhook deliveries, then one sync pass: how a GitHub source runs (webhooks for
    the moment, the scheduled sync for what they lack). Checks that what the webhooks stored and
    what the sync reads again converge on the same records, without duplicates."""

    name = "github-webhooks+sync"

    def feed(self, history: History, workdir: Path) -> None:
        GitHubWebhooksPath().feed(history, workdir)
        GitHubSyncPath().feed(history, workdir)


class GitRepositoryPath:
    """(d) The commits as a real git repository (tests/history/git.py) read by `manage.py
    ingest_git` (source git:<repo>), everything else (changes, runs, deployments, incidents) as
    the events path's events with the commit events left out. git makes its own shas: the
    history is rendered against them (history_with_shas) and the outcome is read back in the
    history's shas (feed returns the map)."""

    name = "git-repository"

    def feed(self, history: History, workdir: Path) -> Mapping[str, str]:
        repository = workdir / "repository"
        shas = git_repository_write(history, repository)
        real = history_with_shas(history, {mine: real for real, mine in shas.items()})
        # The default branch, then each pull request's head branch (a clone's remote branches:
        # a squash or rebase merge's branch commits are reachable from nothing else).
        for rev in (history.default_branch, *(pr.head for pr in history.pulls)):
            call_command(
                "ingest_git",
                str(repository),
                "--repo",
                history.repo,
                "--rev",
                rev,
                "--quiet",
                stdout=io.StringIO(),
                stderr=io.StringIO(),
            )
        # Every commit of the history, and only those, came from the repository.
        stored = dict(Commit.objects.filter(repo=history.repo).values_list("sha", "source"))
        assert stored == dict.fromkeys(shas, f"git:{history.repo}"), stored
        events = [e for e in history_events(real) if e["type"] != "commit"]
        events_import(events, workdir / "history.jsonl")
        return shas


class GitLabSyncPath:
    """(e) The GitLab REST sync (`manage.py sync --source gitlab`) against the fake GitLab
    holding the history (tests/history/gitlab.py, tests/fake_gitlab.py). Its records come from
    source `gitlab` (`sources_as`: read as the events path's `github`)."""

    name = "gitlab-sync"
    sources_as = {GITLAB_SOURCE: SOURCE}

    def feed(self, history: History, workdir: Path) -> None:
        with FakeGitLab() as server, environ(**{GITLAB_TOKEN_ENV: "t0ken"}):
            fake_gitlab_load(server, history)
            config_apply(history, workdir, gitlab_url=server.url)
            out, err = io.StringIO(), io.StringIO()
            call_command("sync", "--source", GITLAB_SOURCE, stdout=out, stderr=err)
            assert not err.getvalue(), err.getvalue()


def gitlab_webhooks_post(history: History, deliveries: list[Any]) -> None:
    """Each delivery posted to /webhooks/gitlab with the secret token, in the order given."""
    client = Client()
    with environ(**{GITLAB_SECRET_ENV: SECRET}):
        for n, delivery in enumerate(deliveries):
            response = client.generic(
                "POST",
                "/webhooks/gitlab",
                json.dumps(delivery.payload).encode(),
                content_type="application/json",
                HTTP_X_GITLAB_TOKEN=SECRET,
                HTTP_X_GITLAB_EVENT=delivery.event,
                HTTP_X_GITLAB_EVENT_UUID=f"history-{history.seed}-{n}",
            )
            assert response.status_code == 200, (delivery.event, response.json())
            assert not response.json()["counts"].get("rejected"), response.json()


class GitLabWebhooksPath:
    """(f) GitLab's webhook deliveries for the history (Push, Merge Request, Note, Pipeline,
    Deployment and Issue Hooks) posted to /webhooks/gitlab with the secret token, in the order
    GitLab sends them.

    Compared as GitHub's webhooks path is (tests/integration/test_one_history.py
    _webhooks_only): every fact and figure of the events path but one. A Push Hook gives a
    commit's author time only, not its committer time, which is a direct push's merge time:
    merge_to_production counts the merge requests and not the direct pushes (checked, then
    left out when the history has direct pushes; the sync fills them). What the hooks carry
    (docs/GITLAB.md): a merge request's commits from its branch's pushes (the hook handler
    links them, sharing ingest/sources/landing.py with GitHub's), a merge commit's parents
    from the push of a merge request's merge, the first review from a Note Hook."""

    name = "gitlab-webhooks"
    sources_as = {GITLAB_SOURCE: SOURCE}

    def feed(self, history: History, workdir: Path) -> None:
        gitlab_webhooks_post(history, gitlab_webhook_deliveries(history))


@dataclass(frozen=True)
class GitLabWebhooksShuffledPath:
    """(f'') GitLab's deliveries in a shuffled order (deliveries_shuffle, each merge request's,
    deployment's, pipeline's and issue's own in order): a merge request's hooks before or after
    its branch's pushes, still the same facts."""

    seed: int
    sources_as = {GITLAB_SOURCE: SOURCE}

    @property
    def name(self) -> str:
        return f"gitlab-webhooks-shuffled-{self.seed}"

    def feed(self, history: History, workdir: Path) -> None:
        deliveries = deliveries_shuffle(gitlab_webhook_deliveries(history), self.seed)
        gitlab_webhooks_post(history, deliveries)


class GitLabWebhooksThenSyncPath:
    """(f') GitLab's webhook deliveries, then one sync pass (how a GitLab source runs): what
    the hooks stored and what the sync reads converge on the events path's facts."""

    name = "gitlab-webhooks+sync"
    sources_as = {GITLAB_SOURCE: SOURCE}

    def feed(self, history: History, workdir: Path) -> None:
        GitLabWebhooksPath().feed(history, workdir)
        GitLabSyncPath().feed(history, workdir)


PATHS: tuple[HistoryPath, ...] = (
    EventsPath(),
    GitHubSyncPath(),
    GitHubWebhooksPath(),
    GitHubWebhooksThenSyncPath(),
    GitRepositoryPath(),
    GitLabSyncPath(),
    GitLabWebhooksPath(),
    GitLabWebhooksThenSyncPath(),
)


@dataclass(frozen=True)
class Outcome:
    facts: dict[str, Any]
    metrics: dict[str, Any]


def metrics_json(history: History) -> dict[str, Any]:
    out = io.StringIO()
    call_command(
        "metrics",
        "--since",
        _iso(history.since),
        "--until",
        _iso(history.until),
        "--format",
        "json",
        stdout=out,
    )
    return json.loads(out.getvalue())


def history_outcome(path: HistoryPath, history: History, workdir: Path) -> Outcome:
    """Feed the history through `path` on a fresh state; its facts and metrics. The automation
    runs (no GitHub shape) go through import_events on every path but those that feed them
    themselves (`feeds_automation`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        config_apply(history, workdir)
        shas = path.feed(history, workdir)
        if not getattr(path, "feeds_automation", False):
            events_import(list(history.automation), workdir / "automation.jsonl")
        outcome = Outcome(facts_snapshot(), metrics_json(history))
        transaction.set_rollback(True)
    read = getattr(path, "outcome_read", None)
    if read is not None:
        outcome = read(outcome, history)
    outcome = outcome_with_sources(outcome, getattr(path, "sources_as", {}))
    return outcome_with_shas(outcome, shas) if shas else outcome


# The fact families that name a record's source in their first column.
_SOURCED = ("deployments", "incidents")


def outcome_with_sources(outcome: Outcome, names: Mapping[str, str]) -> Outcome:
    """The outcome with the sources of `names` (a path's `sources_as`: its source -> the events
    path's) renamed where facts name a record's source. A GitLab path's records come from
    source `gitlab`, the events path's from `github`; their ids are the same
    (`<repo>:deployment:<id>@<service>`, `<repo>:issue:<n>@<service>`)."""
    if not names:
        return outcome
    facts = dict(outcome.facts)
    for family in _SOURCED:
        rows = [(names.get(row[0], row[0]), *row[1:]) for row in facts.get(family, [])]
        facts[family] = sorted(rows, key=repr)
    return Outcome(facts, outcome.metrics)


_SHA = re.compile(r"\b[0-9a-f]{7,40}\b")


def outcome_with_shas(outcome: Outcome, shas: Mapping[str, str]) -> Outcome:
    """The outcome with each sha of `shas` (anywhere in a string: a fact's sha, a list of missing
    shas, a detail naming one, whole or abbreviated) replaced by its value, abbreviated alike,
    each fact family sorted again."""
    by_length: dict[int, dict[str, str]] = {}

    def one(match: re.Match[str]) -> str:
        text = match.group(0)
        n = len(text)
        if n not in by_length:
            by_length[n] = {real[:n]: mine[:n] for real, mine in shas.items()}
        return by_length[n].get(text, text)

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            return _SHA.sub(one, value)
        if isinstance(value, dict):
            return {key: swap(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(swap(item) for item in value)
        return value

    facts = {family: sorted(swap(rows), key=repr) for family, rows in outcome.facts.items()}
    return Outcome(facts, swap(outcome.metrics))


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, item in enumerate(value):
            label = item.get("name") or item.get("service") or str(i)
            if "environment" in item:
                label = f"{label}/{item['environment']}/{item.get('target')}"
            out.update(_flat(item, f"{prefix}[{label}]"))
        return out
    return {prefix: value}


def outcome_differences(expected: Outcome, got: Outcome, *, limit: int = 5) -> list[str]:
    """Where `got` parts from `expected`: per fact family, how many rows only one of them has
    (and the first `limit` of each side); then each metrics figure that differs. Empty when
    they are the same."""
    lines: list[str] = []
    for family in sorted(set(expected.facts) | set(got.facts)):
        want = [repr(row) for row in expected.facts.get(family, [])]
        have = [repr(row) for row in got.facts.get(family, [])]
        missing = [row for row in want if row not in have]
        extra = [row for row in have if row not in want]
        if missing or extra:
            lines.append(
                f"facts.{family}: {len(missing)} row(s) only expected, {len(extra)} only got"
            )
        lines += [f"  only expected: {row}" for row in missing[:limit]]
        lines += [f"  only got:      {row}" for row in extra[:limit]]
    want_m, have_m = _flat(expected.metrics), _flat(got.metrics)
    for key in sorted(set(want_m) | set(have_m)):
        if want_m.get(key) != have_m.get(key):
            lines.append(f"metrics.{key}: expected {want_m.get(key)!r}, got {have_m.get(key)!r}")
    return lines
