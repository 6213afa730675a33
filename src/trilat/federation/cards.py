"""Node cards: who a peer is (nation, node id, URL) and the Ed25519 key it signs with.

A card is self-signed (proof that its holder has the private key). Pinning a card is an
operator act (``trilat peer add``); a card for a node already pinned under another key is
accepted only as a **successor**: it names the pinned key as ``previous_key_id`` and carries
an ``endorsement`` by that key, so a key can rotate without a new out-of-band exchange,
while a stranger cannot replace a partner's key.

A card may carry ``tls_sha256``: the SHA-256 (hex) of the DER SubjectPublicKeyInfo of the
node's TLS certificate. It is covered by the card signature, so a partner that pins the card
pins the TLS key too; a new TLS key travels in a new card (endorsed when the node key also
changes). Cards without it (plain http nodes, older cards) keep their exact signed form.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from trilat.core import _crypto
from trilat.core.canonical import canonical_json
from trilat.core.clock import format_time
from trilat.core.errors import DecodeError, PeerError, SignatureError
from trilat.core.labels import is_nation

CARD_TYPE: Final = "trilat-node-card/v1"
_NODE: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_URL: Final = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(?::\d{1,5})?(/[A-Za-z0-9._~/-]*)?")
_TLS_PIN: Final = re.compile(r"[0-9a-f]{64}")
_MEMBERS: Final = frozenset(
    {
        "type",
        "nation",
        "node",
        "url",
        "public_key",
        "key_id",
        "issued",
        "previous_key_id",
        "signature",
        "endorsement",
        "tls_sha256",
    }
)


def key_id_of(public_key: bytes) -> str:
    """The short public id of a key: hex of the first 8 bytes of its SHA-256."""
    return hashlib.sha256(public_key).digest()[:8].hex()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: object, member: str) -> bytes:
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise DecodeError(f"card member {member!r}: not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise DecodeError(f"card member {member!r}: not base64url") from exc


@dataclass(frozen=True, slots=True)
class NodeCard:
    nation: str
    node: str
    url: str
    public_key: bytes
    issued: str
    previous_key_id: str | None = None
    signature: bytes = b""
    endorsement: bytes | None = None
    tls_sha256: str | None = None  # SPKI SHA-256 of the node's TLS certificate

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)


def _signed_members(card: NodeCard) -> dict[str, Any]:
    """The members the card's signature covers (``tls_sha256`` absent, not null, when the
    node serves no TLS: a card without it signs as before)."""
    members: dict[str, Any] = {
        "type": CARD_TYPE,
        "nation": card.nation,
        "node": card.node,
        "url": card.url,
        "public_key": _b64(card.public_key),
        "key_id": card.key_id,
        "issued": card.issued,
        "previous_key_id": card.previous_key_id,
    }
    if card.tls_sha256 is not None:
        members["tls_sha256"] = card.tls_sha256
    return members


def _signed_part(card: NodeCard) -> bytes:
    return canonical_json(_signed_members(card))


def make_card(
    *,
    nation: str,
    node: str,
    url: str,
    private_key: bytes,
    issued: datetime,
    previous_private_key: bytes | None = None,
    tls_sha256: str | None = None,
) -> NodeCard:
    """This node's card, self-signed; with *previous_private_key*, a successor card;
    with *tls_sha256*, pinning the node's TLS key (the URL must then be https)."""
    previous = (
        key_id_of(_crypto.public_key_of(previous_private_key))
        if previous_private_key is not None
        else None
    )
    card = NodeCard(
        nation=nation,
        node=node,
        url=url.rstrip("/"),
        public_key=_crypto.public_key_of(private_key),
        issued=format_time(issued),
        previous_key_id=previous,
        tls_sha256=tls_sha256,
    )
    _check_fields(card)
    message = _signed_part(card)
    endorsement = (
        _crypto.sign(previous_private_key, message) if previous_private_key is not None else None
    )
    return replace(card, signature=_crypto.sign(private_key, message), endorsement=endorsement)


def card_document(card: NodeCard) -> dict[str, Any]:
    """The JSON form written by ``trilat peer export``."""
    document = _signed_members(card)
    document["signature"] = _b64(card.signature)
    if card.endorsement is not None:
        document["endorsement"] = _b64(card.endorsement)
    return document


def _check_fields(card: NodeCard) -> None:
    if not is_nation(card.nation):
        raise DecodeError(f"card member 'nation': unknown nation {card.nation[:8]!r}")
    if not _NODE.fullmatch(card.node):
        raise DecodeError(f"card member 'node': malformed node id {card.node[:70]!r}")
    if not _URL.fullmatch(card.url):
        raise DecodeError(f"card member 'url': not an http(s) URL: {card.url[:100]!r}")
    if len(card.public_key) != 32:
        raise DecodeError("card member 'public_key': not a 32-byte Ed25519 key")
    if card.tls_sha256 is not None:
        if not _TLS_PIN.fullmatch(card.tls_sha256):
            raise DecodeError("card member 'tls_sha256': not 64 lower-case hex digits")
        if not card.url.startswith("https://"):
            raise DecodeError("card member 'tls_sha256': the card's URL must be https")


def parse_card(document: Mapping[str, Any]) -> NodeCard:
    """A card from its JSON form, self-signature checked.

    Raises DecodeError naming the bad member, SignatureError if a signature fails.
    """
    if not isinstance(document, Mapping):
        raise DecodeError("a node card is a JSON object")
    unknown = sorted(set(document) - _MEMBERS)
    if unknown:
        raise DecodeError(f"card member {unknown[0]!r}: unknown")
    if document.get("type") != CARD_TYPE:
        raise DecodeError(f"card member 'type': expected {CARD_TYPE!r}")
    for member in ("nation", "node", "url", "issued", "key_id"):
        if not isinstance(document.get(member), str):
            raise DecodeError(f"card member {member!r}: missing or not a string")
    previous = document.get("previous_key_id")
    if previous is not None and not (
        isinstance(previous, str) and re.fullmatch(r"[0-9a-f]{16}", previous)
    ):
        raise DecodeError("card member 'previous_key_id': not a key id")
    pin = document.get("tls_sha256")
    if "tls_sha256" in document and not isinstance(pin, str):
        raise DecodeError("card member 'tls_sha256': not a string")
    card = NodeCard(
        nation=document["nation"],
        node=document["node"],
        url=document["url"],
        public_key=_unb64(document.get("public_key"), "public_key"),
        issued=document["issued"],
        previous_key_id=previous,
        signature=_unb64(document.get("signature"), "signature"),
        endorsement=(
            _unb64(document["endorsement"], "endorsement")
            if document.get("endorsement") is not None
            else None
        ),
        tls_sha256=pin,
    )
    _check_fields(card)
    if document["key_id"] != card.key_id:
        raise DecodeError("card member 'key_id': does not match the public key")
    if (card.previous_key_id is None) != (card.endorsement is None):
        raise DecodeError("card member 'endorsement': needed exactly with previous_key_id")
    _crypto.verify_signature(card.public_key, card.signature, _signed_part(card))
    return card


def check_replacement(pinned_public_key: bytes, card: NodeCard) -> None:
    """Accept *card* in place of a pinned key: the same key, or a successor it endorsed.

    Raises PeerError naming why a replacement is refused.
    """
    if card.public_key == pinned_public_key:
        return
    pinned_id = key_id_of(pinned_public_key)
    if card.previous_key_id != pinned_id or card.endorsement is None:
        raise PeerError(
            f"node {card.node} is pinned under key {pinned_id}; a new key needs a successor "
            "card endorsed by that key"
        )
    try:
        _crypto.verify_signature(pinned_public_key, card.endorsement, _signed_part(card))
    except SignatureError as exc:
        raise PeerError(
            f"successor card of node {card.node} is not endorsed by key {pinned_id}"
        ) from exc


def pinned_tls(card_text: str) -> str | None:
    """The ``tls_sha256`` pin of a stored card's JSON text, or None (no pin, no card).

    The text was checked by ``parse_card`` when it was pinned; a malformed pin reads as a
    pin that nothing matches, so a damaged row fails closed.
    """
    try:
        document = json.loads(card_text)
    except ValueError:
        return None
    pin = document.get("tls_sha256") if isinstance(document, dict) else None
    if pin is None:
        return None
    return pin if isinstance(pin, str) and _TLS_PIN.fullmatch(pin) else "0" * 64
