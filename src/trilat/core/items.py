"""Items and envelopes: the signed, labelled unit of information (SPEC §5).

An :class:`Item` is what a producer hands to :func:`seal`; an :class:`Envelope` is the
immutable, signed result that is stored and exchanged. The signature is Ed25519 over the
RFC 8785 canonical JSON of the envelope's wire document without its ``sig`` member
(:func:`signing_bytes`). The document is the only wire form: ``label`` is the canonical
banner string (its owner is the originator's nation), ``created`` is RFC 3339 UTC with
millisecond precision, ``sig`` is unpadded base64url.

Decoding is strict and fails closed: unknown members, wrong types, ids that are not
lower-case UUIDv7, naive or non-canonical times, non-canonical banners and bad base64 all
raise :class:`DecodeError` (or :class:`LabelError` from the label parser) naming the member.

No IO, no clock: the caller passes the time. Bodies are deep-frozen (read-only mappings and
tuples) so that an envelope cannot be changed after it is sealed.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

from trilat.core import _crypto
from trilat.core.canonical import canonical_json
from trilat.core.clock import format_time
from trilat.core.errors import DecodeError, LabelError, SignatureError
from trilat.core.labels import Label, format_banner, is_nation, parse_label

__all__ = [
    "KINDS",
    "Envelope",
    "Item",
    "Originator",
    "document_bytes",
    "envelope_document",
    "envelope_from_document",
    "new_item_id",
    "seal",
    "signing_bytes",
    "verify",
]

KINDS: Final[frozenset[str]] = frozenset(
    {
        "track",
        "observation",
        "report",
        "missile_event",
        "encounter",
        "loitering",
        "ais_gap",
        "zone_entry",
        "rfi",
        "hadr_request",
        "hadr_offer",
        "task",
        "ack",
        "consent",
        "recall",
        "bulletin",
        "indicator",
        "document",
        "chat",
    }
)
"""The item kinds of SPEC §5 (a zone exit is a ``zone_entry`` body with its own type)."""

_MEMBERS: Final[tuple[str, ...]] = (
    "id",
    "kind",
    "originator",
    "created",
    "label",
    "topics",
    "recipients",
    "refs",
    "supersedes",
    "body",
    "sig",
)
_OPTIONAL: Final[frozenset[str]] = frozenset({"recipients", "refs", "supersedes"})
_UUID7: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_TOPIC: Final = re.compile(r"[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*")
_NODE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_SIG_LENGTH: Final = 64
_MAX_TOPIC: Final = 200
_MAX_MS: Final = (1 << 48) - 1
_EXACT_INTEGER: Final = 2**53


def _freeze(value: Any) -> Any:
    """A read-only deep copy of a JSON value: mappings become proxies, lists tuples."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value  # the common leaves, without the abstract-class checks below
    if kind is dict or kind is MappingProxyType or isinstance(value, Mapping):
        return MappingProxyType({key: _freeze(element) for key, element in value.items()})
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        return tuple([_freeze(element) for element in value])
    return value


def _thaw(value: Any) -> Any:
    """Plain ``dict``/``list`` copy of a frozen JSON value (what ``json.dumps`` accepts)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is MappingProxyType or kind is dict or isinstance(value, Mapping):
        return {key: _thaw(element) for key, element in value.items()}
    if kind is tuple or kind is list or isinstance(value, tuple | list):
        return [_thaw(element) for element in value]
    return value


@dataclass(frozen=True, slots=True)
class Originator:
    """The node that created and signed an item, and its nation (the label's owner)."""

    node: str
    nation: str


@dataclass(frozen=True, slots=True)
class Item:
    """Unsigned content handed to :func:`seal`; the body is frozen on construction."""

    kind: str
    label: Label
    topics: tuple[str, ...]
    body: Mapping[str, Any]
    recipients: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    supersedes: str | None = None

    def __post_init__(self) -> None:
        for member in ("topics", "recipients", "refs"):
            if isinstance(getattr(self, member), str):  # a str would become its letters
                raise _fail(member, "expected a sequence of strings, got one string")
        object.__setattr__(self, "topics", tuple(self.topics))
        object.__setattr__(self, "recipients", tuple(self.recipients))
        object.__setattr__(self, "refs", tuple(self.refs))
        object.__setattr__(self, "body", _freeze(self.body))

    def __hash__(self) -> int:
        return hash((self.kind, self.label, self.topics, canonical_json(_thaw(self.body))))


@dataclass(frozen=True, slots=True)
class Envelope:
    """A sealed item: immutable, signed by its originator. Build one only with :func:`seal`
    or :func:`envelope_from_document`."""

    id: str
    kind: str
    originator: Originator
    created: datetime
    label: Label
    topics: tuple[str, ...]
    recipients: tuple[str, ...]
    refs: tuple[str, ...]
    supersedes: str | None
    body: Mapping[str, Any] = field(repr=False)
    sig: bytes = field(repr=False)
    # The canonical signing bytes, computed once (by seal, or on the first signing_bytes
    # call) and reused by verify and document_bytes. Not an init argument, so
    # dataclasses.replace() starts a fresh cache; never compared, hashed or shown.
    _signing: bytes | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", _freeze(self.body))

    def __hash__(self) -> int:
        return hash((self.id, self.sig))


# --- identifiers and time ---------------------------------------------------------------


def new_item_id(at: datetime) -> str:
    """A fresh UUIDv7 (RFC 9562 §5.7): 48-bit Unix milliseconds of *at*, then 74 random bits."""
    millis = _unix_millis(at)
    random_bits = int.from_bytes(secrets.token_bytes(10), "big")
    rand_a = random_bits >> 68  # 12 bits
    rand_b = random_bits & ((1 << 62) - 1)  # 62 bits
    value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _unix_millis(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("naive datetime: trilat times are UTC-aware")
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    millis = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if not 0 <= millis <= _MAX_MS:
        raise ValueError(f"time outside the UUIDv7 range: {at.isoformat()}")
    return millis


def _to_millisecond(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("naive datetime: trilat times are UTC-aware")
    utc = at.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)


# --- validation shared by seal() and the decoder -----------------------------------------


def _fail(member: str, reason: str) -> DecodeError:
    return DecodeError(f"envelope member {member!r}: {reason}")


def _check_id(member: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(member, f"expected a string, got {type(value).__name__}")
    if _UUID7.fullmatch(value) is None:
        raise _fail(member, f"not a lower-case UUIDv7: {value[:64]!r}")
    return value


def _check_ids(member: str, values: Sequence[object]) -> tuple[str, ...]:
    ids = tuple(_check_id(f"{member}[{i}]", value) for i, value in enumerate(values))
    if len(set(ids)) != len(ids):
        raise _fail(member, "duplicate id")
    return ids


def _check_kind(value: object) -> str:
    if not isinstance(value, str):
        raise _fail("kind", f"expected a string, got {type(value).__name__}")
    if value not in KINDS:
        raise _fail("kind", f"unknown kind {value[:64]!r}")
    return value


def _check_topics(values: Sequence[object]) -> tuple[str, ...]:
    topics: list[str] = []
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise _fail(f"topics[{i}]", f"expected a string, got {type(value).__name__}")
        if len(value) > _MAX_TOPIC or _TOPIC.fullmatch(value) is None:
            raise _fail(f"topics[{i}]", f"not a dotted lower-case topic: {value[:64]!r}")
        topics.append(value)
    if not topics:
        raise _fail("topics", "an item needs at least one topic")
    if len(set(topics)) != len(topics):
        raise _fail("topics", "duplicate topic")
    return tuple(topics)


def _check_nations(member: str, values: Sequence[object]) -> tuple[str, ...]:
    nations: list[str] = []
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise _fail(f"{member}[{i}]", f"expected a string, got {type(value).__name__}")
        if not is_nation(value):
            raise _fail(f"{member}[{i}]", f"unknown nation code {value[:16]!r}")
        nations.append(value)
    if len(set(nations)) != len(nations):
        raise _fail(member, "duplicate nation")
    return tuple(nations)


def _check_originator(value: object) -> Originator:
    if isinstance(value, Originator):
        node, nation = value.node, value.nation
    elif isinstance(value, Mapping):
        extra = sorted(set(value) - {"node", "nation"})
        if extra:
            raise _fail(f"originator.{extra[0]}", "unknown member")
        for member in ("node", "nation"):
            if member not in value:
                raise _fail(f"originator.{member}", "missing")
        node, nation = value["node"], value["nation"]
    else:
        raise _fail("originator", f"expected an object, got {type(value).__name__}")
    if not isinstance(node, str) or _NODE.fullmatch(node) is None:
        raise _fail("originator.node", f"not a node id: {str(node)[:64]!r}")
    if not isinstance(nation, str) or not is_nation(nation):
        raise _fail("originator.nation", f"unknown nation code {str(nation)[:16]!r}")
    return Originator(node=node, nation=nation)


def _check_json(value: Any, path: str) -> None:
    """Refuse anything canonical JSON cannot carry exactly (RFC 8785 / I-JSON)."""
    kind = type(value)
    if kind is int and -_EXACT_INTEGER <= value <= _EXACT_INTEGER:
        return  # every double holds it exactly
    if kind is float and math.isfinite(value):
        return
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise _fail(path, "lone surrogate in text")
        return
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        try:
            canonical_json(value)
        except ValueError as exc:
            raise _fail(path, "integer that no IEEE 754 double stands for") from exc
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _fail(path, "NaN or infinity")
        return
    if isinstance(value, Mapping):
        for key, element in value.items():
            if not isinstance(key, str):
                raise _fail(path, f"object key is {type(key).__name__}, not a string")
            if _SURROGATE.search(key):
                raise _fail(path, "lone surrogate in an object key")
            _check_json(element, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for i, element in enumerate(value):
            _check_json(element, f"{path}[{i}]")
        return
    raise _fail(path, f"not a JSON value: {type(value).__name__}")


def _check_body(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail("body", f"expected an object, got {type(value).__name__}")
    _check_json(value, "body")
    return value


class _NotJson(Exception):
    """A value canonical JSON cannot carry; the path is collected on the way out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.steps: list[str] = []


def _plain_json(value: Any) -> Any:
    """``_thaw(value)``, refusing what ``_check_json`` refuses (one walk for both)."""
    kind = type(value)
    if kind is str:
        if not value.isascii() and _SURROGATE.search(value):  # ASCII: no surrogate
            raise _NotJson("lone surrogate in text")
        return value
    if kind is int and -_EXACT_INTEGER <= value <= _EXACT_INTEGER:
        return value
    if kind is float and math.isfinite(value):
        return value
    if kind is MappingProxyType or kind is dict or isinstance(value, Mapping):
        plain: dict[str, Any] = {}
        for key, element in value.items():
            if type(key) is not str and not isinstance(key, str):
                raise _NotJson(f"object key is {type(key).__name__}, not a string")
            if not key.isascii() and _SURROGATE.search(key):
                raise _NotJson("lone surrogate in an object key")
            try:
                plain[key] = _plain_json(element)
            except _NotJson as exc:
                exc.steps.append(f".{key}")
                raise
        return plain
    if kind is tuple or kind is list or isinstance(value, list | tuple):
        items: list[Any] = []
        for i, element in enumerate(value):
            try:
                items.append(_plain_json(element))
            except _NotJson as exc:
                exc.steps.append(f"[{i}]")
                raise
        return items
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise _NotJson("lone surrogate in text")
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        try:
            canonical_json(value)
        except ValueError:
            raise _NotJson("integer that no IEEE 754 double stands for") from None
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJson("NaN or infinity")
        return value
    raise _NotJson(f"not a JSON value: {type(value).__name__}")


def _plain_body(value: object) -> dict[str, Any]:
    """The body as plain JSON data (what is signed), refusing what ``_check_body`` refuses
    with the same message."""
    if not isinstance(value, Mapping):
        raise _fail("body", f"expected an object, got {type(value).__name__}")
    try:
        plain: dict[str, Any] = _plain_json(value)
    except _NotJson as exc:
        raise _fail("body" + "".join(reversed(exc.steps)), exc.reason) from None
    return plain


def _owned_label(label: Label, originator: Originator) -> Label:
    if label.owner is None or label.owner == originator.nation:
        return parse_label(format_banner(label), owner=originator.nation)
    banner = format_banner(label)
    raise LabelError(banner, label.owner, 0, "label owner is not the originator's nation")


# --- sealing and verifying ----------------------------------------------------------------


def seal(
    item: Item,
    *,
    originator: Originator,
    private_key: bytes,
    at: datetime,
    item_id: str | None = None,
) -> Envelope:
    """Sign *item* as *originator* at time *at* (UTC-aware; kept to the millisecond).

    The label's owner becomes the originator's nation (a label already owned by another
    nation raises LabelError). Invalid content raises DecodeError naming the member.
    """
    created = _to_millisecond(at)
    originator = _check_originator(originator)
    # The item's body is already deeply frozen (Item froze it), so the envelope takes it as
    # it is rather than freezing a second copy; one walk over it then checks that it is JSON
    # and yields the plain data that is encoded and signed.
    sealed = object.__new__(Envelope)
    for name, value in (
        ("id", _check_id("id", item_id) if item_id is not None else new_item_id(created)),
        ("kind", _check_kind(item.kind)),
        ("originator", originator),
        ("created", created),
        ("label", _owned_label(item.label, originator)),
        ("topics", _check_topics(item.topics)),
        ("recipients", _check_nations("recipients", item.recipients)),
        ("refs", _check_ids("refs", item.refs)),
        (
            "supersedes",
            None if item.supersedes is None else _check_id("supersedes", item.supersedes),
        ),
        ("body", item.body),
        ("sig", b""),
    ):
        object.__setattr__(sealed, name, value)
    plain = _plain_body(item.body)
    message = canonical_json(_unsigned_document(sealed, plain))
    object.__setattr__(sealed, "_signing", message)
    # The signature goes in place once made: the envelope is not seen before that, and
    # its cached signing bytes (which never include sig) stay valid.
    object.__setattr__(sealed, "sig", _crypto.sign(private_key, message))
    return sealed


def verify(envelope: Envelope, public_key: bytes) -> None:
    """Check the originator's signature; raises SignatureError (opaque) on any failure.

    The label's owner is not in the signed bytes (it is the originator's nation), so an
    envelope whose label claims another owner fails here too.
    """
    if envelope.label.owner != envelope.originator.nation:
        raise SignatureError()
    try:
        message = signing_bytes(envelope)
    except (TypeError, ValueError, UnicodeError) as exc:
        raise SignatureError() from exc
    _crypto.verify_signature(public_key, envelope.sig, message)


# --- the wire document --------------------------------------------------------------------


@lru_cache(maxsize=64)
def _time_text(at: datetime) -> str:
    """``format_time``, remembered: the items of one batch are sealed at one instant."""
    return format_time(at)


def _unsigned_document(envelope: Envelope, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": envelope.id,
        "kind": envelope.kind,
        "originator": {"node": envelope.originator.node, "nation": envelope.originator.nation},
        "created": _time_text(envelope.created),
        "label": format_banner(envelope.label),
        "topics": list(envelope.topics),
        "recipients": list(envelope.recipients),
        "refs": list(envelope.refs),
        "supersedes": envelope.supersedes,
        "body": _thaw(envelope.body) if body is None else body,
    }


def signing_bytes(envelope: Envelope) -> bytes:
    """RFC 8785 canonical JSON of the envelope's document without ``sig``: what is signed.

    Computed once per envelope and kept on it (an envelope is immutable).
    """
    message = envelope._signing
    if message is None:
        message = canonical_json(_unsigned_document(envelope))
        object.__setattr__(envelope, "_signing", message)
    return message


def _sig_text(sig: bytes) -> str:
    return base64.urlsafe_b64encode(sig).rstrip(b"=").decode("ascii")


def document_bytes(envelope: Envelope) -> bytes:
    """RFC 8785 canonical JSON of the whole wire document (with ``sig``): the stored form.

    Spliced from :func:`signing_bytes` rather than re-encoded: in UTF-16 key order ``sig``
    falls between ``refs`` and ``supersedes``, and the members after it (``supersedes``,
    ``topics``) are encoded on their own to find the splice point exactly.
    """
    message = signing_bytes(envelope)
    tail = canonical_json({"supersedes": envelope.supersedes, "topics": list(envelope.topics)})
    tail = b"," + tail[1:-1] + b"}"
    if not message.endswith(tail):  # cannot happen for a well-formed envelope
        return canonical_json(envelope_document(envelope))
    cut = len(message) - len(tail) + 1
    return b'%b"sig":"%b",%b' % (message[:cut], _sig_text(envelope.sig).encode(), message[cut:])


def envelope_document(envelope: Envelope) -> dict[str, Any]:
    """The JSON wire form (plain dicts and lists; ``json.dumps`` accepts it as is)."""
    document = _unsigned_document(envelope)
    document["sig"] = _sig_text(envelope.sig)
    return document


def _decode_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise _fail("created", f"expected a string, got {type(value).__name__}")
    if _TIME.fullmatch(value) is None:
        if re.fullmatch(r"[0-9T:.\-]+", value):
            raise _fail("created", f"naive time (no UTC offset): {value[:40]!r}")
        raise _fail("created", f"not RFC 3339 UTC with milliseconds: {value[:40]!r}")
    try:
        return datetime.fromisoformat(value)  # the pattern above leaves only a UTC time
    except ValueError as exc:
        raise _fail("created", f"not a valid time: {value!r}") from exc


def _decode_sig(value: object) -> bytes:
    if not isinstance(value, str):
        raise _fail("sig", f"expected a string, got {type(value).__name__}")
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail("sig", "not base64url") from exc
    if len(raw) != _SIG_LENGTH:
        raise _fail("sig", f"expected {_SIG_LENGTH} bytes, got {len(raw)}")
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != value:
        raise _fail("sig", "not canonical unpadded base64url")
    return raw


def _decode_list(document: Mapping[str, Any], member: str) -> list[Any]:
    value = document.get(member, [])
    if not isinstance(value, list):
        raise _fail(member, f"expected an array, got {type(value).__name__}")
    return value


def _decode_label(value: object, originator: Originator) -> Label:
    if not isinstance(value, str):
        raise _fail("label", f"expected a string, got {type(value).__name__}")
    label = parse_label(value, owner=originator.nation)
    canonical = format_banner(label)
    if canonical != value:
        raise _fail("label", f"not the canonical banner (expected {canonical!r})")
    return label


def envelope_from_document(document: Mapping[str, Any]) -> Envelope:
    """Decode a wire document strictly; does not check the signature (call :func:`verify`).

    Raises DecodeError naming the bad member, or LabelError for a bad banner.
    """
    if not isinstance(document, Mapping):
        raise DecodeError(f"envelope: expected an object, got {type(document).__name__}")
    unknown = sorted(str(key) for key in document if key not in _MEMBERS)
    if unknown:
        raise _fail(unknown[0], "unknown member")
    for member in _MEMBERS:
        if member not in document and member not in _OPTIONAL:
            raise _fail(member, "missing")
    originator = _check_originator(document["originator"])
    supersedes = document.get("supersedes")
    return Envelope(
        id=_check_id("id", document["id"]),
        kind=_check_kind(document["kind"]),
        originator=originator,
        created=_decode_time(document["created"]),
        label=_decode_label(document["label"], originator),
        topics=_check_topics(_decode_list(document, "topics")),
        recipients=_check_nations("recipients", _decode_list(document, "recipients")),
        refs=_check_ids("refs", _decode_list(document, "refs")),
        supersedes=None if supersedes is None else _check_id("supersedes", supersedes),
        body=_check_body(document["body"]),
        sig=_decode_sig(document["sig"]),
    )
