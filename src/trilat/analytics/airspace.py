"""Aircraft tracks against ADIZs and territorial airspace; joint-patrol correlation (SPEC §7).

Inputs are fixes (track id, UTC time, lat, lon, optional altitude, nation and aircraft type);
time comes only from the fixes. Zones come from :func:`trilat.analytics.geodata.zones_for_view`
(so disputed features follow the viewing nation) or are passed in.

Rules, in the order they are applied to each track (:func:`clean_track`):

* **Order.** Fixes are sorted by time; how many arrived out of order is counted.
* **Duplicates.** A fix at the same time and place as the previous one is dropped and counted;
  a fix at the same time but another place is dropped too and counted as a conflict (the first
  one received wins).
* **Longitude** is normalised to [-180, 180); all path geometry is geodesic (pyproj, WGS 84), so
  a track crossing the antimeridian follows the short way round.
* **Gaps.** No position is interpolated across a silence longer than
  :attr:`AirspaceParams.max_gap_s`. A zone state that differs on the two sides of a gap is
  reported at the first fix after it, with ``after_gap: true`` (the crossing happened somewhere
  in the gap).
* **Crossings.** Between two fixes the aircraft is taken to fly the geodesic at constant speed.
  Segments whose end states differ, or whose straight lon/lat line passes within a tolerance of
  the zone boundary (catching a pass through a small zone between fixes), are sampled every
  :attr:`AirspaceParams.sample_spacing_m` along the geodesic; each change of state is then
  located by bisection on the geodesic, and its time interpolated by distance.
* **Boundaries and holes.** Zones are read as shapely reads them: planar lon/lat edges (the ADIZ
  convention of the geodata README); a position on an edge counts as inside; a hole is outside,
  so flying through a hole gives an exit and a re-entry.
* **Seams.** An exit and an entry of the same zone at the same instant (a zone split at the
  antimeridian) cancel out.
* **Start and end.** A track first seen inside a zone yields no entry (it was not observed), and
  one last seen inside yields no exit.
* **Approximate edges.** A crossing of an ADIZ edge with an end vertex that is not a published
  value (JADIZ beyond outer point 7, KADIZ's two inferred vertices, CADIZ's western edge) is
  flagged ``approximate: true`` (the geo README's ``~``).
* **Notices.** An entry or exit by an aircraft whose nation filed a flight notice for that zone
  covering the event's time is still reported, with ``notified: true``.

Joint patrols (:func:`joint_patrols`): tracks are resampled on a common grid (every
:attr:`JointPatrolParams.step_s`, geodesic interpolation, none across gaps longer than
:attr:`JointPatrolParams.max_gap_s`); two tracks of *different* nations that stay within
``max_distance_km`` of each other for at least ``min_duration_s`` form a pair; pairs that share
a track and overlap in time merge into one group. Tracks without a nation never pair.

Pure functions, no IO, no clock.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from trilat.analytics.geodata import DEFAULT_VIEW, Zone, zones_for_view
from trilat.core.clock import format_time, parse_time
from trilat.core.errors import DecodeError

__all__ = [
    "REQUIRED_COLUMNS",
    "AirspaceParams",
    "AirspaceReport",
    "Fix",
    "FlightNotice",
    "JointPatrol",
    "JointPatrolParams",
    "TrackQuality",
    "ZoneEvent",
    "analyze_airspace",
    "clean_track",
    "joint_patrols",
    "parse_track_csv",
    "zone_events",
]

REQUIRED_COLUMNS: Final = ("track", "timestamp_utc", "lat", "lon")
OPTIONAL_COLUMNS: Final = ("alt_m", "nation", "type")
_GEOD: Final = Geod(ellps="WGS84")
_EARTH_RADIUS_M: Final = 6_371_000.0
_SEAM_S: Final = 1.0


def _require_positive(params: object, names: tuple[str, ...]) -> None:
    """Refuse a parameter set whose named fields are not all > 0, naming the field."""
    for name in names:
        value = getattr(params, name)
        if not value > 0:
            raise ValueError(f"{type(params).__name__}.{name} must be > 0: {value!r}")


@dataclass(frozen=True, slots=True)
class AirspaceParams:
    """Tuning of zone-crossing detection (defaults suit radar/ADS-B tracks of military aircraft).

    ``max_gap_s``: longest silence interpolated across (15 min: ≤ 250 km at jet speed).
    ``sample_spacing_m``: spacing of geodesic samples on a candidate segment; a zone excursion
    shorter than this between two fixes can be missed.
    ``crossing_tolerance_m``: bisection stops when the crossing is bracketed this closely.
    ``max_samples``: cap of samples per segment (spacing grows on very long segments).
    """

    max_gap_s: float = 900.0
    sample_spacing_m: float = 1000.0
    crossing_tolerance_m: float = 1.0
    max_samples: int = 2000

    def __post_init__(self) -> None:
        _require_positive(self, ("max_gap_s", "sample_spacing_m", "crossing_tolerance_m"))
        if self.max_samples < 2:
            raise ValueError(f"AirspaceParams.max_samples must be ≥ 2: {self.max_samples!r}")


@dataclass(frozen=True, slots=True)
class JointPatrolParams:
    """Joint-patrol gates of SPEC §7: two nations within 20 km of each other for ≥ 10 min.

    ``step_s``: resampling grid; ``max_gap_s``: no interpolation across longer silences.
    """

    max_distance_km: float = 20.0
    min_duration_s: float = 600.0
    step_s: float = 30.0
    max_gap_s: float = 900.0

    def __post_init__(self) -> None:
        _require_positive(self, ("max_distance_km", "step_s", "max_gap_s"))
        if self.min_duration_s < 0:
            raise ValueError(
                f"JointPatrolParams.min_duration_s must be ≥ 0: {self.min_duration_s!r}"
            )


@dataclass(frozen=True, slots=True)
class Fix:
    """One position report of one aircraft."""

    track: str
    time: datetime
    lat: float
    lon: float
    alt_m: float | None = None
    nation: str | None = None
    aircraft_type: str | None = None


@dataclass(frozen=True, slots=True)
class FlightNotice:
    """A flight notice filed by *nation* for *zone* over [start, end] (UTC)."""

    nation: str
    zone: str
    start: datetime
    end: datetime

    def covers(self, nation: str | None, zone: str, at: datetime) -> bool:
        return nation == self.nation and zone == self.zone and self.start <= at <= self.end


@dataclass(frozen=True, slots=True)
class TrackQuality:
    """What cleaning a track found: counts of fixes dropped or reordered, and gaps."""

    track: str
    fixes: int
    kept: int
    out_of_order: int
    duplicates: int
    conflicts: int
    gaps: int
    nations: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "track": self.track,
            "fixes": self.fixes,
            "kept": self.kept,
            "out_of_order": self.out_of_order,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "gaps": self.gaps,
            "nations": list(self.nations),
        }


@dataclass(frozen=True, slots=True)
class ZoneEvent:
    """An entry into or exit from a zone (``zone_entry`` / ``zone_exit`` of SPEC §9)."""

    type: str  # "zone_entry" or "zone_exit"
    track: str
    zone: str
    authority: str
    time: datetime
    lat: float
    lon: float
    nation: str | None = None
    aircraft_type: str | None = None
    notified: bool = False
    after_gap: bool = False
    approximate: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.item_body(),
            "nation": self.nation,
            "aircraft_type": self.aircraft_type,
            "notified": self.notified,
            "after_gap": self.after_gap,
            "approximate": self.approximate,
        }

    def item_body(self) -> dict[str, Any]:
        """The body of a ``zone_entry`` item (SPEC §5) for this event: SPEC keys and position."""
        return {
            "type": self.type,
            "track": self.track,
            "zone": self.zone,
            "authority": self.authority,
            "time": format_time(self.time),
            "lat": round(self.lat, 6),
            "lon": round(self.lon, 6),
        }


@dataclass(frozen=True, slots=True)
class JointPatrol:
    """Aircraft of at least two nations flying together (``joint_patrol`` of SPEC §9)."""

    tracks: tuple[str, ...]
    nations: tuple[str, ...]
    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "joint_patrol",
            "tracks": list(self.tracks),
            "nations": list(self.nations),
            "start": format_time(self.start),
            "end": format_time(self.end),
        }


@dataclass(frozen=True, slots=True)
class AirspaceReport:
    """Everything :func:`analyze_airspace` found, events in time order."""

    view: str
    events: tuple[ZoneEvent | JointPatrol, ...]
    quality: tuple[TrackQuality, ...] = field(default=())

    def as_dicts(self) -> list[dict[str, Any]]:
        return [event.as_dict() for event in self.events]


# --- input ---------------------------------------------------------------------------------


def _number(text: str, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DecodeError(f"line {line}: column {column!r}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise DecodeError(f"line {line}: column {column!r}: not a finite number: {text!r}")
    return value


def parse_track_csv(lines: Iterable[str]) -> list[Fix]:
    """Read CSV ``track,timestamp_utc,lat,lon[,alt_m,nation,type]`` (SPEC §9) into fixes.

    The header is required; columns may come in any order; blank lines are skipped. Raises
    DecodeError naming the line and column of the first bad value.
    """
    reader = csv.reader(lines)
    header: list[str] | None = None
    fixes: list[Fix] = []
    for line_number, row in enumerate(reader, start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            missing = [name for name in REQUIRED_COLUMNS if name not in header]
            if missing:
                raise DecodeError(f"line {line_number}: header lacks column {missing[0]!r}")
            unknown = [name for name in header if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
            if unknown:
                raise DecodeError(f"line {line_number}: unknown column {unknown[0]!r}")
            continue
        if len(row) != len(header):
            raise DecodeError(
                f"line {line_number}: {len(row)} fields where the header has {len(header)}"
            )
        cells = {name: cell.strip() for name, cell in zip(header, row, strict=True)}
        if not cells["track"]:
            raise DecodeError(f"line {line_number}: column 'track' is empty")
        try:
            at = parse_time(cells["timestamp_utc"])
        except ValueError:
            raise DecodeError(
                f"line {line_number}: column 'timestamp_utc': not an RFC 3339 UTC time: "
                f"{cells['timestamp_utc']!r}"
            ) from None
        lat = _number(cells["lat"], line_number, "lat")
        lon = _number(cells["lon"], line_number, "lon")
        if not -90.0 <= lat <= 90.0:
            raise DecodeError(f"line {line_number}: column 'lat': out of range: {cells['lat']!r}")
        alt = cells.get("alt_m") or ""
        fixes.append(
            Fix(
                track=cells["track"],
                time=at,
                lat=lat,
                lon=lon,
                alt_m=_number(alt, line_number, "alt_m") if alt else None,
                nation=(cells.get("nation") or "").upper() or None,
                aircraft_type=cells.get("type") or None,
            )
        )
    if header is None:
        raise DecodeError("line 1: empty input: no header")
    return fixes


def _normalise_lon(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def clean_track(
    fixes: Sequence[Fix], params: AirspaceParams | None = None
) -> tuple[list[Fix], TrackQuality]:
    """Sort one track's fixes by time and drop duplicates (see the module rules)."""
    params = params or AirspaceParams()
    if not fixes:
        raise ValueError("clean_track needs at least one fix")
    out_of_order = sum(1 for before, after in itertools.pairwise(fixes) if after.time < before.time)
    ordered = sorted(fixes, key=lambda fix: fix.time)  # stable: first received wins a tie
    kept: list[Fix] = []
    duplicates = conflicts = 0
    for fix in ordered:
        normal = fix if -180.0 <= fix.lon < 180.0 else _with_lon(fix, _normalise_lon(fix.lon))
        if kept and kept[-1].time == normal.time:
            if (kept[-1].lat, kept[-1].lon) == (normal.lat, normal.lon):
                duplicates += 1
            else:
                conflicts += 1
            continue
        kept.append(normal)
    gaps = sum(
        1
        for before, after in itertools.pairwise(kept)
        if (after.time - before.time).total_seconds() > params.max_gap_s
    )
    nations = tuple(sorted({fix.nation for fix in kept if fix.nation}))
    quality = TrackQuality(
        track=fixes[0].track,
        fixes=len(fixes),
        kept=len(kept),
        out_of_order=out_of_order,
        duplicates=duplicates,
        conflicts=conflicts,
        gaps=gaps,
        nations=nations,
    )
    return kept, quality


def _with_lon(fix: Fix, lon: float) -> Fix:
    return Fix(fix.track, fix.time, fix.lat, lon, fix.alt_m, fix.nation, fix.aircraft_type)


def _group_by_track(fixes: Iterable[Fix]) -> dict[str, list[Fix]]:
    tracks: dict[str, list[Fix]] = {}
    for fix in fixes:
        tracks.setdefault(fix.track, []).append(fix)
    return tracks


def _track_nation(fixes: Sequence[Fix]) -> str | None:
    counts = Counter(fix.nation for fix in fixes if fix.nation)
    return counts.most_common(1)[0][0] if counts else None


def _track_type(fixes: Sequence[Fix]) -> str | None:
    counts = Counter(fix.aircraft_type for fix in fixes if fix.aircraft_type)
    return counts.most_common(1)[0][0] if counts else None


# --- zone crossings -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Crossing:
    time: datetime
    lat: float
    lon: float
    entering: bool
    after_gap: bool


def _seconds(times: Sequence[datetime]) -> np.ndarray:
    origin = times[0]
    return np.array([(at - origin).total_seconds() for at in times], dtype=float)


def _inside(zone: Zone, lon: np.ndarray | float, lat: np.ndarray | float) -> np.ndarray:
    return np.asarray(shapely.intersects_xy(zone.geometry, lon, lat), dtype=bool)


def _candidate_segments(zone: Zone, geometry: _TrackGeometry, inside: np.ndarray) -> np.ndarray:
    """Indices of segments that may cross the zone boundary (a superset)."""
    changed = inside[:-1] != inside[1:]
    wraps = np.abs(geometry.lon[1:] - geometry.lon[:-1]) > 180.0
    near = np.zeros(len(geometry.lines), dtype=bool)
    hits = _boundary_tree(zone).query(geometry.lines, predicate="dwithin", distance=geometry.margin)
    if hits.size:
        near[np.unique(hits[0])] = True
    return np.flatnonzero(changed | wraps | near)


_BOUNDARY_TREES: dict[int, tuple[BaseGeometry, STRtree]] = {}


def _boundary_tree(zone: Zone) -> STRtree:
    """An STRtree over the edges of *zone* (cached per geometry object)."""
    key = id(zone.geometry)
    cached = _BOUNDARY_TREES.get(key)
    if cached is None or cached[0] is not zone.geometry:
        if len(_BOUNDARY_TREES) > 256:  # bounded: custom zones come and go
            _BOUNDARY_TREES.clear()
        edges = []
        for ring in shapely.get_rings(shapely.get_parts(zone.geometry)):
            xy = shapely.get_coordinates(ring)
            edges.append(np.stack([xy[:-1], xy[1:]], axis=1))
        segments = np.concatenate(edges) if edges else np.zeros((0, 2, 2))
        cached = (zone.geometry, STRtree(shapely.linestrings(segments)))
        _BOUNDARY_TREES[key] = cached
    return cached[1]


def _segment_crossings(
    zone: Zone,
    start: tuple[float, float],
    azimuth: float,
    length_m: float,
    params: AirspaceParams,
) -> list[tuple[float, bool]]:
    """Fractions (0..1) along one geodesic where the zone state changes, and the new state."""
    if length_m <= 0.0:
        return []
    count = int(min(params.max_samples, max(2, math.ceil(length_m / params.sample_spacing_m) + 1)))
    distances = np.linspace(0.0, length_m, count)
    lons, lats, _ = _GEOD.fwd(
        np.full(count, start[0]), np.full(count, start[1]), np.full(count, azimuth), distances
    )
    states = _inside(zone, np.asarray(lons), np.asarray(lats))
    result = []
    for index in np.flatnonzero(states[:-1] != states[1:]):
        low, high = float(distances[index]), float(distances[index + 1])
        before = bool(states[index])
        while high - low > params.crossing_tolerance_m:
            middle = (low + high) / 2.0
            mlon, mlat, _ = _GEOD.fwd(start[0], start[1], azimuth, middle)
            if bool(_inside(zone, mlon, mlat)) == before:
                low = middle
            else:
                high = middle
        result.append(((low + high) / 2.0 / length_m, not before))
    return result


def _track_crossings(
    fixes: Sequence[Fix], zone: Zone, params: AirspaceParams, geometry: _TrackGeometry
) -> list[_Crossing]:
    inside = _inside(zone, geometry.lon, geometry.lat)
    if len(fixes) < 2:
        return []
    crossings: list[_Crossing] = []
    candidates = set(_candidate_segments(zone, geometry, inside).tolist())
    for index in sorted(candidates | set(np.flatnonzero(geometry.gap).tolist())):
        after = fixes[index + 1]
        if geometry.gap[index]:
            if inside[index] != inside[index + 1]:
                crossings.append(
                    _Crossing(after.time, after.lat, after.lon, bool(inside[index + 1]), True)
                )
            continue
        before = fixes[index]
        span = after.time - before.time
        for fraction, entering in _segment_crossings(
            zone,
            (before.lon, before.lat),
            float(geometry.azimuth[index]),
            float(geometry.length[index]),
            params,
        ):
            lon, lat, _ = _GEOD.fwd(
                before.lon, before.lat, geometry.azimuth[index], fraction * geometry.length[index]
            )
            crossings.append(
                _Crossing(before.time + span * fraction, float(lat), float(lon), entering, False)
            )
    return _cancel_seams(crossings)


def _cancel_seams(crossings: list[_Crossing]) -> list[_Crossing]:
    result: list[_Crossing] = []
    for crossing in crossings:
        if (
            result
            and result[-1].entering != crossing.entering
            and not result[-1].entering
            and abs((crossing.time - result[-1].time).total_seconds()) < _SEAM_S
        ):
            result.pop()
            continue
        result.append(crossing)
    return result


@dataclass(frozen=True, slots=True)
class _TrackGeometry:
    lon: np.ndarray
    lat: np.ndarray
    azimuth: np.ndarray
    length: np.ndarray
    gap: np.ndarray
    lines: np.ndarray  # straight lon/lat segments between fixes (shapely LineStrings)
    margin: np.ndarray  # degrees by which the geodesic may leave each straight segment


def _track_geometry(fixes: Sequence[Fix], params: AirspaceParams) -> _TrackGeometry:
    lon = np.array([fix.lon for fix in fixes], dtype=float)
    lat = np.array([fix.lat for fix in fixes], dtype=float)
    if len(fixes) >= 2:
        azimuth, _, length = _GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
        seconds = _seconds([fix.time for fix in fixes])
        gap = np.diff(seconds) > params.max_gap_s
    else:
        azimuth = length = np.zeros(0)
        gap = np.zeros(0, dtype=bool)
    length = np.asarray(length, dtype=float)
    lines = shapely.linestrings(
        np.stack([np.column_stack([lon[:-1], lat[:-1]]), np.column_stack([lon[1:], lat[1:]])], 1)
    )
    # the geodesic departs from the straight lon/lat line by up to about L²/8R (plus margin)
    margin = 0.002 + 2.0 * (length**2 / (8.0 * _EARTH_RADIUS_M)) / 111_000.0
    return _TrackGeometry(lon, lat, np.asarray(azimuth), length, gap, lines, margin)


def zone_events(
    fixes: Iterable[Fix],
    zones: Sequence[Zone],
    notices: Sequence[FlightNotice] = (),
    params: AirspaceParams | None = None,
) -> list[ZoneEvent]:
    """Entries and exits of every track against every zone, in time order."""
    params = params or AirspaceParams()
    events: list[ZoneEvent] = []
    for track_fixes in _group_by_track(fixes).values():
        cleaned, _ = clean_track(track_fixes, params)
        events.extend(_events_of_track(cleaned, zones, notices, params))
    return sorted(events, key=_event_key)


def _events_of_track(
    cleaned: Sequence[Fix],
    zones: Sequence[Zone],
    notices: Sequence[FlightNotice],
    params: AirspaceParams,
) -> list[ZoneEvent]:
    geometry = _track_geometry(cleaned, params)
    nation = _track_nation(cleaned)
    aircraft_type = _track_type(cleaned)
    events = []
    for zone in zones:
        for crossing in _track_crossings(cleaned, zone, params, geometry):
            events.append(
                ZoneEvent(
                    type="zone_entry" if crossing.entering else "zone_exit",
                    track=cleaned[0].track,
                    zone=zone.id,
                    authority=zone.authority,
                    time=crossing.time,
                    lat=crossing.lat,
                    lon=_normalise_lon(crossing.lon),
                    nation=nation,
                    aircraft_type=aircraft_type,
                    notified=any(n.covers(nation, zone.id, crossing.time) for n in notices),
                    after_gap=crossing.after_gap,
                    approximate=zone.is_approximate_at(crossing.lon, crossing.lat),
                )
            )
    return events


def _event_key(event: ZoneEvent | JointPatrol) -> tuple[datetime, str, str, str]:
    if isinstance(event, JointPatrol):
        return (event.start, ",".join(event.tracks), "", "joint_patrol")
    return (event.time, event.track, event.zone, event.type)


# --- joint patrols ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resampled:
    track: str
    nation: str
    first: int  # index of the first grid step (multiples of step_s since the epoch)
    lon: np.ndarray
    lat: np.ndarray  # NaN where no position (gap)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _resample(fixes: Sequence[Fix], nation: str, params: JointPatrolParams) -> _Resampled | None:
    seconds = np.array([(fix.time - _EPOCH).total_seconds() for fix in fixes], dtype=float)
    first = math.ceil(seconds[0] / params.step_s)
    last = math.floor(seconds[-1] / params.step_s)
    if last < first:
        return None
    grid = np.arange(first, last + 1, dtype=float) * params.step_s
    lon = np.array([fix.lon for fix in fixes], dtype=float)
    lat = np.array([fix.lat for fix in fixes], dtype=float)
    index = np.clip(np.searchsorted(seconds, grid, side="right") - 1, 0, len(fixes) - 1)
    following = np.minimum(index + 1, len(fixes) - 1)
    span = seconds[following] - seconds[index]
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(span > 0, (grid - seconds[index]) / span, 0.0)
    azimuth, _, length = _GEOD.inv(lon[index], lat[index], lon[following], lat[following])
    out_lon, out_lat, _ = _GEOD.fwd(lon[index], lat[index], azimuth, np.asarray(length) * fraction)
    out_lon, out_lat = np.asarray(out_lon, dtype=float), np.asarray(out_lat, dtype=float)
    exact = grid == seconds[index]
    out_lon[exact], out_lat[exact] = lon[index][exact], lat[index][exact]
    silent = (span > params.max_gap_s) & ~exact
    out_lat[silent] = np.nan
    return _Resampled(fixes[0].track, nation, first, out_lon, out_lat)


def _close_runs(a: _Resampled, b: _Resampled, params: JointPatrolParams) -> list[tuple[int, int]]:
    start = max(a.first, b.first)
    stop = min(a.first + len(a.lat), b.first + len(b.lat))
    if stop - start < 2:
        return []
    sa, sb = slice(start - a.first, stop - a.first), slice(start - b.first, stop - b.first)
    valid = ~(np.isnan(a.lat[sa]) | np.isnan(b.lat[sb]))
    close = np.zeros(stop - start, dtype=bool)
    if valid.any():
        _, _, distance = _GEOD.inv(
            a.lon[sa][valid], a.lat[sa][valid], b.lon[sb][valid], b.lat[sb][valid]
        )
        close[valid] = np.asarray(distance) <= params.max_distance_km * 1000.0
    runs = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], close.astype(np.int8), [0]])))
    for run_start, run_stop in zip(edges[::2], edges[1::2], strict=True):
        if (run_stop - 1 - run_start) * params.step_s >= params.min_duration_s:
            runs.append((start + int(run_start), start + int(run_stop) - 1))
    return runs


def joint_patrols(
    fixes: Iterable[Fix], params: JointPatrolParams | None = None
) -> list[JointPatrol]:
    """Groups of aircraft of at least two nations flying together (see the module rules)."""
    params = params or JointPatrolParams()
    resampled: list[_Resampled] = []
    for track_fixes in _group_by_track(fixes).values():
        cleaned, _ = clean_track(track_fixes, AirspaceParams(max_gap_s=params.max_gap_s))
        nation = _track_nation(cleaned)
        if nation is None:
            continue
        sampled = _resample(cleaned, nation, params)
        if sampled is not None:
            resampled.append(sampled)
    links: list[tuple[int, int, int, int]] = []  # (track a, track b, first step, last step)
    for i, a in enumerate(resampled):
        for j in range(i + 1, len(resampled)):
            b = resampled[j]
            if a.nation == b.nation:
                continue
            links.extend((i, j, lo, hi) for lo, hi in _close_runs(a, b, params))
    if not links:
        return []
    # companions of the same nation join a group when they fly with a member (pairs of any
    # nations that overlap a linked run in time)
    same_nation: list[tuple[int, int, int, int]] = []
    linked_tracks = {i for link in links for i in link[:2]}
    for i, a in enumerate(resampled):
        for j in range(i + 1, len(resampled)):
            b = resampled[j]
            if a.nation == b.nation and (i in linked_tracks or j in linked_tracks):
                same_nation.extend((i, j, lo, hi) for lo, hi in _close_runs(a, b, params))
    return _merge_links(links, same_nation, resampled, params)


def _merge_links(
    links: list[tuple[int, int, int, int]],
    companions: list[tuple[int, int, int, int]],
    resampled: Sequence[_Resampled],
    params: JointPatrolParams,
) -> list[JointPatrol]:
    parent = list(range(len(links)))

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for m, (a1, b1, lo1, hi1) in enumerate(links):
        for n in range(m + 1, len(links)):
            a2, b2, lo2, hi2 = links[n]
            if {a1, b1} & {a2, b2} and lo1 <= hi2 and lo2 <= hi1:
                parent[find(m)] = find(n)
    groups: dict[int, tuple[set[int], int, int]] = {}
    for m, (a, b, lo, hi) in enumerate(links):
        root = find(m)
        members, start, stop = groups.get(root, (set(), lo, hi))
        groups[root] = (members | {a, b}, min(start, lo), max(stop, hi))
    patrols = []
    for members, lo, hi in groups.values():
        for a, b, clo, chi in companions:
            if ({a, b} & members) and clo <= hi and lo <= chi:
                members |= {a, b}
        names = tuple(sorted(resampled[k].track for k in members))
        nations = tuple(sorted({resampled[k].nation for k in members}))
        patrols.append(
            JointPatrol(
                tracks=names,
                nations=nations,
                start=_EPOCH + timedelta(seconds=lo * params.step_s),
                end=_EPOCH + timedelta(seconds=hi * params.step_s),
            )
        )
    return sorted(patrols, key=lambda patrol: (patrol.start, patrol.tracks))


# --- everything ---------------------------------------------------------------------------


def analyze_airspace(
    fixes: Sequence[Fix],
    *,
    view: str = DEFAULT_VIEW,
    notices: Sequence[FlightNotice] = (),
    zones: Sequence[Zone] | None = None,
    params: AirspaceParams | None = None,
    patrol_params: JointPatrolParams | None = None,
) -> AirspaceReport:
    """Zone entries and exits under *view*, plus joint patrols, in time order.

    Raises ``UnknownViewError`` for a view the geodata does not know.
    """
    params = params or AirspaceParams()
    zone_list = tuple(zones) if zones is not None else zones_for_view(view)
    events: list[ZoneEvent | JointPatrol] = []
    quality = []
    for track_fixes in _group_by_track(fixes).values():
        cleaned, track_quality = clean_track(track_fixes, params)
        quality.append(track_quality)
        events.extend(_events_of_track(cleaned, zone_list, notices, params))
    events.extend(joint_patrols(fixes, patrol_params))
    return AirspaceReport(
        view=view, events=tuple(sorted(events, key=_event_key)), quality=tuple(quality)
    )


def notices_from_mapping(records: Iterable[Mapping[str, str]]) -> list[FlightNotice]:
    """Flight notices from records with ``nation``, ``zone``, ``start`` and ``end`` (RFC 3339)."""
    notices = []
    for position, record in enumerate(records):
        try:
            notices.append(
                FlightNotice(
                    nation=str(record["nation"]).upper(),
                    zone=str(record["zone"]),
                    start=parse_time(str(record["start"])),
                    end=parse_time(str(record["end"])),
                )
            )
        except KeyError as exc:
            raise DecodeError(f"notice {position}: missing key {exc.args[0]!r}") from None
        except ValueError as exc:
            raise DecodeError(f"notice {position}: {exc}") from None
    return notices
