"""Opaque pagination cursors: the store sequence, encrypted and authenticated.

A cursor tells its holder nothing (not even how many items the node holds: the sequence
is encrypted with ChaCha20-Poly1305 under a per-node key), and a cursor the node did not
mint — edited, truncated, from another node — is refused, so a client cannot probe the
sequence space for items it may not see.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

_NONCE: Final = 12
_AAD: Final = b"trilat cursor v1"
_LENGTH: Final = _NONCE + 8 + 16


class CursorError(ValueError):
    """The cursor was not minted by this node."""


class Cursors:
    """Mint and read cursors with one secret 32-byte key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("cursor key must be 32 bytes")
        self._aead = ChaCha20Poly1305(key)

    def encode(self, seq: int) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, struct.pack(">Q", seq), _AAD)
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def decode(self, text: str) -> int:
        try:
            blob = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise CursorError("cursor is not base64url") from None
        if len(blob) != _LENGTH:
            raise CursorError("unknown cursor")
        try:
            plain = self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], _AAD)
        except InvalidTag:
            raise CursorError("unknown cursor") from None
        return int(struct.unpack(">Q", plain)[0])
