"""HCP Terraform notification checks (pure): the `X-TFE-Notification-Signature` verifier.

HashiCorp: "HCP Terraform provides an HMAC signature on all generic notification requests,
using the token as the key ... sent in the X-TFE-Notification-Signature header. The digest
algorithm used is SHA-512": the header is the lowercase hex HMAC-SHA512 of the raw body.
developer.hashicorp.com/terraform/cloud-docs/api-docs/notification-configurations#notification-authenticity
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-TFE-Notification-Signature"


def terraform_signature(secret: bytes, body: bytes) -> str:
    """The signature HCP Terraform sends for `body` under the notification token `secret`."""
    return hmac.new(secret, body, hashlib.sha512).hexdigest()


def terraform_signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when the header is HMAC-SHA512(secret, body) in hex, compared in constant time
    (upper-case hex is accepted: it is the same digest)."""
    if not header or not secret:
        return False
    expected = terraform_signature(secret, body).encode()
    return hmac.compare_digest(expected, header.strip().lower().encode("utf-8", "replace"))
