"""Resample each vessel onto the 10-minute grid (Global Fishing Watch's method). No IO.

A grid time ``g`` (a multiple of ``resample_seconds`` since the epoch) gets a position for a
vessel when two consecutive cleaned reports ``a``, ``b`` bracket it (``a.t ≤ g < b.t``), are at
most ``max_interpolation_gap_seconds`` apart and the step between them is not a speed jump: the
position is interpolated linearly in time (longitude the short way round). A report that falls
exactly on a grid time gives that grid position itself. Nothing is extrapolated: across a
longer silence the vessel simply has no grid positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trilat.analytics.maritime.clean import jump_steps
from trilat.analytics.maritime.geo import interpolate_lon
from trilat.analytics.maritime.params import DEFAULT_PARAMETERS, MaritimeParameters
from trilat.analytics.maritime.positions import Positions


@dataclass(frozen=True, slots=True)
class GridTrack:
    """Resampled positions of many vessels, sorted by (mmsi, slot); slot = time // step."""

    mmsi: NDArray[np.int64]
    slot: NDArray[np.int64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.mmsi)


def resample(
    p: Positions,
    params: MaritimeParameters = DEFAULT_PARAMETERS,
    jumps: NDArray[np.bool_] | None = None,
) -> GridTrack:
    """Grid positions of cleaned reports *p* (sorted by (mmsi, time), de-duplicated).

    *jumps* (from :func:`~.clean.clean_with_jumps`) saves recomputing the step speeds.
    """
    step = params.resample_seconds
    n = len(p)
    if n == 0:
        e = np.empty(0, np.int64)
        return GridTrack(e, e.copy(), np.empty(0), np.empty(0))
    t = p.time
    same = p.mmsi[1:] == p.mmsi[:-1]
    dt = t[1:] - t[:-1]
    jumps = jump_steps(p, params) if jumps is None else jumps
    interpolable = same & (dt <= params.max_interpolation_gap_seconds) & ~jumps[:-1]
    first = -((-t[:-1]) // step)  # ceil(t_a / step)
    last = (t[1:] - 1) // step  # g < t_b
    count = np.where(interpolable, np.maximum(last - first + 1, 0), 0)
    total = int(count.sum())
    pair = np.repeat(np.arange(n - 1), count)
    within = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    slot = first[pair] + within
    g = slot * step
    a, b = pair, pair + 1
    mix = (g - t[a]) / (t[b] - t[a]).astype(np.float64)
    lat = p.lat[a] + (p.lat[b] - p.lat[a]) * mix
    lon = interpolate_lon(p.lon[a], p.lon[b], mix)
    mmsi = p.mmsi[a]

    # reports exactly on the grid whose following step is not interpolated
    on_grid = (t % step) == 0
    on_grid[:-1] &= ~interpolable
    if on_grid.any():
        mmsi = np.r_[mmsi, p.mmsi[on_grid]]
        slot = np.r_[slot, t[on_grid] // step]
        lat = np.r_[lat, p.lat[on_grid]]
        lon = np.r_[lon, p.lon[on_grid]]
        order = np.lexsort((slot, mmsi))
        mmsi, slot, lat, lon = mmsi[order], slot[order], lat[order], lon[order]
    return GridTrack(mmsi.astype(np.int64), slot.astype(np.int64), lat, lon)
