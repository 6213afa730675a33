"""What the export adapters share: an envelope's geometry, name and label fields. Internal.

Pure functions over envelopes that the caller has already released; nothing here decides
releasability. Geometry follows RFC 7946 (positions are ``[lon, lat]`` or
``[lon, lat, altitude]``, WGS 84).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from trilat.core.clock import format_time
from trilat.core.items import Envelope
from trilat.core.labels import (
    CONTROL_ORDER,
    Label,
    format_banner,
    format_portion,
    ordered_codes,
    roll_up,
)

_GEOMETRY_TYPES: Final = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)
_CONTROL_RANK: Final = {name: rank for rank, name in enumerate(CONTROL_ORDER)}
_NAME_MEMBERS: Final = ("title", "callsign", "name", "uid", "need", "offer", "question", "zone")


def thaw(value: Any) -> Any:
    """Plain dicts and lists from an envelope body's read-only mappings and tuples."""
    if isinstance(value, Mapping):
        return {key: thaw(element) for key, element in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(element) for element in value]
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _position(point: Any) -> list[float] | None:
    """``[lon, lat(, alt)]`` of a body point ``{"lat", "lon", "alt_m"?}``, or None."""
    if not isinstance(point, Mapping):
        return None
    lat, lon = _number(point.get("lat")), _number(point.get("lon"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    altitude = _number(point.get("alt_m"))
    return [lon, lat] if altitude is None else [lon, lat, altitude]


def _valid_positions(value: Any, depth: int) -> bool:
    if depth == 0:
        return (
            isinstance(value, list)
            and len(value) in (2, 3)
            and all(_number(v) is not None for v in value)
            and -180 <= value[0] <= 180
            and -90 <= value[1] <= 90
        )
    return (
        isinstance(value, list)
        and bool(value)
        and all(_valid_positions(part, depth - 1) for part in value)
    )


_DEPTH: Final = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


def geometry_of(envelope: Envelope) -> dict[str, Any] | None:
    """The RFC 7946 geometry an item's body carries, or None if it has no location.

    In order: a GeoJSON ``geometry`` member; a missile event's launch point, flight path
    and impact point (a LineString from launch to impact, or the launch Point); a
    ``point``; top-level ``lat``/``lon``. Malformed positions give None, never a guess.
    """
    body = envelope.body
    geometry = body.get("geometry")
    if isinstance(geometry, Mapping):
        kind, coordinates = geometry.get("type"), thaw(geometry.get("coordinates"))
        if kind in _GEOMETRY_TYPES and _valid_positions(coordinates, _DEPTH[str(kind)]):
            return {"type": kind, "coordinates": coordinates}
        return None
    launch = _position(body.get("launch_point"))
    if launch is not None:
        path = [_position(point) for point in body.get("flight_path") or ()]
        impact = _position(body.get("impact_point"))
        line = [launch, *(p for p in path if p is not None)]
        if impact is not None:
            line.append(impact)
        if len(line) > 1:
            return {"type": "LineString", "coordinates": line}
        return {"type": "Point", "coordinates": launch}
    point = _position(body.get("point"))
    if point is None:
        point = _position({"lat": body.get("lat"), "lon": body.get("lon")})
    if point is not None:
        return {"type": "Point", "coordinates": point}
    return None


def positions(geometry: Mapping[str, Any]) -> list[list[float]]:
    """Every position of a geometry, flattened, in order."""
    depth = _DEPTH[str(geometry["type"])]
    found: list[Any] = [geometry["coordinates"]]
    for _ in range(depth):
        found = [part for group in found for part in group]
    return found


def name_of(envelope: Envelope) -> str:
    """A short human name: the body's title, callsign, name or uid, else kind and id."""
    for member in _NAME_MEMBERS:
        value = envelope.body.get(member)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return f"{envelope.kind} {envelope.id}"


def text_of(envelope: Envelope) -> str | None:
    """The body's free text, if it has any."""
    for member in ("text", "description", "question", "reason"):
        value = envelope.body.get(member)
        if isinstance(value, str) and value.strip():
            return value
    return None


def label_fields(label: Label) -> dict[str, Any]:
    """The label as flat export fields: banner, portion, classification, lists, TLP, owner."""
    return {
        "banner": format_banner(label),
        "portion": format_portion(label),
        "classification": label.classification.banner,
        "rel_to": ordered_codes(label.rel_to),
        "dissem": sorted(label.dissem, key=lambda name: (_CONTROL_RANK.get(name, 99), name)),
        "tlp": None if label.tlp is None else str(label.tlp),
        "owner": label.owner,
    }


def envelope_fields(envelope: Envelope) -> dict[str, Any]:
    """Identity, provenance and label of an envelope (no body), for export properties."""
    return {
        "id": envelope.id,
        "kind": envelope.kind,
        "originator": {"node": envelope.originator.node, "nation": envelope.originator.nation},
        "created": format_time(envelope.created),
        "topics": list(envelope.topics),
        "label": label_fields(envelope.label),
    }


def overall_label(envelopes: Iterable[Envelope]) -> Label | None:
    """The roll-up of the labels of everything exported together (the file's banner)."""
    labels = [envelope.label for envelope in envelopes]
    return roll_up(labels) if labels else None
