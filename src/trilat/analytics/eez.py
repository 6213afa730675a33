"""Exclusive economic zones by equidistance, as each viewing nation sees the coasts (SPEC §7).

A position lies in nation N's EEZ when, among every nation's coast under the view, N's is the
nearest and no more than 200 nm away. That is the median (equidistance) line between opposite
coasts, capped at 200 nm; no agreed boundary is used (the geodata has none, see its README).

*Coasts* are the exterior rings of the ``land`` layer as the view adjusts it
(:func:`trilat.analytics.geodata.territory_for_view`), minus two kinds of edge that are not
coast: land borders (an edge whose midpoint lies within 300 m of another nation's land) and the
straight cuts where the data was clipped to its bounding box. Point features missing from the
land layer (Dokdo / Takeshima, the Senkakus) count as basepoints of their owner under the view.
A nation whose territorial sea nowhere reaches 0.05° beyond its coast (Mongolia, whose
``maritime`` polygon is its land) has no coast and is omitted.

Distances are geodesic on WGS 84. Candidates come from an STRtree over the coastline segments
(planar nearest, then every segment in the box that the first geodesic distance bounds, less
those whose equirectangular distance exceeds that bound by more than 10 % + 1 km); each
candidate is measured in an azimuthal equidistant plane centred on the query point (built from
geodesic azimuths and distances), where the distance from the centre is exact at vertices and
within metres along segments of ≤ a few km.

Pure apart from reading the package geodata once; deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from trilat.analytics.geodata import (
    DEFAULT_VIEW,
    NAUTICAL_MILE_M,
    check_view,
    territory_for_view,
)
from trilat.core.errors import TrilatError

__all__ = ["EEZ_LIMIT_M", "CoastIndex", "EezResult", "PositionError", "coast_index", "eez_check"]

EEZ_LIMIT_M: Final = 200 * NAUTICAL_MILE_M
_BORDER_TOLERANCE_DEG: Final = 0.003  # ≈ 300 m: land simplified independently per country
_SEA_MIN_WIDTH_DEG: Final = 0.05  # a territorial sea is ≈ 0.2° wide; border slivers are < 0.01°
_ROUGH_SLACK: Final = 1.1  # equirectangular vs geodesic: well within 10 % below 2,000 km
_ROUGH_MARGIN_M: Final = 1_000.0
_CLIP_EDGES: Final = ((115.0, 155.0), (20.0, 52.0))  # the data's bounding box
_GEOD: Final = Geod(ellps="WGS84")


class PositionError(TrilatError, ValueError):
    """A latitude or longitude is out of range or not a number."""


@dataclass(frozen=True, slots=True)
class EezResult:
    """The EEZ verdict for one position under one view."""

    view: str
    lat: float
    lon: float
    eez_of: str | None  # whose EEZ the position is in under the view (None: high seas)
    nearest_coast_km: Mapping[str, float]

    @property
    def inside_eez(self) -> bool:
        """Whether the position lies in the viewing nation's own EEZ."""
        return self.eez_of == self.view

    def as_dict(self) -> dict[str, Any]:
        """The ``trilat analyze eez --json`` object (SPEC §9) plus ``eez_of``, ``lat``, ``lon``."""
        return {
            "view": self.view,
            "inside_eez": self.inside_eez,
            "eez_of": self.eez_of,
            "lat": self.lat,
            "lon": self.lon,
            "nearest_coast_km": {
                nation: round(km, 3) for nation, km in sorted(self.nearest_coast_km.items())
            },
        }


def _on_clip_edge(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
    edge = np.zeros(x0.shape, dtype=bool)
    for value in _CLIP_EDGES[0]:
        edge |= np.isclose(x0, value) & np.isclose(x1, value)
    for value in _CLIP_EDGES[1]:
        edge |= np.isclose(y0, value) & np.isclose(y1, value)
    return edge


class CoastIndex:
    """Coastline segments and basepoints of every nation under one view, ready for queries."""

    def __init__(self, view: str) -> None:
        territory = territory_for_view(view)
        self.view = view
        self._segments: dict[str, np.ndarray] = {}  # nation → (n, 4) x0 y0 x1 y1
        self._trees: dict[str, STRtree] = {}
        self._land = territory.land
        raw: dict[str, np.ndarray] = {}
        for nation, land in sorted(territory.land.items()):
            rings = shapely.get_exterior_ring(shapely.get_parts(land))
            chunks = [
                np.hstack([xy[:-1], xy[1:]])
                for xy in (shapely.get_coordinates(ring) for ring in rings)
                if len(xy) >= 2
            ]
            if chunks:
                segments = np.vstack(chunks)
                raw[nation] = segments[~_on_clip_edge(*segments.T)]
        owners = np.concatenate([np.full(len(s), n, dtype=object) for n, s in raw.items()])
        every = STRtree(shapely.linestrings(np.vstack(list(raw.values())).reshape(-1, 2, 2)))
        for nation, segments in raw.items():
            middles = shapely.points(
                (segments[:, 0] + segments[:, 2]) / 2, (segments[:, 1] + segments[:, 3]) / 2
            )
            near, found = every.query(middles, predicate="dwithin", distance=_BORDER_TOLERANCE_DEG)
            border = np.zeros(len(segments), dtype=bool)
            border[near[owners[found] != nation]] = True
            coast = segments[~border]
            if len(coast) == 0 or not _has_sea(territory.maritime.get(nation), segments):
                continue
            self._segments[nation] = coast
            self._trees[nation] = STRtree(shapely.linestrings(coast.reshape(-1, 2, 2)))
        self._basepoints = territory.basepoints

    @property
    def nations(self) -> frozenset[str]:
        return frozenset(self._segments) | frozenset(self._basepoints)

    def nearest_coast_m(self, lat: float, lon: float) -> dict[str, float]:
        """Geodesic metres from (lat, lon) to each nation's nearest coast or basepoint."""
        point = Point(lon, lat)
        result: dict[str, float] = {}
        pending: list[tuple[str, np.ndarray]] = []
        for nation in sorted(self.nations):
            land = self._land.get(nation)
            if land is not None and land.covers(point):
                result[nation] = 0.0
                continue
            result[nation] = math.inf
            if nation in self._trees:
                pending.append((nation, self._candidates(nation, point, lat)))
        if pending:  # one geodesic call for every nation's candidates
            distances = _distance_to_segments(np.vstack([c for _, c in pending]), point)
            offset = 0
            for nation, chosen in pending:
                result[nation] = float(distances[offset : offset + len(chosen)].min())
                offset += len(chosen)
        for nation, points in self._basepoints.items():
            if result.get(nation) == 0.0 or not points:
                continue
            count = len(points)
            _, _, metres = _GEOD.inv(
                np.full(count, lon),
                np.full(count, lat),
                np.array([p[0] for p in points]),
                np.array([p[1] for p in points]),
            )
            result[nation] = min(result.get(nation, math.inf), float(np.min(metres)))
        return result

    def _candidates(self, nation: str, point: Point, lat: float) -> np.ndarray:
        """Segments that may hold the nearest coast of *nation* (never empty).

        The planar-nearest segment's geodesic distance g bounds the answer; a segment is kept
        when it lies in the box that g spans and its equirectangular distance is at most
        ``_ROUGH_SLACK`` × g + ``_ROUGH_MARGIN_M`` (that distance overstates the geodesic one
        by well under 10 % within 2,000 km in these latitudes).
        """
        tree = self._trees[nation]
        segments = self._segments[nation]
        first: np.ndarray = segments[np.atleast_1d(tree.query_nearest(point))]
        bound = float(_distance_to_segments(first, point).min())
        reach_lat = bound / 110_500.0 + 1e-6
        coslat = math.cos(math.radians(min(89.0, abs(lat) + reach_lat)))
        reach_lon = bound / (111_400.0 * max(coslat, 1e-3)) + 1e-6
        box = shapely.box(
            point.x - reach_lon, point.y - reach_lat, point.x + reach_lon, point.y + reach_lat
        )
        candidates = tree.query(box)
        if len(candidates) == 0:
            return first
        chosen = segments[candidates]
        keep = _rough_distance_to_segments(chosen, point) <= bound * _ROUGH_SLACK + _ROUGH_MARGIN_M
        return np.vstack([first, chosen[keep]])


def _rough_distance_to_segments(segments: np.ndarray, centre: Point) -> np.ndarray:
    """Equirectangular distance (metres) to each segment: a cheap filter before the geodesic."""
    scale_x = 111_320.0 * math.cos(math.radians(centre.y))
    ax = ((segments[:, 0] - centre.x + 180.0) % 360.0 - 180.0) * scale_x
    bx = ((segments[:, 2] - centre.x + 180.0) % 360.0 - 180.0) * scale_x
    ay = (segments[:, 1] - centre.y) * 110_574.0
    by = (segments[:, 3] - centre.y) * 110_574.0
    return _origin_to_segments(ax, ay, bx, by)


def _origin_to_segments(
    ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray
) -> np.ndarray:
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(length2 > 0, -(ax * dx + ay * dy) / length2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    distances: np.ndarray = np.hypot(ax + t * dx, ay + t * dy)
    return distances


def _has_sea(maritime: BaseGeometry | None, land_edges: np.ndarray) -> bool:
    """Whether the nation's territorial sea reaches clearly beyond its coast (not landlocked)."""
    if maritime is None or maritime.is_empty:
        return False
    limits = shapely.points(
        shapely.get_coordinates(shapely.get_exterior_ring(shapely.get_parts(maritime)))
    )
    tree = STRtree(shapely.linestrings(land_edges.reshape(-1, 2, 2)))
    _, distances = tree.query_nearest(limits, return_distance=True, all_matches=False)
    return bool(len(distances)) and float(np.max(distances)) > _SEA_MIN_WIDTH_DEG


def _local_plane(centre: Point, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthal equidistant (east, north) metres of points around *centre*, via the geodesic."""
    count = len(lon)
    azimuth, _, distance = _GEOD.inv(np.full(count, centre.x), np.full(count, centre.y), lon, lat)
    angle = np.radians(np.asarray(azimuth, dtype=float))
    distance = np.asarray(distance, dtype=float)
    return distance * np.sin(angle), distance * np.cos(angle)


def _distance_to_segments(segments: np.ndarray, centre: Point) -> np.ndarray:
    """Distance (metres) from *centre* to each segment, measured in its local plane."""
    count = len(segments)
    x, y = _local_plane(
        centre,
        np.concatenate([segments[:, 0], segments[:, 2]]),
        np.concatenate([segments[:, 1], segments[:, 3]]),
    )
    return _origin_to_segments(x[:count], y[:count], x[count:], y[count:])


@lru_cache(maxsize=8)
def coast_index(view: str = DEFAULT_VIEW) -> CoastIndex:
    """The (cached) coast index of *view*; raises ``UnknownViewError`` for an unknown view."""
    return CoastIndex(check_view(view))


def eez_check(lat: float, lon: float, view: str = DEFAULT_VIEW) -> EezResult:
    """Whose EEZ (lat, lon) lies in under *view*, and the distance to every nation's coast."""
    if not (-90.0 <= lat <= 90.0):
        raise PositionError(f"latitude out of range: {lat!r} (expected -90..90)")
    if not math.isfinite(lon):
        raise PositionError(f"longitude is not a number: {lon!r}")
    if not -180.0 <= lon < 180.0:
        lon = (lon + 180.0) % 360.0 - 180.0
    distances = coast_index(view).nearest_coast_m(lat, lon)
    eez_of = None
    if distances:
        nearest = min(distances, key=lambda nation: (distances[nation], nation))
        if distances[nearest] <= EEZ_LIMIT_M:
            eez_of = nearest
    return EezResult(
        view=view,
        lat=lat,
        lon=lon,
        eez_of=eez_of,
        nearest_coast_km={nation: metres / 1000.0 for nation, metres in distances.items()},
    )
