"""The shipped North-East Asia geodata, read once, with territory adjusted per viewing nation.

``src/trilat/data/geo/`` holds three GeoJSON files (see its ``NOTICE.md``): the ADIZ polygons,
per-country ``land`` and ``maritime`` (land + internal waters + 12 nm territorial sea)
multipolygons, and point features with ``administered_by`` and ``claimed_by``.

The dataset follows OpenStreetMap's conventions, which are nobody's official view. A *view* is
the nation a node speaks for; under view ``V`` a disputed feature belongs to ``V`` when ``V``
is one of its claimants (``claimed_by``), otherwise to the state administering it. ``USA``
(no claims of its own) therefore gives the administering-state convention. The rules applied
per view (:func:`territory_for_view`):

* **Affected area.** A disputed feature's affected area is the 12 nm geodesic buffer of the land
  component that contains it, or of the point itself when the land layer misses it (Dokdo /
  Takeshima, the Senkakus), buffered in an azimuthal equidistant projection centred on the
  feature. A dataset territorial-sea component that contains the feature and lies wholly within
  that buffer grown by 5 km (Dokdo's own 12 nm circle) is taken whole, so no sliver of the
  previous owner is left.
* **Transfer.** The affected area is removed from every other nation's territorial sea and
  added to the owner's; land components move with it, and points missing from the land layer
  become basepoints of the owner (used by the EEZ check).
* **Agreement.** Where the dataset already gives the feature's territorial sea to that owner
  alone, nothing is moved.
* **Unassigned.** A feature with an owner but no territorial sea in the data (the Senkakus)
  gets its zone added under every view, since every view gives it an owner.

Known limits: only the features listed in ``features.geojson`` are moved. Kunashiri,
Shikotan and the Habomai islets are not listed, so a JPN view transfers Etorofu alone.

IO: reads package data (``importlib.resources``) once per process; everything else is pure.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Final

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import MultiLineString, MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from trilat.core.errors import TrilatError

__all__ = [
    "DEFAULT_VIEW",
    "NAUTICAL_MILE_M",
    "TERRITORIAL_SEA_M",
    "Feature",
    "Territory",
    "UnknownViewError",
    "Zone",
    "adiz_zones",
    "check_view",
    "features",
    "geodesic_buffer",
    "known_views",
    "territory_for_view",
    "zones_for_view",
]

NAUTICAL_MILE_M: Final = 1852.0
TERRITORIAL_SEA_M: Final = 12 * NAUTICAL_MILE_M
DEFAULT_VIEW: Final = "USA"
"""No claims of its own: the administering-state convention."""

_WHOLE_COMPONENT_MARGIN_M: Final = 5000.0
_BUFFER_SEGMENTS: Final = 32  # per quarter circle; ≈ 0.1 % radius error at 12 nm


class UnknownViewError(TrilatError, ValueError):
    """A view names no nation present in the geodata."""

    def __init__(self, view: str, known: frozenset[str]) -> None:
        self.view = view
        super().__init__(f"unknown view: {view!r} (expected one of {', '.join(sorted(known))})")

    def extensions(self) -> dict[str, Any]:
        return {"view": self.view}


@dataclass(frozen=True, slots=True)
class Feature:
    """A named point of ``features.geojson``; ``claimed_by`` excludes the administering state."""

    id: str
    name: str
    lat: float
    lon: float
    kind: str
    administered_by: str | None
    claimed_by: frozenset[str]

    def owner_under(self, view: str) -> str | None:
        """The owner as *view* sees it: the viewer if a claimant, else the administrator."""
        if view in self.claimed_by:
            return view
        return self.administered_by

    @property
    def disputed(self) -> bool:
        return bool(self.claimed_by)


@dataclass(frozen=True, slots=True)
class Zone:
    """An area whose entries and exits are reported: an ADIZ or a territorial airspace."""

    id: str  # "KADIZ", "JADIZ", "CADIZ", "TS-KOR", …
    authority: str  # the declaring / sovereign nation
    kind: str  # "adiz" or "territorial"
    geometry: BaseGeometry
    # edges with an end vertex that is not a published value (inferred or approximated), and
    # the others; None when the zone makes no such distinction
    approximate_edges: BaseGeometry | None = None
    published_edges: BaseGeometry | None = None

    def is_approximate_at(self, lon: float, lat: float) -> bool:
        """Whether the boundary nearest to (lon, lat) is an approximate edge (ties count)."""
        if self.approximate_edges is None or self.approximate_edges.is_empty:
            return False
        if self.published_edges is None or self.published_edges.is_empty:
            return True
        point = Point(lon, lat)
        return bool(self.approximate_edges.distance(point) <= self.published_edges.distance(point))


@dataclass(frozen=True, slots=True)
class Territory:
    """Land, territorial sea and extra basepoints of every nation, as one view sees them."""

    view: str
    land: Mapping[str, BaseGeometry]
    maritime: Mapping[str, BaseGeometry]
    basepoints: Mapping[str, tuple[tuple[float, float], ...]]  # (lon, lat) of point features


def _read_json(name: str) -> dict[str, Any]:
    path = resources.files("trilat").joinpath("data", "geo", name)
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def _raw_territory() -> tuple[dict[str, BaseGeometry], dict[str, BaseGeometry]]:
    land: dict[str, BaseGeometry] = {}
    maritime: dict[str, BaseGeometry] = {}
    for feature in _read_json("territory-ne-asia.geojson")["features"]:
        properties = feature["properties"]
        geometry = shape(feature["geometry"])
        target = land if properties["kind"] == "land" else maritime
        target[properties["iso_a3"]] = geometry
    return land, maritime


@lru_cache(maxsize=1)
def features() -> Mapping[str, Feature]:
    """The check points of ``features.geojson`` by id."""
    result: dict[str, Feature] = {}
    for item in _read_json("features.geojson")["features"]:
        properties = item["properties"]
        lon, lat = item["geometry"]["coordinates"]
        result[properties["id"]] = Feature(
            id=properties["id"],
            name=properties["name"],
            lat=float(lat),
            lon=float(lon),
            kind=properties["kind"],
            administered_by=properties["administered_by"],
            claimed_by=frozenset(properties["claimed_by"]),
        )
    return result


@lru_cache(maxsize=1)
def adiz_zones() -> tuple[Zone, ...]:
    """KADIZ, JADIZ (outer line, incomplete after vertex 7) and CADIZ, planar lon/lat edges."""
    zones = []
    for item in _read_json("adiz.geojson")["features"]:
        properties = item["properties"]
        geometry = shape(item["geometry"])
        shapely.prepare(geometry)
        approximate, published = _edges_by_provenance(
            geometry, properties.get("published_vertices") or []
        )
        zones.append(
            Zone(
                properties["id"],
                properties["authority"],
                "adiz",
                geometry,
                approximate_edges=approximate,
                published_edges=published,
            )
        )
    return tuple(zones)


def _edges_by_provenance(
    geometry: BaseGeometry, published_vertices: list[list[float]]
) -> tuple[BaseGeometry, BaseGeometry]:
    """Split the outer ring's edges into (approximate, published): published = both ends given."""
    published = np.array(published_vertices, dtype=float).reshape(-1, 2)

    def given(vertex: np.ndarray) -> bool:
        return bool(len(published)) and bool(
            np.any(np.all(np.abs(published - vertex) < 1e-6, axis=1))
        )

    approximate_lines, published_lines = [], []
    for polygon in _parts(geometry):
        ring = np.asarray(polygon.exterior.coords)
        for start, end in itertools.pairwise(ring):
            target = published_lines if given(start) and given(end) else approximate_lines
            target.append((tuple(start), tuple(end)))
    return MultiLineString(approximate_lines), MultiLineString(published_lines)


@lru_cache(maxsize=1)
def known_views() -> frozenset[str]:
    """Every nation the geodata knows (a view must be one of them)."""
    land, maritime = _raw_territory()
    return frozenset(land) | frozenset(maritime)


def check_view(view: str) -> str:
    """Return *view* if the geodata knows it; raise :class:`UnknownViewError` otherwise."""
    if view not in known_views():
        raise UnknownViewError(view, known_views())
    return view


def _aeqd_transformers(lon: float, lat: float) -> tuple[Transformer, Transformer]:
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
    forward = Transformer.from_crs("EPSG:4326", local, always_xy=True)
    backward = Transformer.from_crs(local, "EPSG:4326", always_xy=True)
    return forward, backward


def geodesic_buffer(geometry: BaseGeometry, distance_m: float) -> BaseGeometry:
    """Buffer a small lon/lat geometry by *distance_m*, in a local azimuthal equidistant plane."""
    centre = geometry.centroid
    forward, backward = _aeqd_transformers(centre.x, centre.y)
    local = shapely.transform(geometry, lambda xy: np.column_stack(forward.transform(*xy.T)))
    grown = local.buffer(distance_m, quad_segs=_BUFFER_SEGMENTS)
    return shapely.transform(grown, lambda xy: np.column_stack(backward.transform(*xy.T)))


def _parts(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry]
    if isinstance(geometry, MultiPolygon):
        return list(geometry.geoms)
    return [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon)]


def _as_area(geometry: BaseGeometry) -> BaseGeometry:
    """Keep only the polygonal part (differences can leave stray lines or points)."""
    polygons = [p for p in _parts(geometry) if not p.is_empty]
    return MultiPolygon(polygons) if polygons else MultiPolygon()


@lru_cache(maxsize=16)
def territory_for_view(view: str = DEFAULT_VIEW) -> Territory:
    """Land, territorial sea and basepoints per nation as nation *view* sees them."""
    check_view(view)
    raw_land, raw_maritime = _raw_territory()
    land = dict(raw_land)
    maritime = dict(raw_maritime)
    basepoints: dict[str, list[tuple[float, float]]] = {}
    for feature in features().values():
        owner = feature.owner_under(view)
        if owner is None or not (feature.disputed or _unassigned(feature, raw_maritime)):
            continue
        point = Point(feature.lon, feature.lat)
        land_parts = [
            (nation, part)
            for nation, geometry in raw_land.items()
            for part in _parts(geometry)
            if part.covers(point)
        ]
        seed: BaseGeometry = (
            shapely.union_all([part for _, part in land_parts]) if land_parts else point
        )
        holders = {n for n, geometry in raw_maritime.items() if geometry.covers(point)}
        if holders == {owner}:  # the dataset already agrees with this view
            if not land_parts:
                basepoints.setdefault(owner, []).append((feature.lon, feature.lat))
            continue
        affected = geodesic_buffer(seed, TERRITORIAL_SEA_M)
        margin = geodesic_buffer(seed, TERRITORIAL_SEA_M + _WHOLE_COMPONENT_MARGIN_M)
        for geometry in raw_maritime.values():
            for part in _parts(geometry):
                if part.covers(point) and margin.covers(part):
                    affected = affected.union(part)
        for nation in list(maritime):
            if nation != owner and maritime[nation].intersects(affected):
                maritime[nation] = _as_area(maritime[nation].difference(affected))
        maritime[owner] = _as_area(maritime.get(owner, MultiPolygon()).union(affected))
        if land_parts:
            moved = shapely.union_all([part for _, part in land_parts])
            for nation, _ in land_parts:
                if nation != owner:
                    land[nation] = _as_area(land[nation].difference(moved))
            land[owner] = _as_area(land.get(owner, MultiPolygon()).union(moved))
        else:
            basepoints.setdefault(owner, []).append((feature.lon, feature.lat))
    for geometry in (*land.values(), *maritime.values()):
        shapely.prepare(geometry)
    return Territory(
        view=view,
        land=land,
        maritime=maritime,
        basepoints={nation: tuple(points) for nation, points in basepoints.items()},
    )


def _unassigned(feature: Feature, raw_maritime: Mapping[str, BaseGeometry]) -> bool:
    """An administered island that no territorial-sea polygon covers (the Senkakus)."""
    if feature.kind not in {"island", "rock"}:
        return False
    point = Point(feature.lon, feature.lat)
    return not any(geometry.covers(point) for geometry in raw_maritime.values())


@lru_cache(maxsize=16)
def zones_for_view(view: str = DEFAULT_VIEW) -> tuple[Zone, ...]:
    """The ADIZs plus every nation's territorial airspace (``TS-<ISO3>``) under *view*."""
    territory = territory_for_view(view)
    territorial = tuple(
        Zone(f"TS-{nation}", nation, "territorial", geometry)
        for nation, geometry in sorted(territory.maritime.items())
        if not geometry.is_empty
    )
    return adiz_zones() + territorial
