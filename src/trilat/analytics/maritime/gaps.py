"""AIS gaps and going dark (SPEC §7). No IO.

A gap is a silence between two consecutive cleaned reports of a vessel lasting at least
``gap_record_seconds`` (6 h); it is recorded as an ``ais_gap`` event with the two reports'
times. It is flagged ``possible_disabling`` when it lasts at least ``gap_dark_seconds`` (12 h),
both bracketing reports lie more than ``gap_disabling_min_shore_km`` (50 nm) from shore
(unknown coverage counts as offshore only when ``unknown_shore_is_offshore``), and it is not a
*joint silence*: a silence spanned by an accepted encounter of the vessel (the encounter
starts no later than the gap and ends no earlier) is two ships meeting, not a transmitter
switched off. A vessel still silent at the end of the data has no gap event (its end is unknown).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from trilat.analytics.maritime.events import AisGap, Encounter
from trilat.analytics.maritime.params import DEFAULT_PARAMETERS, MaritimeParameters
from trilat.analytics.maritime.positions import Positions
from trilat.analytics.maritime.shore import FAR, UNKNOWN, ShoreModel


@dataclass(slots=True)
class GapStats:
    recorded: int = 0
    dark: int = 0
    possible_disabling: int = 0
    joint_silence: int = 0
    shore_unknown: int = 0


def is_joint_silence(mmsi: int, start: int, end: int, encounters: Iterable[Encounter]) -> bool:
    return any(mmsi in e.vessels and e.start <= start and e.end >= end for e in encounters)


def disabling_ends_offshore(
    lat: np.ndarray, lon: np.ndarray, shore: ShoreModel, params: MaritimeParameters, stats: GapStats
) -> np.ndarray:
    verdict = shore.classify(lat, lon, params.gap_disabling_min_shore_km)
    stats.shore_unknown += int(np.count_nonzero(verdict == UNKNOWN))
    return (verdict == FAR) | ((verdict == UNKNOWN) & params.unknown_shore_is_offshore)


def detect_gaps(
    p: Positions,
    shore: ShoreModel,
    encounters: Iterable[Encounter] = (),
    params: MaritimeParameters = DEFAULT_PARAMETERS,
    stats: GapStats | None = None,
) -> list[AisGap]:
    """Batch gap detection over cleaned reports sorted by (mmsi, time)."""
    stats = stats if stats is not None else GapStats()
    if len(p) < 2:
        return []
    dt = p.time[1:] - p.time[:-1]
    idx = np.flatnonzero((p.mmsi[1:] == p.mmsi[:-1]) & (dt >= params.gap_record_seconds))
    stats.recorded = len(idx)
    if len(idx) == 0:
        return []
    dark = dt[idx] >= params.gap_dark_seconds
    stats.dark = int(np.count_nonzero(dark))
    offshore = np.zeros(len(idx), dtype=bool)
    d = np.flatnonzero(dark)
    if len(d):
        k = idx[d]
        lat = np.r_[p.lat[k], p.lat[k + 1]]
        lon = np.r_[p.lon[k], p.lon[k + 1]]
        both = disabling_ends_offshore(lat, lon, shore, params, stats)
        offshore[d] = both[: len(k)] & both[len(k) :]
    by_vessel: dict[int, list[Encounter]] = {}
    for e in encounters:
        for m in e.vessels:
            by_vessel.setdefault(m, []).append(e)
    out: list[AisGap] = []
    for j, k in enumerate(idx.tolist()):
        mmsi, start, end = int(p.mmsi[k]), int(p.time[k]), int(p.time[k + 1])
        flag = bool(offshore[j])
        if flag and is_joint_silence(mmsi, start, end, by_vessel.get(mmsi, ())):
            stats.joint_silence += 1
            flag = False
        stats.possible_disabling += flag
        out.append(AisGap(mmsi, start, end, flag))
    return out
