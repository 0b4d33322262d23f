"""X-TFE-Notification-Signature: HMAC-SHA512 of the raw body, checked against vectors computed
with OpenSSL and RFC 4231 (tests/fixtures/terraform/signature-vectors.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingest.sources.terraform.webhook import terraform_signature, terraform_signature_valid

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
VECTORS = json.loads((FIXTURES / "signature-vectors.json").read_text())["vectors"]


def body_of(vector: dict[str, Any]) -> bytes:
    if "body_file" in vector:
        return (FIXTURES / vector["body_file"]).read_bytes()
    return vector["body_text"].encode()


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_terraform_signature_matches_vector(vector: dict[str, Any]) -> None:
    secret, body = vector["token"].encode(), body_of(vector)
    assert terraform_signature(secret, body) == vector["signature"]
    assert terraform_signature_valid(secret, body, vector["signature"])
    assert terraform_signature_valid(secret, body, vector["signature"].upper())


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_terraform_signature_refuses_changes(vector: dict[str, Any]) -> None:
    secret, body, signature = vector["token"].encode(), body_of(vector), vector["signature"]
    assert not terraform_signature_valid(secret + b"x", body, signature)
    assert not terraform_signature_valid(secret, body + b" ", signature)
    assert not terraform_signature_valid(secret, body, signature[:-1] + "0")
    assert not terraform_signature_valid(secret, body, None)
    assert not terraform_signature_valid(secret, body, "")
    assert not terraform_signature_valid(b"", body, signature)
