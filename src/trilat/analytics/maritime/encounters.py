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
    # work in key order: each lookup below then sweeps the sorted cells almost linearly
    sorted_key = key[order]
    row, base, lon_sorted = row[order], base[order], lon[order]
    boundary = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    cell_key = sorted_key[boundary]
    cell_count = np.diff(np.r_[boundary, n])

    def column_sorted(r: NDArray[np.int64]) -> NDArray[np.int64]:
        c = columns[r]
        return np.minimum(((lon_sorted + 180.0) / 360.0 * c).astype(np.int64), c - 1)

    found_a: list[NDArray[np.intp]] = []
    found_b: list[NDArray[np.intp]] = []
    # partners in the same cell: every pair of its points, once
    big = np.flatnonzero(cell_count > 1)
    if len(big):
        sizes = cell_count[big]
        firsts = boundary[big]
        # for each point, the points after it in its cell
        member = np.repeat(firsts, sizes) + (
            np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        )
        after = np.repeat(firsts + sizes, sizes) - member - 1
        has = after > 0
        member, after = member[has], after[has]
        total = int(after.sum())
        pa = np.repeat(member, after)
        pb = pa + 1 + (np.arange(total) - np.repeat(np.cumsum(after) - after, after))
        found_a.append(order[pa])
        found_b.append(order[pb])
    narrow = False
    for drow, dcols in ((0, (1,)), (1, (-1, 0, 1))):
        r = row + drow
        valid = r < rows
        r = np.minimum(r, rows - 1)
        c0 = column_sorted(r)
        ncol = columns[r]
        narrow = narrow or bool(np.any(ncol <= 2))
        seen: list[NDArray[np.int64]] = [c0] if drow == 0 else []
        for dcol in dcols:
            c = (c0 + dcol) % ncol
            dup = np.zeros(n, dtype=bool)
            for previous in seen:  # narrow polar bands: offsets can wrap onto the same cell
                dup |= previous == c
            seen.append(c)
            q = np.flatnonzero(valid & ~dup)
            qkey = base[q] + r[q] * max_cols + c[q]
            at = np.minimum(np.searchsorted(cell_key, qkey), len(cell_key) - 1)
            hit = cell_key[at] == qkey
            q, at = q[hit], at[hit]
            if len(q) == 0:
                continue
            lo = boundary[at]
            count = cell_count[at]
            total = int(count.sum())
            pa = np.repeat(q, count)
            pb = np.repeat(lo, count) + (
                np.arange(total) - np.repeat(np.cumsum(count) - count, count)
            )
            found_a.append(order[pa])
            found_b.append(order[pb])
    if not found_a:
        return empty
    a = np.concatenate(found_a)
    b = np.concatenate(found_b)
    swap = mmsi[a] > mmsi[b]
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    if narrow and len(a):  # only wrapped polar bands can find a pair from both ends
        pair_key = a.astype(np.int64) * n + b
        _, first = np.unique(pair_key, return_index=True)
        a, b = a[first], b[first]
    # a cheap planar bound first: only candidates that may be in range get the exact distance
    dy = (lat[a] - lat[b]) * KM_PER_DEGREE
    dx = ((lon[a] - lon[b] + 180.0) % 360.0 - 180.0) * KM_PER_DEGREE
    low = np.minimum(np.abs(lat[a]), np.abs(lat[b]))
    dx *= np.cos(np.radians(low))
    polar = np.maximum(np.abs(lat[a]), np.abs(lat[b])) > 80.0  # the plane fails near a pole
    maybe = np.flatnonzero((dx * dx + dy * dy <= (max_km * 1.05 + 0.01) ** 2) | polar)
    a, b = a[maybe], b[maybe]
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


@dataclass(frozen=True, slots=True)
class Observations:
    """Close observations of raw encounters, sorted by (a, b, slot), with run and group ids.

    ``run`` numbers the raw encounters, ``group`` the merged encounters (both non-decreasing).
    """

    a: NDArray[np.int64]
    b: NDArray[np.int64]
    slot: NDArray[np.int64]
    distance_km: NDArray[np.float64]
    lat_a: NDArray[np.float64]
    lon_a: NDArray[np.float64]
    lat_b: NDArray[np.float64]
    lon_b: NDArray[np.float64]
    run: NDArray[np.int64]
    group: NDArray[np.int64]


def observations_of(runs: list[RawRun], params: MaritimeParameters) -> Observations:
    """One pair's raw encounters (sorted by start) as Observations, merged per SPEC §7."""
    merge_slots = params.encounter_merge_seconds / params.resample_seconds
    group_ids = []
    group = 0
    for i, run in enumerate(runs):
        if i and run.start_slot - runs[i - 1].end_slot >= merge_slots:
            group += 1
        group_ids.append(np.full(len(run.slots), group, dtype=np.int64))
    return Observations(
        np.concatenate([np.full(len(r.slots), r.a, dtype=np.int64) for r in runs]),
        np.concatenate([np.full(len(r.slots), r.b, dtype=np.int64) for r in runs]),
        np.concatenate([r.slots for r in runs]),
        np.concatenate([r.distance_km for r in runs]),
        np.concatenate([r.lat_a for r in runs]),
        np.concatenate([r.lon_a for r in runs]),
        np.concatenate([r.lat_b for r in runs]),
        np.concatenate([r.lon_b for r in runs]),
        np.concatenate([np.full(len(r.slots), i, dtype=np.int64) for i, r in enumerate(runs)]),
        np.concatenate(group_ids),
    )


def _group_medians(
    group: NDArray[np.int64], value: NDArray[np.float64], groups: int
) -> NDArray[np.float64]:
    """Median of *value* per group id 0..groups-1 (as numpy's median: mean of the middle two)."""
    order = np.lexsort((value, group))
    v = value[order]
    count = np.bincount(group, minlength=groups)
    first = np.cumsum(count) - count
    low = first + (count - 1) // 2
    high = first + count // 2
    out = np.full(groups, np.nan)
    has = count > 0
    out[has] = (v[low[has]] + v[high[has]]) / 2.0
    return out


def summarize_observations(
    obs: Observations,
    shore: ShoreModel,
    params: MaritimeParameters,
    stats: EncounterStats,
) -> list[Encounter]:
    """Statistics and acceptance of every merged encounter in *obs* (vectorised).

    The criteria are checked cheapest first — duration, then the mean position's distance
    from shore, then the median speed — so the costly medians are taken only for the few
    encounters still standing; the rejection counters follow that order.
    """
    if len(obs.slot) == 0:
        return []
    step = params.resample_seconds
    groups = int(obs.group[-1]) + 1
    stats.merged += groups
    first = np.flatnonzero(np.r_[True, obs.group[1:] != obs.group[:-1]])
    last = np.r_[first[1:], len(obs.group)] - 1
    start = obs.slot[first] * step
    end = obs.slot[last] * step
    long_enough = end - start >= params.encounter_min_seconds
    stats.rejected_short += int(np.count_nonzero(~long_enough))
    if not long_enough.any():
        return []
    sel = long_enough[obs.group]
    g = obs.group[sel]
    count = np.bincount(g, minlength=groups).astype(np.float64)
    mid_lat = (obs.lat_a[sel] + obs.lat_b[sel]) / 2.0
    mid_lon = np.radians(midpoint_lon(obs.lon_a[sel], obs.lon_b[sel]))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_lat = np.bincount(g, mid_lat, minlength=groups) / count
        mean_sin = np.bincount(g, np.sin(mid_lon), minlength=groups) / count
        mean_cos = np.bincount(g, np.cos(mid_lon), minlength=groups) / count
    mean_lon = np.degrees(np.arctan2(mean_sin, mean_cos))
    candidates = np.flatnonzero(long_enough)
    verdict = shore.classify(
        mean_lat[candidates], mean_lon[candidates], params.encounter_min_shore_km, anchorages=True
    )
    stats.shore_unknown += int(np.count_nonzero(verdict == UNKNOWN))
    offshore = (verdict == FAR) | ((verdict == UNKNOWN) & params.unknown_shore_is_offshore)
    stats.rejected_shore += int(np.count_nonzero(~offshore))
    standing = np.zeros(groups, dtype=bool)
    standing[candidates[offshore]] = True
    if not standing.any():
        return []
    # speeds between consecutive observations of the same raw encounter, both vessels
    k = np.flatnonzero((obs.run[1:] == obs.run[:-1]) & standing[obs.group[1:]])
    dt = (obs.slot[k + 1] - obs.slot[k]).astype(np.float64) * step
    speed_a = haversine_km(obs.lat_a[k], obs.lon_a[k], obs.lat_a[k + 1], obs.lon_a[k + 1])
    speed_b = haversine_km(obs.lat_b[k], obs.lon_b[k], obs.lat_b[k + 1], obs.lon_b[k + 1])
    speed = np.r_[speed_a / dt / KNOT_KM_PER_SECOND, speed_b / dt / KNOT_KM_PER_SECOND]
    median_speed = _group_medians(np.r_[obs.group[k], obs.group[k]], speed, groups)
    median_speed = np.where(np.isnan(median_speed), 0.0, median_speed)
    slow = standing & (median_speed < params.encounter_max_median_speed_knots)
    stats.rejected_speed += int(np.count_nonzero(standing & ~slow))
    if not slow.any():
        return []
    in_slow = slow[obs.group]
    median_distance = _group_medians(obs.group[in_slow], obs.distance_km[in_slow], groups)
    out = []
    for i in np.flatnonzero(slow).tolist():
        j = first[i]
        out.append(
            Encounter(
                vessels=(int(obs.a[j]), int(obs.b[j])),
                start=int(start[i]),
                end=int(end[i]),
                median_distance_km=round(float(median_distance[i]), 4),
                median_speed_knots=round(float(median_speed[i]), 3),
                lat=round(float(mean_lat[i]), 5),
                lon=round(float(mean_lon[i]), 5),
            )
        )
    stats.accepted += len(out)
    return out


def summarize(
    runs: list[RawRun],
    shore: ShoreModel,
    params: MaritimeParameters,
    stats: EncounterStats,
) -> list[Encounter]:
    """The merged encounters of one pair's raw encounters (sorted by start) that count."""
    if not runs:
        return []
    return summarize_observations(observations_of(runs, params), shore, params, stats)


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
    run_id = np.cumsum(np.r_[True, brk]) - 1
    starts = np.flatnonzero(np.r_[True, brk])
    ends = np.r_[starts[1:], len(s)] - 1
    long_enough = (
        s[ends] - s[starts]
    ) * params.resample_seconds >= params.encounter_min_raw_seconds
    stats.raw = int(np.count_nonzero(long_enough))
    sel = long_enough[run_id]
    if not sel.any():
        return []
    ma, mb, s, dist, a, b = ma[sel], mb[sel], s[sel], dist[sel], a[sel], b[sel]
    run = np.cumsum(np.r_[True, run_id[sel][1:] != run_id[sel][:-1]]) - 1
    # merge raw encounters of a pair less than encounter_merge_seconds apart
    run_first = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    run_last = np.r_[run_first[1:], len(run)] - 1
    new_pair = np.r_[
        True, (ma[run_first][1:] != ma[run_first][:-1]) | (mb[run_first][1:] != mb[run_first][:-1])
    ]
    apart = np.r_[True, s[run_first][1:] - s[run_last][:-1] >= merge_slots]
    group_of_run = np.cumsum(new_pair | apart) - 1
    obs = Observations(
        ma,
        mb,
        s,
        dist,
        track.lat[a],
        track.lon[a],
        track.lat[b],
        track.lon[b],
        run,
        group_of_run[run],
    )
    return summarize_observations(obs, shore, params, stats)


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
