"""The shipped geodata and its per-view territory (geo README facts, disputed features)."""

from __future__ import annotations

from importlib import resources

import pytest
from pyproj import Geod
from shapely.geometry import Point

from trilat.analytics.geodata import (
    TERRITORIAL_SEA_M,
    UnknownViewError,
    adiz_zones,
    check_view,
    features,
    geodesic_buffer,
    territory_for_view,
    zones_for_view,
)


def _zones_containing(feature_id: str, view: str = "USA") -> set[str]:
    feature = features()[feature_id]
    point = Point(feature.lon, feature.lat)
    return {zone.id for zone in zones_for_view(view) if zone.geometry.covers(point)}


@pytest.mark.parametrize(
    ("feature_id", "inside", "outside"),
    [
        ("dokdo", {"KADIZ"}, {"JADIZ"}),
        ("izuhara", {"JADIZ"}, {"KADIZ"}),
        ("busan", {"KADIZ"}, {"JADIZ"}),
        ("marado", {"KADIZ"}, {"JADIZ"}),
        ("hongdo-geoje", {"KADIZ"}, {"JADIZ"}),
        ("ieodo", {"CADIZ"}, set()),
        ("uotsuri", {"CADIZ"}, set()),
        ("oki-dogo", {"JADIZ"}, set()),
        ("okushiri", {"JADIZ"}, set()),
        ("oshima-oshima", {"JADIZ"}, set()),
        ("tsugaru-strait", {"JADIZ"}, set()),
        ("osumi-strait", {"JADIZ"}, set()),
        ("pyongyang-sunan", set(), {"KADIZ", "JADIZ", "CADIZ"}),
        ("sohae", set(), {"KADIZ", "JADIZ", "CADIZ"}),
        ("sinpo", set(), {"KADIZ", "JADIZ", "CADIZ"}),
    ],
)
def test_robust_adiz_facts_of_the_geo_readme_hold(
    feature_id: str, inside: set[str], outside: set[str]
) -> None:
    zones = _zones_containing(feature_id)
    assert inside <= zones
    assert not outside & zones


def test_adiz_zones_carry_their_declaring_authority() -> None:
    assert {zone.id: zone.authority for zone in adiz_zones()} == {
        "KADIZ": "KOR",
        "JADIZ": "JPN",
        "CADIZ": "CHN",
    }


@pytest.mark.parametrize(
    ("view", "owner"), [("USA", "TS-KOR"), ("KOR", "TS-KOR"), ("JPN", "TS-JPN")]
)
def test_dokdo_territorial_airspace_follows_the_viewing_nation(view: str, owner: str) -> None:
    territorial = {z for z in _zones_containing("dokdo", view) if z.startswith("TS-")}
    assert territorial == {owner}


@pytest.mark.parametrize(
    ("view", "owner"), [("USA", "TS-JPN"), ("JPN", "TS-JPN"), ("CHN", "TS-CHN"), ("TWN", "TS-TWN")]
)
def test_senkakus_get_a_territorial_sea_under_every_view(view: str, owner: str) -> None:
    territorial = {z for z in _zones_containing("uotsuri", view) if z.startswith("TS-")}
    assert territorial == {owner}


def test_japanese_view_moves_etorofu_land_and_sea_to_japan() -> None:
    etorofu = features()["etorofu"]
    point = Point(etorofu.lon, etorofu.lat)
    for view, owner in (("USA", "RUS"), ("JPN", "JPN")):
        territory = territory_for_view(view)
        assert {n for n, g in territory.land.items() if g.covers(point)} == {owner}
        assert {n for n, g in territory.maritime.items() if g.covers(point)} == {owner}


def test_no_sliver_of_the_previous_owner_is_left_around_a_moved_feature() -> None:
    dokdo = features()["dokdo"]
    korean_sea = territory_for_view("JPN").maritime["KOR"]
    assert korean_sea.distance(Point(dokdo.lon, dokdo.lat)) > 0.5  # degrees: the next KOR sea


def test_strait_corridors_stay_high_seas_in_every_view() -> None:
    for feature_id in ("soya-strait", "tsugaru-strait", "tsushima-west", "tsushima-east"):
        for view in ("USA", "JPN", "KOR"):
            assert not {z for z in _zones_containing(feature_id, view) if z.startswith("TS-")}


def test_unknown_view_is_refused_by_name() -> None:
    with pytest.raises(UnknownViewError, match="'FRA'") as caught:
        check_view("FRA")
    assert caught.value.extensions() == {"view": "FRA"}
    with pytest.raises(UnknownViewError):
        zones_for_view("kor")


def test_shipped_notice_keeps_the_openstreetmap_attribution() -> None:
    notice = resources.files("trilat").joinpath("data", "geo", "NOTICE.md").read_text("utf-8")
    assert "OpenStreetMap contributors" in notice
    assert "ODbL" in notice


def test_geodesic_buffer_is_12_nautical_miles_all_round() -> None:
    dokdo = features()["dokdo"]
    circle = geodesic_buffer(Point(dokdo.lon, dokdo.lat), TERRITORIAL_SEA_M)
    lons, lats = circle.exterior.coords.xy
    _, _, distances = Geod(ellps="WGS84").inv(
        [dokdo.lon] * len(lons), [dokdo.lat] * len(lats), list(lons), list(lats)
    )
    assert min(distances) == pytest.approx(22_224.0, rel=2e-3)
    assert max(distances) == pytest.approx(22_224.0, rel=1e-6)
