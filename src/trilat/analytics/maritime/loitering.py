"""Loitering: a vessel moving slowly far from shore for hours (SPEC §7). No IO.

On the 10-minute grid, a *slow step* joins two consecutive grid positions (one grid step
apart) whose implied speed is below ``loitering_max_speed_knots``. A loitering run is a
maximal chain of slow steps whose every position is at least ``loitering_min_shore_km`` from
shore (unknown coverage counts as offshore only when ``unknown_shore_is_offshore``), lasting at
least ``loitering_min_seconds``. The event's position is the run's mean position. A reporting
gap longer than the interpolation limit ends a run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trilat.analytics.maritime.encounters import circular_mean_lon
from trilat.analytics.maritime.events import Loitering
from trilat.analytics.maritime.geo import haversine_km
from trilat.analytics.maritime.params import (
    DEFAULT_PARAMETERS,
    KNOT_KM_PER_SECOND,
    MaritimeParameters,
)
from trilat.analytics.maritime.resample import GridTrack
from trilat.analytics.maritime.shore import FAR, UNKNOWN, ShoreModel


@dataclass(slots=True)
class LoiteringStats:
    slow_chains: int = 0
    positions_checked: int = 0
    shore_unknown: int = 0
    accepted: int = 0


def offshore_flags(
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
    shore: ShoreModel,
    params: MaritimeParameters,
    stats: LoiteringStats,
) -> NDArray[np.bool_]:
    verdict = shore.classify(lat, lon, params.loitering_min_shore_km)
    stats.positions_checked += len(lat)
    stats.shore_unknown += int(np.count_nonzero(verdict == UNKNOWN))
    return np.asarray((verdict == FAR) | ((verdict == UNKNOWN) & params.unknown_shore_is_offshore))


def runs_from_chain(
    mmsi: int,
    slots: NDArray[np.int64],
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
    offshore: NDArray[np.bool_],
    params: MaritimeParameters,
) -> list[Loitering]:
    """Loitering events inside one chain of slow steps, split where a position is near shore."""
    out: list[Loitering] = []
    min_slots = params.loitering_min_seconds / params.resample_seconds
    edges = np.diff(np.r_[0, offshore.astype(np.int8), 0])
    for i0, i1 in zip(
        np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist(), strict=True
    ):
        if slots[i1] - slots[i0] >= min_slots:
            sl = slice(i0, i1 + 1)
            out.append(
                Loitering(
                    mmsi=mmsi,
                    start=int(slots[i0]) * params.resample_seconds,
                    end=int(slots[i1]) * params.resample_seconds,
                    lat=round(float(np.mean(lat[sl])), 5),
                    lon=round(circular_mean_lon(lon[sl]), 5),
                )
            )
    return out


def slow_steps(track: GridTrack, params: MaritimeParameters) -> NDArray[np.bool_]:
    """For each grid position, whether the step to the vessel's next grid position is slow."""
    n = len(track)
    if n < 2:
        return np.zeros(n, dtype=bool)
    adjacent = (track.mmsi[1:] == track.mmsi[:-1]) & (track.slot[1:] - track.slot[:-1] == 1)
    km = haversine_km(track.lat[:-1], track.lon[:-1], track.lat[1:], track.lon[1:])
    speed = km / params.resample_seconds / KNOT_KM_PER_SECOND
    return np.r_[adjacent & (speed < params.loitering_max_speed_knots), False]


def detect_loitering(
    track: GridTrack,
    shore: ShoreModel,
    params: MaritimeParameters = DEFAULT_PARAMETERS,
    stats: LoiteringStats | None = None,
) -> list[Loitering]:
    """Batch loitering detection over a resampled track set."""
    stats = stats if stats is not None else LoiteringStats()
    slow = slow_steps(track, params)
    # chains of slow steps: position i..j where slow[i..j-1]
    edges = np.diff(np.r_[0, slow.astype(np.int8), 0])
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # index of the chain's last position
    min_slots = params.loitering_min_seconds / params.resample_seconds
    long_enough = track.slot[ends] - track.slot[starts] >= min_slots
    starts, ends = starts[long_enough], ends[long_enough]
    stats.slow_chains = len(starts)
    if len(starts) == 0:
        return []
    count = ends - starts + 1
    index = np.repeat(starts, count) + (
        np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    )
    flags = np.zeros(len(track), dtype=bool)
    flags[index] = offshore_flags(track.lat[index], track.lon[index], shore, params, stats)
    # only chains with an offshore position can hold a run (most slow chains are in port)
    any_offshore = np.add.reduceat(flags[index].astype(np.int64), np.cumsum(count) - count) > 0
    out: list[Loitering] = []
    for i0, i1 in zip(starts[any_offshore].tolist(), ends[any_offshore].tolist(), strict=True):
        sl = slice(i0, i1 + 1)
        out.extend(
            runs_from_chain(
                int(track.mmsi[i0]), track.slot[sl], track.lat[sl], track.lon[sl], flags[sl], params
            )
        )
    stats.accepted = len(out)
    return out
