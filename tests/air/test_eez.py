"""EEZ by equidistance per view: the Japan MOD impact cases of SPEC §7 and their rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pyproj import Geod

from trilat.analytics.eez import EEZ_LIMIT_M, PositionError, coast_index, eez_check
from trilat.analytics.geodata import UnknownViewError, features

GEOD = Geod(ellps="WGS84")


def _offset(feature_id: str, azimuth: float, km: float) -> tuple[float, float]:
    feature = features()[feature_id]
    lon, lat, _ = GEOD.fwd(feature.lon, feature.lat, azimuth, km * 1000.0)
    return lat, lon


def test_hwasong_15_of_2023_02_18_fell_inside_japans_eez() -> None:
    lat, lon = _offset("oshima-oshima", 270.0, 200.0)  # ≈ 200 km west of Oshima-Oshima
    result = eez_check(lat, lon, "JPN")
    assert result.inside_eez
    assert 190.0 < result.nearest_coast_km["JPN"] < 200.0


def test_hwasong_18_of_2023_07_12_fell_outside_japans_eez() -> None:
    lat, lon = _offset("okushiri", 270.0, 250.0)  # ≈ 250 km west of Okushiri
    result = eez_check(lat, lon, "JPN")
    assert not result.inside_eez
    assert result.eez_of == "RUS"  # the Primorye coast is nearer: the median line is passed
    assert result.nearest_coast_km["RUS"] < result.nearest_coast_km["JPN"]


@pytest.mark.parametrize(("view", "inside"), [("JPN", True), ("KOR", False), ("USA", False)])
def test_pukguksong_3_of_2019_10_02_is_in_japans_eez_only_with_takeshima_japanese(
    view: str, inside: bool
) -> None:
    lat, lon = _offset("oki-dogo", 0.0, 350.0)  # ≈ 350 km north of Dogo, Oki
    result = eez_check(lat, lon, view)
    assert (result.eez_of == "JPN") is inside
    if view == "KOR":
        assert result.eez_of == "KOR"
        assert result.inside_eez


def test_dokdo_is_a_basepoint_of_its_owner_under_each_view() -> None:
    lat, lon = _offset("dokdo", 45.0, 100.0)
    korean = eez_check(lat, lon, "KOR").nearest_coast_km
    japanese = eez_check(lat, lon, "JPN").nearest_coast_km
    assert korean["KOR"] == pytest.approx(100.0, abs=0.5)
    assert japanese["JPN"] == pytest.approx(100.0, abs=0.5)
    assert japanese["KOR"] > 150.0


def test_distance_to_a_coast_is_geodesic_to_the_nearest_segment() -> None:
    # the Okushiri feature point lies inside the island: 250 km due west of it, the distance
    # to Japan's coast is a little less than 250 km, never more
    lat, lon = _offset("okushiri", 270.0, 250.0)
    assert 240.0 < eez_check(lat, lon, "USA").nearest_coast_km["JPN"] < 250.0


def test_a_position_on_land_is_zero_km_from_that_nations_coast() -> None:
    busan = features()["busan"]
    result = eez_check(busan.lat, busan.lon, "KOR")
    assert result.nearest_coast_km["KOR"] == 0.0
    assert result.inside_eez


def test_beyond_200_nautical_miles_from_every_coast_is_no_ones_eez() -> None:
    result = eez_check(30.0, 150.0, "JPN")  # the open Pacific east of the Bonin Islands
    assert min(result.nearest_coast_km.values()) * 1000.0 > EEZ_LIMIT_M
    assert result.eez_of is None
    assert not result.inside_eez


def test_landlocked_nations_have_no_coast() -> None:
    assert "MNG" not in coast_index("USA").nations
    assert {"CHN", "JPN", "KOR", "PRK", "RUS", "TWN"} <= coast_index("USA").nations


def test_bad_positions_and_views_are_refused() -> None:
    with pytest.raises(PositionError, match="latitude"):
        eez_check(91.0, 130.0, "JPN")
    with pytest.raises(UnknownViewError, match="'XYZ'"):
        eez_check(37.0, 131.0, "XYZ")


def _trilat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "trilat"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_cli_eez_prints_the_spec_json_object() -> None:
    lat, lon = _offset("oki-dogo", 0.0, 350.0)
    done = _trilat("analyze", "eez", f"{lat:.5f}", f"{lon:.5f}", "--view", "JPN", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"view", "inside_eez", "nearest_coast_km"} <= set(result)
    assert result["view"] == "JPN"
    assert result["inside_eez"] is True
    assert result["nearest_coast_km"]["JPN"] < result["nearest_coast_km"]["KOR"]


def test_cli_eez_refuses_an_unknown_view_with_exit_2() -> None:
    done = _trilat("analyze", "eez", "37", "131", "--view", "ATL")
    assert done.returncode == 2
    assert "'ATL'" in done.stderr
    assert "Traceback" not in done.stderr
