"""Bearer tokens and roles: tokens are 256-bit random strings, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

ROLES: Final = frozenset(
    {"admin", "operator", "analyst", "disclosure_officer", "liaison", "public"}
)
"""The user roles of SPEC §1."""

ORIGINATING_ROLES: Final = frozenset({"admin", "operator", "analyst", "disclosure_officer"})
"""Roles that may originate items (with the node's nationality and enough clearance)."""

CONSENTING_ROLES: Final = frozenset({"admin", "disclosure_officer"})
"""Roles that may sign consent to onward release for the originator nation."""

RECALLING_ROLES: Final = frozenset({"admin", "operator", "disclosure_officer"})
"""Roles that may recall (spillage) an item the node originated."""

TOKEN_PREFIX: Final = "trl_"  # noqa: S105 - a public prefix, not a secret


def new_token() -> str:
    """A fresh bearer token: 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Hex SHA-256 of a token: what the store keeps and looks up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_hash(stored: str, presented: str) -> bool:
    """Constant-time comparison of two token hashes."""
    return hmac.compare_digest(stored.encode("ascii"), presented.encode("ascii"))


def check_roles(roles: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The roles, de-duplicated in order; raises ValueError naming an unknown role."""
    seen: list[str] = []
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (known: {', '.join(sorted(ROLES))})")
        if role not in seen:
            seen.append(role)
    if not seen:
        raise ValueError("a user needs at least one role")
    return tuple(seen)
