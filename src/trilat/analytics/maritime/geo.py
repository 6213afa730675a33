"""Great-circle distances on a spherical Earth (mean radius), vectorised with numpy. No IO."""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

EARTH_RADIUS_KM: Final = 6371.0088


def haversine_km(
    lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike
) -> NDArray[np.float64]:
    """Great-circle distance in km between points given in degrees (broadcasts)."""
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def interpolate_lon(
    lon0: NDArray[np.float64], lon1: NDArray[np.float64], mix: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Linear interpolation of longitudes the short way round the antimeridian."""
    delta = (lon1 - lon0 + 180.0) % 360.0 - 180.0
    out = lon0 + delta * mix
    return np.asarray((out + 180.0) % 360.0 - 180.0)
