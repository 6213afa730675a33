"""Raw Ed25519 and SHA-256 calls. Internal, unstable: call seal/verify in items instead."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from trilat.core.errors import SignatureError


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def generate_private_key() -> bytes:
    """A new Ed25519 private key as 32 raw bytes."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def public_key_of(private_key: bytes) -> bytes:
    """The 32 raw public-key bytes for a raw private key."""
    return (
        Ed25519PrivateKey.from_private_bytes(private_key)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


@lru_cache(maxsize=64)
def _private(private_key: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(private_key)


@lru_cache(maxsize=1024)
def _public(public_key: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_key)


def sign(private_key: bytes, message: bytes) -> bytes:
    return _private(private_key).sign(message)


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Raise SignatureError unless *signature* is valid (one opaque failure)."""
    try:
        _public(public_key).verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError() from exc
