"""Cleaning rules for raw AIS positions. Every dropped report is counted, none silently.

Rules, applied in this order (the streaming engine applies the same ones report by report):

1. ``bad_mmsi`` — an MMSI that is not nine digits, or whose first three digits (the MID) are not
   a ship station's (201–775): coast stations (00…), group calls (0…), SAR aircraft (111…),
   AIS-SART/MOB/EPIRB (97…), craft associated with a parent ship (98…) and aids to navigation
   (99…) are not vessels. Dropped.
2. ``impossible_position`` — latitude or longitude not a number, |lat| > 90 or |lon| > 180
   (this includes AIS's "not available" values 91 and 181). Dropped.
3. ``out_of_order`` — a report older than one already seen for its vessel. Batch: sorted into
   place and kept (the count says how many). Streaming: it cannot be placed and is dropped
   (counted as ``late``).
4. ``duplicate`` — a second report with the same vessel and second as an earlier one. The
   first one (in input order) is kept.
5. ``speed_spike`` — a report whose implied speed from the previous report *and* to the next
   report (when that one follows within ``max_interpolation_gap_seconds``) both exceed
   ``max_speed_knots``: an isolated wild position. Dropped.
6. ``speed_jump`` — a remaining step faster than ``max_speed_knots`` (a one-sided jump: a
   teleport or an MMSI shared by two transmitters). Kept, but the resampler never
   interpolates across it.

No IO.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

from trilat.analytics.maritime.geo import haversine_km
from trilat.analytics.maritime.params import (
    DEFAULT_PARAMETERS,
    KNOT_KM_PER_SECOND,
    MaritimeParameters,
)
from trilat.analytics.maritime.positions import Positions

MID_FIRST, MID_LAST = 201, 775


@dataclass(slots=True)
class CleanSummary:
    """Counts of what the cleaning rules did (see the module docstring)."""

    input: int = 0
    kept: int = 0
    bad_mmsi: int = 0
    impossible_position: int = 0
    out_of_order: int = 0
    late: int = 0
    duplicate: int = 0
    speed_spike: int = 0
    speed_jump: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def valid_mmsi(mmsi: NDArray[np.int64]) -> NDArray[np.bool_]:
    """True for nine-digit ship-station MMSIs (MID 201–775)."""
    mid = mmsi // 1_000_000
    return (mmsi >= 100_000_000) & (mmsi <= 999_999_999) & (mid >= MID_FIRST) & (mid <= MID_LAST)


def possible_position(lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.bool_]:
    """True where latitude and longitude are numbers on the globe."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0)


def step_speed_knots(
    lat0: NDArray[np.float64],
    lon0: NDArray[np.float64],
    t0: NDArray[np.int64],
    lat1: NDArray[np.float64],
    lon1: NDArray[np.float64],
    t1: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Implied speed between positions, in knots (time steps are ≥ 1 s after de-duplication)."""
    dt = np.maximum((t1 - t0).astype(np.float64), 1.0)
    return haversine_km(lat0, lon0, lat1, lon1) / dt / KNOT_KM_PER_SECOND


def clean_positions(
    positions: Positions, params: MaritimeParameters = DEFAULT_PARAMETERS
) -> tuple[Positions, CleanSummary]:
    """Apply the cleaning rules; returns reports sorted by (mmsi, time) and the counts."""
    cleaned, summary, _ = clean_with_jumps(positions, params)
    return cleaned, summary


def clean_with_jumps(
    positions: Positions, params: MaritimeParameters = DEFAULT_PARAMETERS
) -> tuple[Positions, CleanSummary, NDArray[np.bool_]]:
    """:func:`clean_positions`, plus each kept report's "step to the next is a jump" flag."""
    summary = CleanSummary(input=len(positions))
    ok_mmsi = valid_mmsi(positions.mmsi)
    summary.bad_mmsi = int(np.count_nonzero(~ok_mmsi))
    ok_pos = possible_position(positions.lat, positions.lon)
    summary.impossible_position = int(np.count_nonzero(ok_mmsi & ~ok_pos))
    keep = np.flatnonzero(ok_mmsi & ok_pos)

    # group by vessel keeping input order; count reports older than one seen before them
    mmsi = positions.mmsi[keep]
    by_vessel = np.argsort(mmsi, kind="stable")
    m = mmsi[by_vessel]
    t = positions.time[keep][by_vessel]
    if len(m):
        new_vessel = np.r_[True, m[1:] != m[:-1]]
        starts = np.flatnonzero(new_vessel)
        group = np.cumsum(new_vessel) - 1
        offset = t.min() - 1
        shifted = t - offset + group.astype(np.int64) * (int(t.max() - offset) + 1)
        running = np.maximum.accumulate(shifted)
        previous = np.r_[-1, running[:-1]]
        previous[starts] = -1
        summary.out_of_order = int(np.count_nonzero(shifted < previous))
    if summary.out_of_order == 0:
        order = keep[by_vessel]  # already in (mmsi, time) order, ties in input order
    else:
        order = keep[np.lexsort((positions.time[keep], mmsi))]  # stable
    p = positions.take(order)
    same = np.r_[False, (p.mmsi[1:] == p.mmsi[:-1]) & (p.time[1:] == p.time[:-1])]
    summary.duplicate = int(np.count_nonzero(same))
    if summary.duplicate:
        p = p.take(~same)

    spike = spike_mask(p, params)
    summary.speed_spike = int(np.count_nonzero(spike))
    if summary.speed_spike:
        p = p.take(~spike)
    jumps = jump_steps(p, params)
    summary.speed_jump = int(np.count_nonzero(jumps))
    summary.kept = len(p)
    return p, summary, jumps


def spike_mask(p: Positions, params: MaritimeParameters) -> NDArray[np.bool_]:
    """Reports (sorted, de-duplicated) that are isolated spikes under rule 5."""
    n = len(p)
    if n < 2:
        return np.zeros(n, dtype=bool)
    same = p.mmsi[1:] == p.mmsi[:-1]
    fast = same & (
        step_speed_knots(p.lat[:-1], p.lon[:-1], p.time[:-1], p.lat[1:], p.lon[1:], p.time[1:])
        > params.max_speed_knots
    )
    near_next = same & ((p.time[1:] - p.time[:-1]) <= params.max_interpolation_gap_seconds)
    fast_in = np.r_[False, fast]
    fast_out = np.r_[fast & near_next, False]
    return np.asarray(fast_in & fast_out)


def jump_steps(p: Positions, params: MaritimeParameters) -> NDArray[np.bool_]:
    """For each report, whether the step *to the next report* of its vessel is too fast."""
    n = len(p)
    if n < 2:
        return np.zeros(n, dtype=bool)
    same = p.mmsi[1:] == p.mmsi[:-1]
    fast = same & (
        step_speed_knots(p.lat[:-1], p.lon[:-1], p.time[:-1], p.lat[1:], p.lon[1:], p.time[1:])
        > params.max_speed_knots
    )
    return np.r_[fast, False]
