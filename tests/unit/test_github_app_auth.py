"""GitHub App credentials (ingest.sources.github.auth) and per-credential rate budgets
(ingest.http) against GitHub's documented payloads replayed with `responses`, on a fake clock.

The App's RSA key is generated here for each run (never committed); the JWT PyGithub signs with
it is checked against its public key.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dora.config import SourceSpec
from ingest.http import RestClient, SourceRejected, StaticToken, rate_budget_for
from ingest.sources.github.auth import AppSettings, installation_token
from ingest.sources.github.config import github_config_problems

API = "https://api.github.com"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github"
# PyGithub (which mints the tokens) writes the default port into its URLs.
TOKEN_URL = re.compile(r"https://api\.github\.com(:443)?/app/installations/1/access_tokens")
# The documented token: ghs_16C7e42F292c6912E7710c838347Ae178B4a, expires 2016-07-11T22:14:10Z.
FIRST = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
EXPIRES = datetime(2016, 7, 11, 22, 14, 10, tzinfo=UTC)


def example(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())["examples"]["default"]["value"]


def renewed_token() -> dict[str, Any]:
    """A variant of the documented token response: another token, valid one hour longer."""
    body = copy.deepcopy(example("apps__create-installation-access-token"))
    body.update(token="ghs_second000000000000000000000000000000", expires_at="2016-07-11T23:14:10Z")
    return body


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at.timestamp()
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def app_key(monkeypatch: pytest.MonkeyPatch) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    monkeypatch.setenv("TEST_APP_KEY", pem)
    return key


def settings(installation_id: int | None = 1) -> AppSettings:
    return AppSettings(app_id=42, installation_id=installation_id, private_key_env="TEST_APP_KEY")


def sent_authorizations(path_end: str) -> list[str]:
    """The Authorization headers sent to URLs whose path ends with `path_end`, in order."""
    return [
        c.request.headers.get("Authorization", "")
        for c in responses.calls
        if c.request.url.split("?")[0].endswith(path_end)
    ]


@responses.activate
def test_github_app_token_is_minted_once_and_reused_by_every_request_and_client(
    app_key: rsa.RSAPrivateKey,
) -> None:
    responses.post(TOKEN_URL, status=201, json=example("apps__create-installation-access-token"))
    responses.get(f"{API}/repos/octocat/Hello-World/commits", json=[])
    clock = Clock(datetime(2016, 7, 11, 21, 14, 10, tzinfo=UTC))  # an hour before it expires
    credential = installation_token(API, settings(), clock=clock)
    assert installation_token(API, settings(), clock=clock) is credential  # one per process
    for _ in range(2):  # two clients (two repositories or sources), two requests each
        client = RestClient(API, clock=clock, credential=credential)
        client.get("/repos/octocat/Hello-World/commits")
        client.get("/repos/octocat/Hello-World/commits")
    assert credential.minted == 1
    assert sent_authorizations("/commits") == [f"token {FIRST}"] * 4
    (as_app,) = sent_authorizations("/access_tokens")
    scheme, token = as_app.split(" ")
    claims = jwt.decode(token, app_key.public_key(), algorithms=["RS256"])
    assert scheme == "Bearer" and claims["iss"] == "42"  # the App's JWT, signed by its key


@responses.activate
def test_github_app_token_is_renewed_five_minutes_before_it_expires(app_key: Any) -> None:
    responses.post(TOKEN_URL, status=201, json=example("apps__create-installation-access-token"))
    responses.post(TOKEN_URL, status=201, json=renewed_token())
    responses.get(f"{API}/a", json=[])
    clock = Clock(datetime(2016, 7, 11, 22, 9, 9, tzinfo=UTC))  # 5 min 1 s before 22:14:10
    client = RestClient(
        API, clock=clock, credential=installation_token(API, settings(), clock=clock)
    )
    client.get("/a")
    clock.now += 1  # 22:09:10: exactly five minutes left
    client.get("/a")
    clock.now = datetime(2016, 7, 11, 23, 9, 9, tzinfo=UTC).timestamp()  # 5 min 1 s left of #2
    client.get("/a")
    assert sent_authorizations("/a") == [
        f"token {FIRST}",
        "token ghs_second000000000000000000000000000000",
        "token ghs_second000000000000000000000000000000",
    ]
    assert client.credential.minted == 2  # type: ignore[union-attr]


@responses.activate
def test_github_app_401_renews_the_token_once_and_retries(app_key: Any) -> None:
    responses.post(TOKEN_URL, status=201, json=example("apps__create-installation-access-token"))
    responses.post(TOKEN_URL, status=201, json=renewed_token())
    responses.get(f"{API}/a", status=401, json={"message": "Bad credentials"})
    responses.get(f"{API}/a", json=[1])
    clock = Clock(datetime(2016, 7, 11, 21, 0, tzinfo=UTC))
    client = RestClient(
        API, clock=clock, credential=installation_token(API, settings(), clock=clock)
    )
    assert client.get("/a").data == [1]
    assert sent_authorizations("/a") == [
        f"token {FIRST}",
        "token ghs_second000000000000000000000000000000",
    ]
    assert clock.sleeps == []  # a renewal, not a backoff


@responses.activate
def test_github_app_401_after_a_renewal_is_rejected_without_a_third_token(app_key: Any) -> None:
    responses.post(TOKEN_URL, status=201, json=example("apps__create-installation-access-token"))
    responses.post(TOKEN_URL, status=201, json=renewed_token())
    responses.get(f"{API}/a", status=401, json={"message": "Bad credentials"})
    clock = Clock(datetime(2016, 7, 11, 21, 0, tzinfo=UTC))
    credential = installation_token(API, settings(), clock=clock)
    with pytest.raises(SourceRejected, match="401 Bad credentials"):
        RestClient(API, clock=clock, credential=credential).get("/a")
    assert credential.minted == 2 and len(sent_authorizations("/a")) == 2


@responses.activate
def test_github_app_installation_is_looked_up_from_the_org(app_key: Any) -> None:
    responses.get(
        re.compile(rf"{API}(:443)?/orgs/github/installation"),
        json=example("apps__get-org-installation"),
    )
    responses.post(TOKEN_URL, status=201, json=example("apps__create-installation-access-token"))
    clock = Clock(datetime(2016, 7, 11, 21, 0, tzinfo=UTC))
    credential = installation_token(API, settings(installation_id=None), org="github", clock=clock)
    assert credential.authorization() == f"token {FIRST}"
    assert credential.installation_id == 1  # the documented installation's id
    assert credential.budget_key == f"github-app:{API}:42:1"
    assert [c.request.method for c in responses.calls] == ["GET", "POST"]
    assert sent_authorizations("/installation")[0].startswith("Bearer ")


@responses.activate
def test_github_app_refusals_say_what_to_fix(app_key: Any) -> None:
    responses.get(
        re.compile(rf"{API}(:443)?/orgs/acme/installation"),
        status=404,
        json={"message": "Not Found"},
    )
    responses.post(TOKEN_URL, status=401, json={"message": "A JSON web token could not be decoded"})
    with pytest.raises(SourceRejected, match="not installed on acme"):
        installation_token(API, settings(installation_id=None), org="acme").authorization()
    with pytest.raises(SourceRejected, match="app_id or the private key is wrong"):
        installation_token(API, settings()).authorization()


def test_github_app_key_problems_are_named(
    app_key: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def problems(**fields: Any) -> list[str]:
        return github_config_problems(SourceSpec(name="gh", kind="github", org="acme", **fields))

    assert problems(app_id=42, private_key_env="TEST_APP_KEY") == []
    assert problems(token_env="GITHUB_TOKEN", app_id=42, private_key_env="TEST_APP_KEY") == [
        "sources.gh: give token_env (a token) or app_id (a GitHub App), not both"
    ]
    assert problems(app_id=42, private_key_env="UNSET_APP_KEY") == [
        "sources.gh: GitHub App 42: the environment variable UNSET_APP_KEY (private_key_env) "
        "is not set: put the App's private key (PEM) in it"
    ]
    missing = tmp_path / "missing.pem"
    (message,) = problems(app_id=42, private_key_file=str(missing))
    assert message.startswith(f"sources.gh: GitHub App 42: private_key_file {missing}: cannot")
    not_pem = tmp_path / "key.txt"
    not_pem.write_text("ssh-rsa AAAA")
    assert problems(app_id=42, private_key_file=str(not_pem)) == [
        f"sources.gh: GitHub App 42: private_key_file {not_pem} does not hold a PEM private key "
        "(-----BEGIN ...)"
    ]
    monkeypatch.setenv(
        "BAD_APP_KEY", "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----"
    )
    (message,) = problems(app_id=42, private_key_env="BAD_APP_KEY")
    assert "the App's private key cannot sign a JWT" in message


@responses.activate
def test_rate_budget_is_shared_by_the_clients_of_one_credential() -> None:
    """Two repositories read with one token: the second waits for the budget the first spent;
    a client of another token does not."""
    reset = 5_000
    responses.get(
        f"{API}/repos/acme/a/commits",
        json=[],
        headers={"X-RateLimit-Remaining": "10", "X-RateLimit-Reset": str(reset)},
    )
    responses.get(
        f"{API}/repos/acme/b/commits",
        json=[],
        headers={"X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": str(reset + 3600)},
    )

    def client_of(token: str, clock: Clock) -> RestClient:
        credential = StaticToken(token, API)
        return RestClient(
            API, clock=clock, credential=credential, budget=rate_budget_for(credential.budget_key)
        )

    clock = Clock(datetime.fromtimestamp(1_000, UTC))
    client_of("t1", clock).get("/repos/acme/a/commits")
    assert clock.sleeps == []  # 10 left: the next request of this token waits, not this one
    other = Clock(datetime.fromtimestamp(1_000, UTC))
    client_of("t2", other).get("/repos/acme/b/commits")
    assert other.sleeps == []  # another token's budget
    client_of("t1", clock).get("/repos/acme/b/commits")
    assert clock.sleeps == [4_001.0]  # until the reset (5000 - 1000) and a second more
    assert rate_budget_for(StaticToken("t1", API).budget_key).remaining == 4999
