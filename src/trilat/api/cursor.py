"""Opaque, tamper-evident pagination cursors: the store sequence plus an HMAC tag.

A cursor the node did not mint (edited, truncated, from another node) is refused, so a
client cannot probe the sequence space for items it may not see.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from typing import Final

_TAG: Final = 12


class CursorError(ValueError):
    """The cursor was not minted by this node."""


class Cursors:
    """Mint and read cursors with one secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("cursor key must be at least 16 bytes")
        self._key = key

    def _tag(self, raw: bytes) -> bytes:
        return hmac.new(self._key, raw, hashlib.sha256).digest()[:_TAG]

    def encode(self, seq: int) -> str:
        raw = struct.pack(">Q", seq)
        return base64.urlsafe_b64encode(raw + self._tag(raw)).rstrip(b"=").decode("ascii")

    def decode(self, text: str) -> int:
        try:
            blob = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise CursorError("cursor is not base64url") from None
        if len(blob) != 8 + _TAG or text != self.encode(struct.unpack(">Q", blob[:8])[0]):
            raise CursorError("unknown cursor")
        if not hmac.compare_digest(blob[8:], self._tag(blob[:8])):
            raise CursorError("unknown cursor")
        return int(struct.unpack(">Q", blob[:8])[0])
