"""MISP events out and in (MISP core format JSON).

Out (``misp_event``): released envelopes as one MISP event. Each envelope becomes MISP
attributes or objects, whose ``uuid`` is the item id:

* an ``indicator`` item (a STIX 2.1 indicator body): one attribute typed from its pattern
  when the pattern is a single comparison trilat recognises (``ip-dst``, ``domain``,
  ``url``, ``md5``, ``sha1``, ``sha256``, ``email-src``…), else a ``stix2-pattern``;
* an item with a point location: a ``geolocation`` object (latitude, longitude, altitude,
  text, first-seen/last-seen);
* anything else (reports, bulletins, chat, RFIs…): a ``text`` attribute with its text,
  or its name when it has none.

Labels travel as tags on every attribute and object and on the event: the MISP TLP
taxonomy tag (``tlp:amber+strict``…) and trilat machine tags ``trilat:banner="…"``,
``trilat:classification="…"`` and ``trilat:rel-to="NATION"``; the event's tags are the
roll-up of all labels. The event's and every element's ``distribution`` is 0 (this
organisation only): trilat has already decided who may see this, so MISP must not
redistribute it (MISP's own sharing groups enforce nothing about REL TO).

Takes envelopes the caller has already released; never decides releasability. Pure:
returns a dict (``json.dumps`` writes it).

In (``misp_indicators``): the attributes of a MISP event that name an observable, as STIX
2.1 indicators with the TLP their tags carry. It assigns no label: the importer gives one,
which must cover those TLPs.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from trilat.adapters._export import geometry_of, name_of, overall_label, text_of
from trilat.core.clock import format_time
from trilat.core.errors import DecodeError
from trilat.core.items import Envelope
from trilat.core.labels import Label, Tlp, format_banner, format_portion, ordered_codes

__all__ = ["MispIndicator", "misp_event", "misp_indicators", "misp_tags"]

_ORGANISATION_ONLY: Final = "0"
_THREAT_LEVEL_UNDEFINED: Final = "4"
_ANALYSIS_COMPLETED: Final = "2"
_GEOLOCATION_TEMPLATE: Final = "fdd30d5f-6752-45ed-bef2-25e8ce4d8a3"  # as misp-objects has it
_GEOLOCATION_VERSION: Final = "3"

# STIX 2.1 object path → (MISP attribute type, category, to_ids)
_PATTERN_TYPES: Final[dict[str, tuple[str, str, bool]]] = {
    "ipv4-addr:value": ("ip-dst", "Network activity", True),
    "ipv6-addr:value": ("ip-dst", "Network activity", True),
    "domain-name:value": ("domain", "Network activity", True),
    "url:value": ("url", "Network activity", True),
    "email-addr:value": ("email-src", "Payload delivery", True),
    "file:name": ("filename", "Payload delivery", True),
    "file:hashes.md5": ("md5", "Payload delivery", True),
    "file:hashes.'md5'": ("md5", "Payload delivery", True),
    "file:hashes.'sha-1'": ("sha1", "Payload delivery", True),
    "file:hashes.'sha-256'": ("sha256", "Payload delivery", True),
    "file:hashes.'sha-512'": ("sha512", "Payload delivery", True),
}
_SIMPLE_PATTERN: Final = re.compile(
    r"\[\s*([a-z0-9-]+:[A-Za-z0-9_.'-]+)\s*=\s*'((?:[^'\\]|\\.)*)'\s*\]"
)


def misp_tags(label: Label) -> list[dict[str, str]]:
    """MISP tags for *label*: the TLP taxonomy tag and trilat machine tags."""
    names: list[str] = []
    if label.tlp is not None:
        names.append(str(label.tlp).lower())
    names.append(f'trilat:banner="{format_banner(label)}"')
    names.append(f'trilat:classification="{label.classification.banner}"')
    names.extend(f'trilat:rel-to="{code}"' for code in ordered_codes(label.rel_to))
    return [{"name": name} for name in names]


def _timestamp(envelope: Envelope) -> str:
    return str(calendar.timegm(envelope.created.utctimetuple()))


def _comment(envelope: Envelope) -> str:
    return f"{format_portion(envelope.label)} {envelope.kind} from {envelope.originator.node}"


def _attribute(
    envelope: Envelope, kind: str, category: str, value: str, to_ids: bool
) -> dict[str, Any]:
    return {
        "uuid": envelope.id,
        "type": kind,
        "category": category,
        "value": value,
        "to_ids": to_ids,
        "distribution": _ORGANISATION_ONLY,
        "timestamp": _timestamp(envelope),
        "comment": _comment(envelope),
        "Tag": misp_tags(envelope.label),
    }


def _indicator(envelope: Envelope) -> dict[str, Any]:
    pattern = envelope.body.get("pattern")
    if not isinstance(pattern, str):
        raise DecodeError(f"indicator {envelope.id} has no STIX pattern to export to MISP")
    match = _SIMPLE_PATTERN.fullmatch(pattern.strip())
    if match is not None and match.group(1).lower() in _PATTERN_TYPES:
        kind, category, to_ids = _PATTERN_TYPES[match.group(1).lower()]
        value = re.sub(r"\\(.)", r"\1", match.group(2))
        return _attribute(envelope, kind, category, value, to_ids)
    return _attribute(envelope, "stix2-pattern", "Payload installation", pattern, True)


def _object_attribute(relation: str, kind: str, value: str, envelope: Envelope) -> dict[str, Any]:
    digest = hashlib.sha256(f"{envelope.id}\n{relation}".encode()).digest()
    return {
        "uuid": str(uuid.UUID(bytes=digest[:16], version=4)),
        "object_relation": relation,
        "type": kind,
        "category": "Other",
        "value": value,
        "to_ids": False,
        "disable_correlation": True,
        "distribution": _ORGANISATION_ONLY,
        "timestamp": _timestamp(envelope),
        "Tag": misp_tags(envelope.label),
    }


def _geolocation(envelope: Envelope, position: list[float]) -> dict[str, Any]:
    attributes = [
        _object_attribute("latitude", "float", repr(position[1]), envelope),
        _object_attribute("longitude", "float", repr(position[0]), envelope),
    ]
    if len(position) == 3:
        attributes.append(_object_attribute("altitude", "float", repr(position[2]), envelope))
    attributes.append(_object_attribute("text", "text", name_of(envelope), envelope))
    for relation, member in (("first-seen", "start"), ("last-seen", "end")):
        value = envelope.body.get(member)
        if isinstance(value, str):
            attributes.append(_object_attribute(relation, "datetime", value, envelope))
    return {
        "uuid": envelope.id,
        "name": "geolocation",
        "meta-category": "misc",
        "template_uuid": _GEOLOCATION_TEMPLATE,
        "template_version": _GEOLOCATION_VERSION,
        "description": "An object to describe a geographic location.",
        "distribution": _ORGANISATION_ONLY,
        "timestamp": _timestamp(envelope),
        "comment": _comment(envelope),
        "Attribute": attributes,
        "Tag": misp_tags(envelope.label),
    }


def _element(envelope: Envelope) -> tuple[str, dict[str, Any]]:
    """("Attribute" or "Object", the element) for one envelope."""
    if envelope.kind == "indicator":
        return "Attribute", _indicator(envelope)
    geometry = geometry_of(envelope)
    if geometry is not None:
        position = geometry["coordinates"] if geometry["type"] == "Point" else None
        if geometry["type"] == "LineString":
            position = geometry["coordinates"][0]  # a missile event: its launch point
        if position is not None:
            return "Object", _geolocation(envelope, position)
    text = text_of(envelope) or name_of(envelope)
    return "Attribute", _attribute(envelope, "text", "Other", text, False)


def _derived_uuid(ids: list[str]) -> str:
    digest = hashlib.sha256("\n".join(("trilat-misp-event", *ids)).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def misp_event(
    envelopes: Iterable[Envelope],
    *,
    info: str,
    event_uuid: str | None = None,
    event_date: date | None = None,
) -> dict[str, Any]:
    """A MISP event (``{"Event": {...}}``) of *envelopes*; the info line is required.

    The date defaults to the day of the newest envelope and the uuid to one derived from
    the item ids, so the same export gives the same event. Raises DecodeError when there is
    nothing to export.
    """
    released = list(envelopes)
    if not released:
        raise DecodeError("MISP export: no envelopes")
    if not info.strip():
        raise DecodeError("MISP export: the event needs an info line")
    newest = max(released, key=lambda envelope: envelope.created)
    overall = overall_label(released)
    if overall is None:  # pragma: no cover - released is not empty
        raise DecodeError("MISP export: no envelopes")
    attributes: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    for envelope in released:
        section, element = _element(envelope)
        (attributes if section == "Attribute" else objects).append(element)
    event: dict[str, Any] = {
        "uuid": event_uuid or _derived_uuid([envelope.id for envelope in released]),
        "info": info,
        "date": (event_date or newest.created.date()).isoformat(),
        "timestamp": _timestamp(newest),
        "published": False,
        "distribution": _ORGANISATION_ONLY,
        "sharing_group_id": "0",
        "threat_level_id": _THREAT_LEVEL_UNDEFINED,
        "analysis": _ANALYSIS_COMPLETED,
        "Tag": misp_tags(overall),
        "Attribute": attributes,
        "Object": objects,
    }
    return {"Event": event}


# --- in: MISP event → STIX 2.1 indicators -------------------------------------------------------

_MISP_NAMESPACE: Final = uuid.UUID("9f0e8a52-2f4c-4d8e-b7a5-3c1f6e2d8b47")
# MISP attribute type → STIX 2.1 object path of a one-comparison indicator pattern
_MISP_PATTERNS: Final[dict[str, str]] = {
    "ip-dst": "ipv4-addr:value",
    "ip-src": "ipv4-addr:value",
    "domain": "domain-name:value",
    "hostname": "domain-name:value",
    "url": "url:value",
    "email-src": "email-addr:value",
    "email-dst": "email-addr:value",
    "filename": "file:name",
    "md5": "file:hashes.MD5",
    "sha1": "file:hashes.'SHA-1'",
    "sha256": "file:hashes.'SHA-256'",
    "sha512": "file:hashes.'SHA-512'",
}
_MISP_TLP: Final[dict[str, Tlp]] = {
    "tlp:clear": Tlp.CLEAR,
    "tlp:white": Tlp.CLEAR,
    "tlp:green": Tlp.GREEN,
    "tlp:amber": Tlp.AMBER,
    "tlp:amber+strict": Tlp.AMBER_STRICT,
    "tlp:red": Tlp.RED,
}
_TLP_ORDER: Final = (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)


@dataclass(frozen=True, slots=True)
class MispIndicator:
    """One MISP attribute as a STIX 2.1 indicator: where it was, the unmarked STIX body, and
    the most restrictive TLP of its own and its event's tags (None when untagged)."""

    where: str
    body: dict[str, Any]
    tlp: Tlp | None


def _misp_time(value: Any, where: str) -> str:
    try:
        seconds = int(str(value))
        return format_time(datetime.fromtimestamp(seconds, UTC))
    except (ValueError, OverflowError, OSError):
        raise DecodeError(f"{where}: MISP timestamp is not a time: {str(value)[:40]!r}") from None


def _misp_tlp(tags: Any, where: str) -> Tlp | None:
    """The most restrictive TLP among MISP *tags*; an unknown ``tlp:`` tag is an error."""
    found = []
    for tag in tags or ():
        name = str(tag.get("name", "")).strip().lower() if isinstance(tag, Mapping) else ""
        if name in _MISP_TLP:
            found.append(_MISP_TLP[name])
        elif name.startswith("tlp:"):
            raise DecodeError(f"{where}: unknown TLP tag {name[:40]!r}")
    return max(found, key=_TLP_ORDER.index) if found else None


def _misp_attributes(event: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for position, attribute in enumerate(event.get("Attribute") or ()):
        yield f"Attribute[{position}]", attribute
    for index, obj in enumerate(event.get("Object") or ()):
        if not isinstance(obj, Mapping):
            raise DecodeError(f"Object[{index}] is not a JSON object")
        for position, attribute in enumerate(obj.get("Attribute") or ()):
            yield f"Object[{index}].Attribute[{position}]", attribute


def _pattern_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def misp_indicators(document: Any) -> list[MispIndicator]:
    """The attributes of a MISP event (``{"Event": {...}}``) that name an observable, as
    STIX 2.1 indicators (not yet validated by ``stix2``: the caller checks them).

    An attribute of another type (free text, geolocation…) fails the whole event, naming
    it: nothing is silently dropped. The indicator id is the attribute's uuid, or a UUIDv5
    of its type and value when it has none.
    """
    event = document.get("Event") if isinstance(document, Mapping) else None
    if not isinstance(event, Mapping):
        raise DecodeError("the MISP file is not an event ({'Event': {...}})")
    event_tlp = _misp_tlp(event.get("Tag"), "Event")
    indicators = []
    for where, attribute in _misp_attributes(event):
        if not isinstance(attribute, Mapping):
            raise DecodeError(f"{where} is not a JSON object")
        kind, value = str(attribute.get("type")), attribute.get("value")
        if kind not in _MISP_PATTERNS:
            raise DecodeError(f"{where}: MISP type {kind[:40]!r} has no STIX indicator pattern")
        if not isinstance(value, str) or not value:
            raise DecodeError(f"{where}: no value")
        tlps = [t for t in (event_tlp, _misp_tlp(attribute.get("Tag"), where)) if t is not None]
        when = _misp_time(attribute.get("timestamp", event.get("timestamp", 0)), where)
        try:
            identifier = uuid.UUID(str(attribute.get("uuid", "")))
        except ValueError:
            identifier = uuid.uuid5(_MISP_NAMESPACE, f"{kind}\n{value}")
        body: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{identifier}",
            "created": when,
            "modified": when,
            "name": f"MISP {kind} {value}"[:200],
            "pattern": f"[{_MISP_PATTERNS[kind]} = '{_pattern_value(value)}']",
            "pattern_type": "stix",
            "valid_from": when,
        }
        comment = attribute.get("comment")
        if isinstance(comment, str) and comment.strip():
            body["description"] = comment
        tlp = max(tlps, key=_TLP_ORDER.index) if tlps else None
        indicators.append(MispIndicator(where, body, tlp))
    if not indicators:
        raise DecodeError("the MISP event has no attributes")
    return indicators
