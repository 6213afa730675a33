"""The exception tree of trilat.

    TrilatError
    ├── LabelError (also ValueError)       a security label could not be parsed or is illegal
    ├── AgreementError (also ValueError)   an agreement file is malformed
    ├── PolicyError
    │   └── ReleaseDenied                  carries the deny Decision
    ├── SignatureError                     one opaque failure for every bad signature
    ├── AuditError                         the audit log or a proof does not verify
    ├── StoreError                         the store refused or failed an operation
    ├── PeerError                          a peer misbehaved or could not be reached
    └── DecodeError (also ValueError)      foreign bytes (NMEA, CoT, STIX, JSON) are malformed

Messages name the offending token and its place, never bodies, keys or tokens.
"""

from __future__ import annotations

from typing import Any


class TrilatError(Exception):
    """Root of every error trilat raises on purpose."""

    def extensions(self) -> dict[str, Any]:
        """Extra members for an RFC 9457 problem document (safe to show)."""
        return {}


class LabelError(TrilatError, ValueError):
    """A security label could not be parsed or breaks a marking rule."""

    def __init__(self, text: str, token: str, position: int, reason: str) -> None:
        self.text, self.token, self.position, self.reason = text, token, position, reason
        super().__init__(f"{reason}: {token!r} at offset {position} in {text!r}")

    def extensions(self) -> dict[str, Any]:
        return {"token": self.token, "position": self.position}


class AgreementError(TrilatError, ValueError):
    """An agreement file is malformed: names the file, the key and the reason."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source, self.key, self.reason = source, key, reason
        super().__init__(f"{source}: {key}: {reason}")

    def extensions(self) -> dict[str, Any]:
        return {"source": self.source, "key": self.key}


class PolicyError(TrilatError):
    """The policy engine could not be set up or used."""


class ReleaseDenied(PolicyError):
    """A release was attempted that the policy denies."""

    def __init__(self, decision: Any) -> None:
        self.decision = decision
        reasons = getattr(decision, "reasons", ()) or ("denied",)
        super().__init__(reasons[0])


class SignatureError(TrilatError):
    """A signature did not verify (deliberately opaque)."""

    def __init__(self, message: str = "signature did not verify") -> None:
        super().__init__(message)


class AuditError(TrilatError):
    """The audit log, a checkpoint or a proof does not verify."""


class StoreError(TrilatError):
    """The store refused or failed an operation."""


class PeerError(TrilatError):
    """A peer misbehaved or could not be reached."""


class DecodeError(TrilatError, ValueError):
    """Foreign input (NMEA, CoT XML, STIX, JSON) is malformed."""
