"""Node cards: who a peer is (nation, node id, URL) and the Ed25519 key it signs with.

A card is self-signed (proof that its holder has the private key). Pinning a card is an
operator act (``trilat peer add``); a card for a node already pinned under another key is
accepted only as a **successor**: it names the pinned key as ``previous_key_id`` and carries
an ``endorsement`` by that key, so a key can rotate without a new out-of-band exchange,
while a stranger cannot replace a partner's key.
"""

from __future__ import annotations

import base64
import hashlib
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

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)


def _signed_part(card: NodeCard) -> bytes:
    return canonical_json(
        {
            "type": CARD_TYPE,
            "nation": card.nation,
            "node": card.node,
            "url": card.url,
            "public_key": _b64(card.public_key),
            "key_id": card.key_id,
            "issued": card.issued,
            "previous_key_id": card.previous_key_id,
        }
    )


def make_card(
    *,
    nation: str,
    node: str,
    url: str,
    private_key: bytes,
    issued: datetime,
    previous_private_key: bytes | None = None,
) -> NodeCard:
    """This node's card, self-signed; with *previous_private_key*, a successor card."""
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
    )
    _check_fields(card)
    message = _signed_part(card)
    endorsement = (
        _crypto.sign(previous_private_key, message) if previous_private_key is not None else None
    )
    return replace(card, signature=_crypto.sign(private_key, message), endorsement=endorsement)


def card_document(card: NodeCard) -> dict[str, Any]:
    """The JSON form written by ``trilat peer export``."""
    document: dict[str, Any] = {
        "type": CARD_TYPE,
        "nation": card.nation,
        "node": card.node,
        "url": card.url,
        "public_key": _b64(card.public_key),
        "key_id": card.key_id,
        "issued": card.issued,
        "previous_key_id": card.previous_key_id,
        "signature": _b64(card.signature),
    }
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
