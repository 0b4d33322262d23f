"""How Atlantis, Spacelift and env0 deliveries are authenticated (pure checks, no database).

Spacelift signs as GitHub does, so GitHub's published vector applies
(tests/fixtures/shared/signature-vectors.json). env0: HMAC-SHA256 hex of the body, bare or
`sha256=`-prefixed; its own published vector does not reproduce (tests/fixtures/env0/README.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

from ingest.sources.atlantis.webhook import (
    apply_delivery_ids,
    atlantis_authorized,
    atlantis_secret_given,
)
from ingest.sources.env0.webhook import env0_signature_valid
from ingest.sources.spacelift.webhook import spacelift_signature_valid
from tests.shared import shared_fixture

SECRET = b"s3cret"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_atlantis_offers_basic_password_bearer_and_query_token() -> None:
    assert atlantis_secret_given(basic("atlantis", "pw:with:colons"), None) == ["pw:with:colons"]
    assert atlantis_secret_given("Bearer abc ", None) == ["abc"]
    assert atlantis_secret_given(None, "q") == ["q"]
    assert atlantis_secret_given("Basic not-base64!", None) == []
    assert atlantis_secret_given("Basic " + base64.b64encode(b"nocolon").decode(), None) == []
    assert atlantis_secret_given("Token abc", None) == []


def test_atlantis_authorized_when_any_offer_is_the_secret() -> None:
    assert atlantis_authorized(SECRET, ["wrong", "s3cret"])
    assert not atlantis_authorized(SECRET, ["s3cre", "s3cret2", ""])
    assert not atlantis_authorized(SECRET, [])


def test_atlantis_apply_redelivery_windows_are_ten_minutes() -> None:
    body = b'{"Success": true}'
    digest = hashlib.sha256(body).hexdigest()
    at = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)  # 1796635800 s: window 2994393
    assert apply_delivery_ids(body, at) == (f"apply:{digest}@2994393", f"apply:{digest}@2994392")


def test_spacelift_accepts_githubs_published_vector() -> None:
    vector = json.loads(shared_fixture("signature-vectors.json").read_text())[
        "github_x_hub_signature_256"
    ]
    secret, body = vector["secret"].encode(), vector["body_utf8"].encode()
    assert spacelift_signature_valid(secret, body, vector["expected"])
    assert not spacelift_signature_valid(secret, body + b" ", vector["expected"])
    assert not spacelift_signature_valid(b"other", body, vector["expected"])
    assert not spacelift_signature_valid(secret, body, vector["expected"].removeprefix("sha256="))
    assert not spacelift_signature_valid(secret, body, None)


def test_env0_signature_is_the_hex_hmac_sha256_of_the_body() -> None:
    body = b'{"type": "com.env0.webhook.test"}'
    digest = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert env0_signature_valid(SECRET, body, digest)
    assert env0_signature_valid(SECRET, body, "sha256=" + digest)
    assert env0_signature_valid(SECRET, body, digest.upper())
    assert not env0_signature_valid(SECRET, body + b"\n", digest)
    assert not env0_signature_valid(b"other", body, digest)
    assert not env0_signature_valid(SECRET, body, "")


def test_env0s_published_vector_does_not_reproduce() -> None:
    # docs.envzero.com: secret "Secret example", payload "Hello, World!" -> 0b844da9...;
    # HMAC-SHA256 of those gives d63f9c0a... (README). Recorded so a change shows.
    secret, body = b"Secret example", b"Hello, World!"
    published = "0b844da97d713d4965b66b72d0e9dc9fa8990e601acb8d7cdd33b560d41891d7"
    assert not env0_signature_valid(secret, body, published)
    assert env0_signature_valid(
        secret, body, "d63f9c0af8d9f8ac974d4c4480dc0131552b1dedabd09efa86b63be4f3b3e423"
    )
