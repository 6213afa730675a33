"""The spatial hash finds exactly the pairs a brute-force comparison finds, anywhere on Earth."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trilat.analytics.maritime.encounters import close_pairs
from trilat.analytics.maritime.geo import haversine_km


def _brute_force(slot, lat, lon, mmsi, km):
    found = set()
    for i in range(len(slot)):
        for j in range(len(slot)):
            if slot[i] == slot[j] and mmsi[i] < mmsi[j]:
                if haversine_km(lat[i], lon[i], lat[j], lon[j]) <= km:
                    found.add((i, j))
    return found


@settings(max_examples=60, deadline=None)
@given(
    centre_lat=st.one_of(st.floats(-89.99, 89.99), st.sampled_from([89.998, -89.999, 80.0])),
    centre_lon=st.floats(-180.0, 180.0),
    spread_km=st.sampled_from([0.3, 1.0, 3.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_close_pairs_equal_brute_force(centre_lat, centre_lon, spread_km, seed) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    lat = np.clip(centre_lat + rng.normal(0, spread_km / 111.0, n), -90, 90)
    coslat = max(np.cos(np.radians(centre_lat)), 1e-3)
    lon = (centre_lon + rng.normal(0, spread_km / 111.0 / coslat, n) + 180) % 360 - 180
    slot = rng.integers(0, 3, n)
    mmsi = rng.permutation(n) + 412_000_000
    got = close_pairs(slot, lat, lon, mmsi, 0.5)
    pairs = {(int(a), int(b)) for a, b in zip(got.a, got.b, strict=True)}
    assert len(pairs) == len(got.a)  # each pair once
    assert pairs == _brute_force(slot, lat, lon, mmsi, 0.5)
    assert np.all(got.distance_km <= 0.5)
