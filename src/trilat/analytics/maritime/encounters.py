"""Ship-to-ship encounters after Global Fishing Watch's published method (SPEC §7). No IO.

On the 10-minute grid (:mod:`.resample`) two vessels are *close* at a grid time when both have
a position there and they are at most ``encounter_max_distance_km`` apart. For each pair, a
*run* is a sequence of close observations not interrupted by a grid time at which both vessels
have positions but are farther apart, nor by a joint silence of ``encounter_merge_seconds`` or
more; a grid time at which one or both vessels are silent does not interrupt it (so a joint
reporting silence never splits an encounter). A *raw encounter* is a run lasting at least
``encounter_min_raw_seconds`` (first to last close observation). Raw encounters of a pair less
than ``encounter_merge_seconds`` apart (next start minus previous end) merge. A merged
encounter counts when it lasts at least ``encounter_min_seconds``, its median speed is below
``encounter_max_median_speed_knots`` and its mean position is at least
``encounter_min_shore_km`` from shore and anchorages.

Statistics of a merged encounter, over the close observations of its raw encounters:
``median_distance_km`` — median pair distance; ``median_speed_knots`` — median of both
vessels' implied speeds between consecutive observations of the same raw encounter;
``lat``/``lon`` — mean of the pair's midpoints (longitude averaged on the circle).

Every pair within range is considered on its own (three ships rafted together give three
encounters), unlike GFW's nearest-neighbour rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from trilat.analytics.maritime.events import Encounter
from trilat.analytics.maritime.geo import haversine_km
from trilat.analytics.maritime.params import (
    DEFAULT_PARAMETERS,
    KNOT_KM_PER_SECOND,
    MaritimeParameters,
)
from trilat.analytics.maritime.resample import GridTrack
from trilat.analytics.maritime.shore import FAR, UNKNOWN, ShoreModel

KM_PER_DEGREE = 111.19492664455873


@dataclass(frozen=True, slots=True)
class ClosePairs:
    """Close observations: indexes *a*, *b* into a GridTrack (mmsi[a] < mmsi[b], same slot)."""

    a: NDArray[np.intp]
    b: NDArray[np.intp]
    distance_km: NDArray[np.float64]


def close_pairs(
    slot: NDArray[np.int64],
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
    mmsi: NDArray[np.int64],
    max_km: float,
) -> ClosePairs:
    """All pairs of positions at the same slot within *max_km*, by spatial hashing.

    Rows are ``max_km``-high latitude bands; each band is cut into equal longitude cells at
    least ``max_km`` wide even at the band's poleward neighbour, so a partner lies in the same
    or an adjacent cell. Half of the 3×3 neighbourhood is searched; each pair is found once.
    """
    n = len(slot)
    empty = ClosePairs(np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0))
    if n < 2:
        return empty
    cell = max_km / KM_PER_DEGREE * 1.02
    rows = int(np.ceil(180.0 / cell)) + 1
    row_lat = (np.arange(rows) + 0.5) * cell - 90.0
    edge = np.minimum(np.abs(row_lat) + 2.5 * cell, 90.0)
    width = max_km * 1.02 / (KM_PER_DEGREE * np.maximum(np.cos(np.radians(edge)), 1e-12))
    columns = np.maximum(np.floor(360.0 / np.minimum(width, 360.0)), 1).astype(np.int64)
    max_cols = int(columns.max())
    row = np.clip(((lat + 90.0) / cell).astype(np.int64), 0, rows - 1)
    s0 = slot - slot.min()
    base = s0 * (rows * max_cols)

    def column(r: NDArray[np.int64]) -> NDArray[np.int64]:
        c = columns[r]
        return np.minimum(((lon + 180.0) / 360.0 * c).astype(np.int64), c - 1)

    key = base + row * max_cols + column(row)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    found_a: list[NDArray[np.intp]] = []
    found_b: list[NDArray[np.intp]] = []
    for drow, dcols in ((0, (0, 1)), (1, (-1, 0, 1))):
        r = row + drow
        valid = r < rows
        r = np.minimum(r, rows - 1)
        c0 = column(r)
        ncol = columns[r]
        seen: list[NDArray[np.int64]] = []
        for dcol in dcols:
            c = (c0 + dcol) % ncol
            dup = np.zeros(n, dtype=bool)
            for previous in seen:  # narrow polar bands: offsets can wrap onto the same cell
                dup |= previous == c
            seen.append(c)
            q = np.flatnonzero(valid & ~dup)
            qkey = base[q] + r[q] * max_cols + c[q]
            lo = np.searchsorted(sorted_key, qkey, side="left")
            hi = np.searchsorted(sorted_key, qkey, side="right")
            count = hi - lo
            has = count > 0
            q, lo, count = q[has], lo[has], count[has]
            if len(q) == 0:
                continue
            total = int(count.sum())
            pa = np.repeat(q, count)
            pb = order[
                np.repeat(lo, count)
                + (np.arange(total) - np.repeat(np.cumsum(count) - count, count))
            ]
            if drow == 0 and dcol == 0:
                keep = pa < pb
            else:
                keep = pa != pb
            found_a.append(pa[keep])
            found_b.append(pb[keep])
    if not found_a:
        return empty
    a = np.concatenate(found_a)
    b = np.concatenate(found_b)
    swap = mmsi[a] > mmsi[b]
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    if len(a):
        pair_key = a.astype(np.int64) * n + b
        _, first = np.unique(pair_key, return_index=True)
        a, b = a[first], b[first]
    d = haversine_km(lat[a], lon[a], lat[b], lon[b])
    keep = d <= max_km
    return ClosePairs(a[keep], b[keep], d[keep])


@dataclass(slots=True)
class RawRun:
    """The close observations of one raw encounter of vessels a < b."""

    a: int
    b: int
    slots: NDArray[np.int64]
    distance_km: NDArray[np.float64]
    lat_a: NDArray[np.float64]
    lon_a: NDArray[np.float64]
    lat_b: NDArray[np.float64]
    lon_b: NDArray[np.float64]

    @property
    def start_slot(self) -> int:
        return int(self.slots[0])

    @property
    def end_slot(self) -> int:
        return int(self.slots[-1])


@dataclass(slots=True)
class EncounterStats:
    """Counts behind the encounter detector's result (for the summary)."""

    close_observations: int = 0
    raw: int = 0
    merged: int = 0
    accepted: int = 0
    rejected_short: int = 0
    rejected_speed: int = 0
    rejected_shore: int = 0
    shore_unknown: int = 0
    candidates: list[Encounter] = field(default_factory=list)


def circular_mean_lon(lon: NDArray[np.float64]) -> float:
    r = np.radians(lon)
    return float(np.degrees(np.arctan2(np.mean(np.sin(r)), np.mean(np.cos(r)))))


def midpoint_lon(lon_a: NDArray[np.float64], lon_b: NDArray[np.float64]) -> NDArray[np.float64]:
    delta = (lon_b - lon_a + 180.0) % 360.0 - 180.0
    return np.asarray((lon_a + delta / 2.0 + 180.0) % 360.0 - 180.0)


def summarize(
    runs: list[RawRun],
    shore: ShoreModel,
    params: MaritimeParameters,
    stats: EncounterStats,
) -> Encounter | None:
    """Merge statistics of one pair's raw encounters; the Encounter when it counts, else None."""
    step = params.resample_seconds
    stats.merged += 1
    dist = np.concatenate([r.distance_km for r in runs])
    speeds = []
    for r in runs:
        if len(r.slots) > 1:
            dt = np.diff(r.slots).astype(np.float64) * step
            for la, lo in ((r.lat_a, r.lon_a), (r.lat_b, r.lon_b)):
                speeds.append(
                    haversine_km(la[:-1], lo[:-1], la[1:], lo[1:]) / dt / KNOT_KM_PER_SECOND
                )
    speed = np.concatenate(speeds) if speeds else np.zeros(1)
    mid_lat = np.concatenate([(r.lat_a + r.lat_b) / 2.0 for r in runs])
    mid_lon = np.concatenate([midpoint_lon(r.lon_a, r.lon_b) for r in runs])
    start = runs[0].start_slot * step
    end = max(r.end_slot for r in runs) * step
    encounter = Encounter(
        vessels=(runs[0].a, runs[0].b),
        start=start,
        end=end,
        median_distance_km=round(float(np.median(dist)), 4),
        median_speed_knots=round(float(np.median(speed)), 3),
        lat=round(float(np.mean(mid_lat)), 5),
        lon=round(circular_mean_lon(mid_lon), 5),
    )
    if end - start < params.encounter_min_seconds:
        stats.rejected_short += 1
        return None
    if not float(np.median(speed)) < params.encounter_max_median_speed_knots:
        stats.rejected_speed += 1
        return None
    verdict = int(
        shore.classify(
            [float(np.mean(mid_lat))],
            [circular_mean_lon(mid_lon)],
            params.encounter_min_shore_km,
            anchorages=True,
        )[0]
    )
    if verdict == UNKNOWN:
        stats.shore_unknown += 1
    if not (verdict == FAR or (verdict == UNKNOWN and params.unknown_shore_is_offshore)):
        stats.rejected_shore += 1
        return None
    stats.accepted += 1
    return encounter


def merge_runs(
    runs: list[RawRun], shore: ShoreModel, params: MaritimeParameters, stats: EncounterStats
) -> list[Encounter]:
    """Merge one pair's raw encounters (sorted by start) and keep those that count."""
    out: list[Encounter] = []
    group: list[RawRun] = []
    merge_slots = params.encounter_merge_seconds / params.resample_seconds
    for run in runs:
        if group and run.start_slot - max(r.end_slot for r in group) >= merge_slots:
            found = summarize(group, shore, params, stats)
            if found is not None:
                out.append(found)
            group = []
        group.append(run)
    if group:
        found = summarize(group, shore, params, stats)
        if found is not None:
            out.append(found)
    return out


def detect_encounters(
    track: GridTrack,
    shore: ShoreModel,
    params: MaritimeParameters = DEFAULT_PARAMETERS,
    stats: EncounterStats | None = None,
) -> list[Encounter]:
    """Batch encounter detection over a whole resampled track set."""
    stats = stats if stats is not None else EncounterStats()
    pairs = close_pairs(
        track.slot, track.lat, track.lon, track.mmsi, params.encounter_max_distance_km
    )
    stats.close_observations = len(pairs.a)
    if len(pairs.a) == 0:
        return []
    ma, mb = track.mmsi[pairs.a], track.mmsi[pairs.b]
    s = track.slot[pairs.a]
    order = np.lexsort((s, mb, ma))
    a, b, ma, mb, s = pairs.a[order], pairs.b[order], ma[order], mb[order], s[order]
    dist = pairs.distance_km[order]
    merge_slots = params.encounter_merge_seconds / params.resample_seconds
    same_pair = (ma[1:] == ma[:-1]) & (mb[1:] == mb[:-1])
    gap = s[1:] - s[:-1]
    brk = ~same_pair | (gap >= merge_slots)
    check = np.flatnonzero(~brk & (gap > 1))
    if len(check):
        brk[check] = _joint_presence(track, ma[check], mb[check], s[check], s[check + 1])
    starts = np.flatnonzero(np.r_[True, brk])
    ends = np.r_[starts[1:], len(s)] - 1
    long_enough = (
        s[ends] - s[starts]
    ) * params.resample_seconds >= params.encounter_min_raw_seconds
    by_pair: dict[tuple[int, int], list[RawRun]] = {}
    for i0, i1 in zip(starts[long_enough].tolist(), ends[long_enough].tolist(), strict=True):
        sl = slice(i0, i1 + 1)
        run = RawRun(
            int(ma[i0]),
            int(mb[i0]),
            s[sl],
            dist[sl],
            track.lat[a[sl]],
            track.lon[a[sl]],
            track.lat[b[sl]],
            track.lon[b[sl]],
        )
        by_pair.setdefault((run.a, run.b), []).append(run)
    stats.raw = sum(len(v) for v in by_pair.values())
    out: list[Encounter] = []
    for key in sorted(by_pair):
        out.extend(merge_runs(by_pair[key], shore, params, stats))
    return out


def _joint_presence(
    track: GridTrack,
    ma: NDArray[np.int64],
    mb: NDArray[np.int64],
    s1: NDArray[np.int64],
    s2: NDArray[np.int64],
) -> NDArray[np.bool_]:
    """Whether vessels ma and mb both have a grid position at some slot strictly between s1, s2."""
    span = int(track.slot.max() - track.slot.min()) + 2
    key = track.mmsi * span + (track.slot - track.slot.min())
    smin = track.slot.min()

    def window(m: NDArray[np.int64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        lo = np.searchsorted(key, m * span + (s1 + 1 - smin), side="left")
        hi = np.searchsorted(key, m * span + (s2 - smin), side="left")
        return lo, hi

    alo, ahi = window(ma)
    blo, bhi = window(mb)
    na, nb = ahi - alo, bhi - blo
    inner = s2 - s1 - 1
    result = (na > 0) & (nb > 0) & (na + nb > inner)  # pigeonhole: they must share a slot
    unsure = np.flatnonzero((na > 0) & (nb > 0) & ~result)
    for i in unsure.tolist():
        sa = track.slot[alo[i] : ahi[i]]
        sb = track.slot[blo[i] : bhi[i]]
        result[i] = bool(np.intersect1d(sa, sb, assume_unique=True).size)
    return result
