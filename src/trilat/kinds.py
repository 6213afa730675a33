"""Body schemas of every item kind (SPEC §5), checked at the edge before an item is sealed.

``validate_body(kind, body)`` raises DecodeError naming the kind and the member at fault;
unknown members are refused (fail closed). ``body_extent(kind, body)`` gives the bounding box
(min lon, min lat, max lon, max lat) of whatever geometry a body carries, for the store index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, Literal

import msgspec

from trilat.core.clock import parse_time
from trilat.core.errors import DecodeError

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_NATION = re.compile(r"^[A-Z]{3,4}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CEILINGS: Final = frozenset({"UNCLASSIFIED", "CONFIDENTIAL", "SECRET", "TOP SECRET"})


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    def check(self) -> None:
        """Cross-field checks beyond types (times, ranges, ids)."""


class Point(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    lat: float
    lon: float
    alt_m: float | None = None
    error_radius_m: float | None = None


class Geometry(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A GeoJSON geometry (RFC 7946): Point, LineString or Polygon and their Multi forms."""

    type: Literal["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"]
    coordinates: list[Any]


def _time(value: str | None, member: str) -> None:
    if value is None:
        return
    try:
        parse_time(value)
    except ValueError as exc:
        raise ValueError(f"`{member}` is not an RFC 3339 time with offset: {value!r}") from exc


def _item_id(value: str | None, member: str) -> None:
    if value is not None and not _ID.match(value):
        raise ValueError(f"`{member}` is not an item id (UUID): {value!r}")


def _point(point: Point | None, member: str) -> None:
    if point is None:
        return
    if not -90.0 <= point.lat <= 90.0:
        raise ValueError(f"`{member}.lat` out of range: {point.lat}")
    if not -180.0 <= point.lon <= 180.0:
        raise ValueError(f"`{member}.lon` out of range: {point.lon}")


def _positions(value: Any) -> Iterator[tuple[float, float]]:
    if (
        isinstance(value, list)
        and len(value) in (2, 3)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        yield float(value[0]), float(value[1])
        return
    if not isinstance(value, list) or not value:
        raise ValueError("`geometry.coordinates` must be nested [lon, lat] positions")
    for part in value:
        yield from _positions(part)


def _geometry(geometry: Geometry | None) -> None:
    if geometry is None:
        return
    for lon, lat in _positions(geometry.coordinates):
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise ValueError(f"`geometry.coordinates` position out of range: [{lon}, {lat}]")


class Track(_Body):
    uid: str
    type: str
    point: Point
    time: str
    stale: str
    course: float | None = None
    speed: float | None = None
    heading: float | None = None
    callsign: str | None = None
    nation: str | None = None
    # vessel identity from AIS static reports (types 5, 19, 24)
    name: str | None = None
    imo: int | None = None
    ship_type: int | None = None

    def check(self) -> None:
        _point(self.point, "point")
        _time(self.time, "time")
        _time(self.stale, "stale")
        if self.heading is not None and not 0.0 <= self.heading < 360.0:
            raise ValueError(f"`heading` out of range [0, 360): {self.heading}")


class Observation(_Body):
    observed: str
    text: str | None = None
    point: Point | None = None
    sensor: str | None = None
    confidence: float | None = None
    attributes: dict[str, str | int | float | bool | None] | None = None  # source-specific facts

    def check(self) -> None:
        _time(self.observed, "observed")
        _point(self.point, "point")
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise ValueError("`confidence` must be within [0, 1]")


class Report(_Body):
    text: str
    title: str | None = None
    geometry: Geometry | None = None

    def check(self) -> None:
        _geometry(self.geometry)


class MissileSource(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One report that a fused missile warning was built from."""

    ref: str
    nation: str
    sensor: str


class MissileEvent(_Body):
    launch_time: str
    launch_point: Point
    source_sensor: str
    flight_path: list[Point] = []
    apogee_km: float | None = None
    impact_point: Point | None = None
    impact_time: str | None = None
    missile_type: str | None = None
    # uncertainty and provenance used by missile fusion (trilat.analytics.missile)
    source_nation: str | None = None
    launch_time_error_s: float | None = None
    impact_time_error_s: float | None = None
    launch_covariance_m2: list[float] | None = None  # [ee, en, nn]
    impact_covariance_m2: list[float] | None = None
    sources: list[MissileSource] = []
    impact_eez: dict[str, str | None] | None = None  # view → nation whose EEZ holds the impact

    def check(self) -> None:
        _time(self.launch_time, "launch_time")
        _time(self.impact_time, "impact_time")
        _point(self.launch_point, "launch_point")
        _point(self.impact_point, "impact_point")
        for index, point in enumerate(self.flight_path):
            _point(point, f"flight_path[{index}]")
        if self.apogee_km is not None and self.apogee_km < 0:
            raise ValueError("`apogee_km` must not be negative")


class Encounter(_Body):
    vessels: list[int]
    start: str
    end: str
    lat: float
    lon: float
    median_distance_km: float | None = None
    median_speed_knots: float | None = None
    type: Literal["encounter"] = "encounter"

    def check(self) -> None:
        if len(self.vessels) != 2:
            raise ValueError("`vessels` must name exactly two MMSIs")
        _time(self.start, "start")
        _time(self.end, "end")
        _point(Point(lat=self.lat, lon=self.lon), "position")


class Loitering(_Body):
    mmsi: int
    start: str
    end: str
    lat: float
    lon: float
    type: Literal["loitering"] = "loitering"

    def check(self) -> None:
        _time(self.start, "start")
        _time(self.end, "end")
        _point(Point(lat=self.lat, lon=self.lon), "position")


class AisGap(_Body):
    mmsi: int
    start: str
    end: str
    hours: float
    possible_disabling: bool
    lat: float | None = None
    lon: float | None = None
    type: Literal["ais_gap"] = "ais_gap"

    def check(self) -> None:
        _time(self.start, "start")
        _time(self.end, "end")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("`lat` and `lon` go together")
        if self.lat is not None and self.lon is not None:
            _point(Point(lat=self.lat, lon=self.lon), "position")


class ZoneEntry(_Body):
    track: str
    zone: str
    authority: str
    time: str
    type: Literal["zone_entry", "zone_exit"] = "zone_entry"
    lat: float | None = None
    lon: float | None = None

    def check(self) -> None:
        _time(self.time, "time")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("`lat` and `lon` go together")
        if self.lat is not None and self.lon is not None:
            _point(Point(lat=self.lat, lon=self.lon), "position")


class Rfi(_Body):
    question: str
    deadline: str | None = None
    priority: Literal["routine", "priority", "immediate", "flash"] = "routine"
    geometry: Geometry | None = None

    def check(self) -> None:
        _time(self.deadline, "deadline")
        _geometry(self.geometry)


class HadrRequest(_Body):
    need: str
    quantity: float | None = None
    unit: str | None = None
    point: Point | None = None
    deadline: str | None = None
    text: str | None = None

    def check(self) -> None:
        _point(self.point, "point")
        _time(self.deadline, "deadline")


class HadrOffer(_Body):
    offer: str
    quantity: float | None = None
    unit: str | None = None
    point: Point | None = None
    request: str | None = None
    available: str | None = None
    text: str | None = None

    def check(self) -> None:
        _point(self.point, "point")
        _item_id(self.request, "request")
        _time(self.available, "available")


class Task(_Body):
    title: str
    text: str | None = None
    assignee: str | None = None
    due: str | None = None
    geometry: Geometry | None = None

    def check(self) -> None:
        _time(self.due, "due")
        _geometry(self.geometry)


class Ack(_Body):
    item: str
    status: Literal["received", "accepted", "rejected", "done"] = "received"
    text: str | None = None

    def check(self) -> None:
        _item_id(self.item, "item")


class ConsentBody(_Body):
    """Originator consent to onward release: per item, or standing (topic prefix + ceiling)."""

    to: list[str]
    item: str | None = None
    topic: str | None = None
    ceiling: str | None = None
    kind: Literal["consent", "disclosure"] = "consent"

    def check(self) -> None:
        _item_id(self.item, "item")
        if not self.to:
            raise ValueError("`to` must name at least one nation")
        for nation in self.to:
            if not _NATION.match(nation):
                raise ValueError(f"`to` holds a malformed nation code: {nation!r}")
        if self.item is None and (self.topic is None or self.ceiling is None):
            raise ValueError("a consent names an `item`, or a standing `topic` and `ceiling`")
        if self.ceiling is not None and self.ceiling not in _CEILINGS:
            raise ValueError(f"`ceiling` is not a classification: {self.ceiling!r}")


class Recall(_Body):
    item: str
    reason: str

    def check(self) -> None:
        _item_id(self.item, "item")


class Bulletin(_Body):
    title: str
    text: str
    geometry: Geometry | None = None

    def check(self) -> None:
        _geometry(self.geometry)


class Indicator(msgspec.Struct, frozen=True):
    """A STIX 2.1 object (its own members are validated by the STIX adapter)."""

    type: str
    id: str
    spec_version: Literal["2.1"]

    def check(self) -> None:
        if not re.fullmatch(r"[a-z0-9-]+--[0-9a-f-]{36}", self.id) or not self.id.startswith(
            f"{self.type}--"
        ):
            raise ValueError(f"`id` is not a STIX identifier of type {self.type!r}: {self.id!r}")


class Document(_Body):
    sha256: str
    name: str
    media_type: str
    size: int

    def check(self) -> None:
        if not _SHA256.match(self.sha256):
            raise ValueError("`sha256` must be 64 lower-case hex digits")
        if self.size < 0:
            raise ValueError("`size` must not be negative")
        if "/" in self.name or "\\" in self.name or not self.name.strip():
            raise ValueError(f"`name` must be a plain file name: {self.name!r}")


class Chat(_Body):
    text: str
    room: str | None = None


SCHEMAS: Final[Mapping[str, type[Any]]] = {
    "track": Track,
    "observation": Observation,
    "report": Report,
    "missile_event": MissileEvent,
    "encounter": Encounter,
    "loitering": Loitering,
    "ais_gap": AisGap,
    "zone_entry": ZoneEntry,
    "rfi": Rfi,
    "hadr_request": HadrRequest,
    "hadr_offer": HadrOffer,
    "task": Task,
    "ack": Ack,
    "consent": ConsentBody,
    "recall": Recall,
    "bulletin": Bulletin,
    "indicator": Indicator,
    "document": Document,
    "chat": Chat,
}
"""Every kind of SPEC §5 and the schema of its body."""


def parse_body(kind: str, body: Any) -> Any:
    """The typed body of *kind*; raises DecodeError naming the kind and the bad member."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise DecodeError(f"unknown item kind: {kind!r}")
    if not isinstance(body, Mapping):
        raise DecodeError(f"{kind} body must be a JSON object")
    try:
        typed = msgspec.convert(body, type=schema, strict=True)
        typed.check()
    except (msgspec.ValidationError, ValueError) as exc:
        raise DecodeError(f"{kind} body: {exc}") from None
    return typed


def validate_body(kind: str, body: Any) -> dict[str, Any]:
    """Check *body* against the schema of *kind* and return it unchanged as a plain dict."""
    parse_body(kind, body)
    return dict(body)


def _points_of(typed: Any) -> Iterable[tuple[float, float]]:
    for name in ("point", "launch_point", "impact_point"):
        point = getattr(typed, name, None)
        if isinstance(point, Point):
            yield point.lon, point.lat
    for point in getattr(typed, "flight_path", ()) or ():
        yield point.lon, point.lat
    geometry = getattr(typed, "geometry", None)
    if isinstance(geometry, Geometry):
        yield from _positions(geometry.coordinates)
    lat, lon = getattr(typed, "lat", None), getattr(typed, "lon", None)
    if isinstance(lat, float | int) and isinstance(lon, float | int):
        yield float(lon), float(lat)


def body_extent(kind: str, body: Any) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) of the body's geometry, or None if it has none."""
    points = list(_points_of(parse_body(kind, body)))
    if not points:
        return None
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    return min(lons), min(lats), max(lons), max(lats)
