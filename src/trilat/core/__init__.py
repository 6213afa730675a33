"""Pure domain core: labels, agreements, policy, items and the audit log. No IO.

The names below are the public, stable surface; modules whose names start with an
underscore are internal and unstable.
"""

from trilat.core.agreements import Agreement, parse_agreement
from trilat.core.errors import (
    AgreementError,
    AuditError,
    DecodeError,
    LabelError,
    PeerError,
    PolicyError,
    ReleaseDenied,
    SignatureError,
    StoreError,
    TrilatError,
)
from trilat.core.items import Envelope, Item, Originator, seal, verify
from trilat.core.labels import (
    Classification,
    Label,
    Tlp,
    format_banner,
    format_portion,
    parse_label,
    roll_up,
)
from trilat.core.policy import Consent, Decision, Policy, Subject

__all__ = [
    "Agreement",
    "AgreementError",
    "AuditError",
    "Classification",
    "Consent",
    "Decision",
    "DecodeError",
    "Envelope",
    "Item",
    "Label",
    "LabelError",
    "Originator",
    "PeerError",
    "Policy",
    "PolicyError",
    "ReleaseDenied",
    "SignatureError",
    "StoreError",
    "Subject",
    "Tlp",
    "TrilatError",
    "format_banner",
    "format_portion",
    "parse_agreement",
    "parse_label",
    "roll_up",
    "seal",
    "verify",
]
