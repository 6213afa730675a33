"""Node-to-node request signatures: every federation request is signed by the sender's key.

The signed message binds the method, the path with its query, the SHA-256 of the body, a
Unix timestamp, a random nonce and both node ids, so a request cannot be replayed (nonces
are remembered for the skew window), delayed beyond the window, redirected to another node
or altered. Internal to federation; the API calls :func:`check_request`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from trilat.core import _crypto
from trilat.core.errors import PeerError, SignatureError

NODE_HEADER: Final = "x-trilat-node"
KEY_HEADER: Final = "x-trilat-key"
TIME_HEADER: Final = "x-trilat-time"
NONCE_HEADER: Final = "x-trilat-nonce"
SIGNATURE_HEADER: Final = "x-trilat-signature"
MAX_SKEW: Final = 120  # seconds a request's timestamp may differ from the receiver's clock
_NONCE: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")


class RequestRefused(PeerError):
    """A federation request failed authentication; *slug* names the problem type."""

    def __init__(self, slug: str, detail: str, sender: str | None = None) -> None:
        self.slug, self.detail, self.sender = slug, detail, sender
        super().__init__(detail)

    def extensions(self) -> dict[str, str]:
        return {"reason": self.slug}


def request_message(
    method: str, target: str, body: bytes, timestamp: int, nonce: str, sender: str, receiver: str
) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return (
        f"trilat-request/v1\n{method.upper()}\n{target}\n{digest}\n{timestamp}\n{nonce}\n"
        f"{sender}\n{receiver}\n"
    ).encode()


def sign_request(
    *,
    method: str,
    target: str,
    body: bytes,
    sender: str,
    receiver: str,
    private_key: bytes,
    key_id: str,
    timestamp: int,
) -> dict[str, str]:
    """The authentication headers of one request (a fresh nonce each time)."""
    nonce = secrets.token_urlsafe(18)
    signature = _crypto.sign(
        private_key, request_message(method, target, body, timestamp, nonce, sender, receiver)
    )
    return {
        NODE_HEADER: sender,
        KEY_HEADER: key_id,
        TIME_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii"),
    }


@dataclass(frozen=True, slots=True)
class SenderKey:
    node: str
    key_id: str
    public_key: bytes


def check_request(
    headers: Mapping[str, str],
    *,
    method: str,
    target: str,
    body: bytes,
    receiver: str,
    key_of: Callable[[str], SenderKey | None],
    use_nonce: Callable[[str, str, int], bool],
    now: int,
    max_skew: int = MAX_SKEW,
) -> SenderKey:
    """The authenticated sender of a request, or RequestRefused saying why not.

    Order matters: the signature is checked before the nonce is recorded, so a forger
    cannot burn a legitimate sender's nonces.
    """
    sender = headers.get(NODE_HEADER)
    raw_signature = headers.get(SIGNATURE_HEADER)
    if not sender or not raw_signature:
        raise RequestRefused("unsigned", "request carries no node signature")
    key = key_of(sender)
    if key is None or headers.get(KEY_HEADER) != key.key_id:
        raise RequestRefused("unknown-key", f"no pinned key for node {sender[:64]!r}", sender)
    try:
        timestamp = int(headers.get(TIME_HEADER, ""))
    except ValueError:
        raise RequestRefused("stale", "request timestamp is not a number", sender) from None
    if abs(now - timestamp) > max_skew:
        raise RequestRefused(
            "stale", f"request timestamp is {now - timestamp} s from this node's clock", sender
        )
    nonce = headers.get(NONCE_HEADER, "")
    if not _NONCE.fullmatch(nonce):
        raise RequestRefused("unsigned", "request nonce is missing or malformed", sender)
    try:
        signature = base64.urlsafe_b64decode(raw_signature + "=" * (-len(raw_signature) % 4))
        _crypto.verify_signature(
            key.public_key,
            signature,
            request_message(method, target, body, timestamp, nonce, sender, receiver),
        )
    except (ValueError, SignatureError):
        raise RequestRefused("bad-signature", "request signature did not verify", sender) from None
    if not use_nonce(sender, nonce, timestamp):
        raise RequestRefused("replayed", "request nonce was already used", sender)
    return key
