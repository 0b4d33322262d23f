"""GitHub at organisation scale: a GitHub App source's sync (installation token minted once for
every repository), org discovery with include/exclude, archived and forks, and one rate budget
for the sources of one credential. GitHub's documented payloads (tests/fixtures/github) are
replayed with `responses`; the budget test runs on the fake GitHub server (tests/fake_github.py).
"""

from __future__ import annotations

import copy
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ValidationError
from django.core.management import call_command

from dora.config import config_apply, config_load
from ingest.models import Source
from ingest.sync import source_sync
from tests.fake_github import RATE_RESET, FakeClock, FakeGitHub

pytestmark = pytest.mark.django_db
API = "https://api.github.com"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github"
TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"  # the documented token, valid until 22:14:10
NOW = datetime(2016, 7, 11, 21, 0, tzinfo=UTC)


def example(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())["examples"]["default"]["value"]


def variant(repo: dict[str, Any], full_name: str, **changes: Any) -> dict[str, Any]:
    """The documented repository under another name (and archived/fork as given)."""
    copied = copy.deepcopy(repo)
    owner, name = full_name.split("/")
    copied.update(full_name=full_name, name=name, **changes)
    copied["owner"]["login"] = owner
    return copied


@pytest.fixture
def app_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    monkeypatch.setenv("TEST_APP_KEY", pem)


def repo_paths() -> list[str]:
    return [
        c.request.url.split("?")[0].removeprefix(f"{API}/repos/")
        for c in responses.calls
        if "/repos/" in c.request.url
    ]


@responses.activate
def test_app_source_discovers_the_installation_repositories_and_mints_one_token(
    app_key: None,
) -> None:
    listed = example("apps__list-repos-accessible-to-installation")
    documented = listed["repositories"][0]  # octocat/Hello-World, neither archived nor a fork
    page_one = [
        documented,
        variant(documented, "octocat/Hello-Archive", archived=True),
        variant(documented, "octocat/Spoon-Knife", fork=True),
        variant(documented, "octocat/svc-api"),
    ]
    page_two = [
        variant(documented, "octocat/svc-sandbox"),
        variant(documented, "octocat/docs"),
        variant(documented, "hubot/Hello-Other"),
    ]
    responses.get(
        f"{API}/installation/repositories",
        json={"total_count": 7, "repositories": page_one},
        headers={"Link": f'<{API}/installation/repositories?page=2>; rel="next"'},
        match=[responses.matchers.query_param_matcher({"per_page": "100"})],
    )
    responses.get(
        f"{API}/installation/repositories",
        json={"total_count": 7, "repositories": page_two},
        match=[responses.matchers.query_param_matcher({"page": "2"})],
    )
    responses.post(
        re.compile(rf"{API}(:443)?/app/installations/1/access_tokens"),
        status=201,
        json=example("apps__create-installation-access-token"),
    )
    responses.get(re.compile(rf"{API}/repos/.*"), json=[])
    source = Source.objects.create(
        name="gh-app",
        token_env="",
        org="octocat",
        app={"app_id": 42, "installation_id": 1, "private_key_env": "TEST_APP_KEY"},
        discovery={"include": ["Hello-*", "svc-*"], "exclude": ["*-sandbox"]},
    )
    result = source_sync(source, clock=FakeClock(NOW.timestamp()), now=NOW)
    assert result.discovered == ["octocat/Hello-World", "octocat/svc-api"]
    assert result.skipped == {
        "octocat/Hello-Archive": "archived",
        "octocat/Spoon-Knife": "fork",
        "octocat/svc-sandbox": "excluded by *-sandbox",
        "octocat/docs": "matches no include pattern",
        "hubot/Hello-Other": "not in octocat",
    }
    assert result.as_dict()["discovered"] == result.discovered
    # Five streams per repository (commits, pulls, runs, deployments, issues), nothing else.
    streams = ["commits", "pulls", "actions/runs", "deployments", "issues"]
    assert repo_paths() == [f"octocat/{n}/{s}" for n in ("Hello-World", "svc-api") for s in streams]
    minted = [c for c in responses.calls if c.request.method == "POST"]
    assert len(minted) == 1  # one token for 2 list pages and 10 stream requests
    signed = [
        c.request.headers["Authorization"]
        for c in responses.calls
        if "/access" not in c.request.url
    ]
    assert signed == [f"token {TOKEN}"] * 12
    assert not any("/orgs/" in c.request.url for c in responses.calls)


@responses.activate
def test_token_source_discovers_the_org_repositories_archived_included_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORG_TOKEN", "t0ken")
    documented = example("repos__list-for-org")[0]  # octocat/Hello-World
    responses.get(
        f"{API}/orgs/octocat/repos",
        json=[documented, variant(documented, "octocat/Old", archived=True)],
        match=[responses.matchers.query_param_matcher({"per_page": "100", "type": "all"})],
    )
    responses.get(re.compile(rf"{API}/repos/.*"), json=[])
    source = Source.objects.create(
        name="gh-org", token_env="ORG_TOKEN", org="octocat", discovery={"include_archived": True}
    )
    result = source_sync(source, clock=FakeClock(NOW.timestamp()), now=NOW)
    assert result.discovered == ["octocat/Hello-World", "octocat/Old"] and result.skipped == {}
    assert {c.request.headers["Authorization"] for c in responses.calls} == {"Bearer t0ken"}
    out = io.StringIO()
    call_command("sync", "--source", "gh-org", stdout=out)
    assert "gh-org: octocat: reading octocat/Hello-World, octocat/Old\n" in out.getvalue()


def test_sources_of_one_token_share_its_rate_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sources (one repository each) read with one token: the first spends the budget
    below the low mark, the second's first request waits for the reset."""
    monkeypatch.setenv("FAKE_GITHUB_TOKEN", "t0ken")
    now = datetime(2026, 3, 10, tzinfo=UTC)
    with FakeGitHub() as server:
        for name in ("octo/a", "octo/b"):
            server.repo(name, now - timedelta(days=1))
        # Each empty repository costs five requests (commits, pulls, runs, deployments,
        # issues); the server counts down from 54: the first source leaves 49, below 50.
        server.remaining = 54
        clock = FakeClock(now.timestamp())
        asked_before_sleeping: list[int] = []
        sleep = clock.sleep
        clock.sleep = lambda seconds: (  # type: ignore[method-assign]
            asked_before_sleeping.append(len(server.requests)),
            sleep(seconds),
        )
        for name, repo in (("gh-a", "octo/a"), ("gh-b", "octo/b")):
            Source.objects.create(
                name=name, base_url=server.url, token_env="FAKE_GITHUB_TOKEN", repos=[repo]
            )
        first = source_sync("gh-a", clock=clock, now=now)
        assert clock.sleeps == [] and first.http["rate_remaining"] == 49
        source_sync("gh-b", clock=clock, now=now)
        assert clock.sleeps == [RATE_RESET - now.timestamp() + 1.0]
        # before the second source's first request: the budget it waited for was the first's
        assert asked_before_sleeping == [5] and len(server.requests) == 10


APP_SOURCE = """\
sources:
  - name: gh-app
    kind: github
    app_id: 42
    private_key_env: TEST_APP_KEY
    org: acme
    include: ["svc-*"]
    exclude: ["*-sandbox"]
"""


def test_apply_config_stores_the_app_and_discovery_and_names_an_unset_key(
    monkeypatch: pytest.MonkeyPatch, app_key: None
) -> None:
    diff = config_apply(config_load(APP_SOURCE))
    assert diff.lines == ("+ source gh-app",) and diff.errors == ()
    source = Source.objects.get(name="gh-app")
    assert source.token_env == ""  # nothing to read: the App signs
    assert source.app == {"app_id": 42, "private_key_env": "TEST_APP_KEY"}
    assert source.discovery == {"include": ["svc-*"], "exclude": ["*-sandbox"]}
    source.full_clean()  # the admin's check accepts what the file wrote
    monkeypatch.delenv("TEST_APP_KEY")
    diff = config_apply(config_load(APP_SOURCE.replace("svc-*", "api-*")))
    assert diff.lines == () and diff.errors == (
        "sources.gh-app: GitHub App 42: the environment variable TEST_APP_KEY (private_key_env) "
        "is not set: put the App's private key (PEM) in it",
    )
    assert Source.objects.get(name="gh-app").discovery["include"] == ["svc-*"]  # left as it was


def test_source_rows_edited_in_the_admin_are_checked_like_the_file() -> None:
    def problems(**fields: Any) -> dict[str, list[str]]:
        try:
            Source(name="gh", **fields).full_clean()
        except ValidationError as exc:
            return exc.message_dict
        return {}

    app = {"app_id": 42, "private_key_env": "TEST_APP_KEY"}
    assert problems(token_env="", org="acme", app=app) == {}
    assert problems(token_env="T", org="acme", app=app) == {
        "token_env": ["Leave empty for a GitHub App (app), or empty app."]
    }
    assert problems(token_env="", org="acme", app={"app_id": 42}) == {
        "app": ["Name private_key_env (the variable with the PEM) or private_key_file."]
    }
    assert problems(token_env="", org="acme") == {
        "token_env": ["Name the variable holding the token (or set app)."]
    }
    assert problems(token_env="T", repos=["acme/web"], discovery={"include": ["w*"]}) == {
        "discovery": ["Chooses among an org's repositories: set org (not repos)."]
    }
    assert problems(token_env="T", org="acme", discovery={"include": "w*"}) == {
        "discovery": ['A JSON object: {"include": ["svc-*"], "exclude": [...]}.']
    }
