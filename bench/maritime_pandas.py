"""A straightforward pandas implementation of SPEC §7 encounters, loitering and gaps.

The baseline for ``bench_maritime.py``: the same definitions and thresholds as
``trilat.analytics.maritime`` (and the same shore model), written the way an analyst would
with pandas — ``groupby``/``shift`` for cleaning, a per-vessel ``apply`` for resampling, a
self-``merge`` on grid cells for close pairs, and Python loops over runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trilat.analytics.maritime.geo import haversine_km
from trilat.analytics.maritime.params import DEFAULT_PARAMETERS as P
from trilat.analytics.maritime.params import KNOT_KM_PER_SECOND
from trilat.analytics.maritime.shore import FAR, UNKNOWN, ShoreModel

STEP = P.resample_seconds
H = P.max_interpolation_gap_seconds


def _offshore(shore: ShoreModel, lat: Any, lon: Any, km: float, anchorages: bool = False) -> Any:
    verdict = shore.classify(np.asarray(lat), np.asarray(lon), km, anchorages=anchorages)
    return (verdict == FAR) | ((verdict == UNKNOWN) & P.unknown_shore_is_offshore)


def load_and_clean(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, usecols=["mmsi", "timestamp_utc", "lat", "lon"])
    stamps = pd.to_datetime(df["timestamp_utc"], utc=True)
    df["t"] = (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    df = df.drop(columns="timestamp_utc")
    mid = df["mmsi"] // 1_000_000
    ok = df["mmsi"].between(100_000_000, 999_999_999) & mid.between(201, 775)
    ok &= df["lat"].abs().le(90) & df["lon"].abs().le(180)
    df = df[ok].sort_values(["mmsi", "t"], kind="stable")
    df = df.drop_duplicates(["mmsi", "t"], keep="first").reset_index(drop=True)
    g = df.groupby("mmsi")
    prev = g[["t", "lat", "lon"]].shift(1)
    nxt = g[["t", "lat", "lon"]].shift(-1)
    v_in = haversine_km(prev.lat, prev.lon, df.lat, df.lon) / (df.t - prev.t) / KNOT_KM_PER_SECOND
    v_out = haversine_km(df.lat, df.lon, nxt.lat, nxt.lon) / (nxt.t - df.t) / KNOT_KM_PER_SECOND
    spike = (v_in > P.max_speed_knots) & (v_out > P.max_speed_knots) & ((nxt.t - df.t) <= H)
    return df[~spike.fillna(False).to_numpy()].reset_index(drop=True)


def _resample_one(group: pd.DataFrame) -> pd.DataFrame:
    t = group["t"].to_numpy()
    lat = group["lat"].to_numpy()
    lon = group["lon"].to_numpy()
    rows = []
    for i in range(len(t) - 1):
        dt = t[i + 1] - t[i]
        km = float(haversine_km(lat[i], lon[i], lat[i + 1], lon[i + 1]))
        ok = dt <= H and km / dt / KNOT_KM_PER_SECOND <= P.max_speed_knots
        if ok:
            for slot in range(-(-t[i] // STEP), (t[i + 1] - 1) // STEP + 1):
                mix = (slot * STEP - t[i]) / dt
                dlon = (lon[i + 1] - lon[i] + 180) % 360 - 180
                rows.append(
                    (
                        slot,
                        lat[i] + (lat[i + 1] - lat[i]) * mix,
                        (lon[i] + dlon * mix + 180) % 360 - 180,
                    )
                )
        elif t[i] % STEP == 0:
            rows.append((t[i] // STEP, lat[i], lon[i]))
    if len(t) and t[-1] % STEP == 0:
        rows.append((t[-1] // STEP, lat[-1], lon[-1]))
    return pd.DataFrame(rows, columns=["slot", "lat", "lon"])


def resample(df: pd.DataFrame) -> pd.DataFrame:
    grid = df.groupby("mmsi")[["t", "lat", "lon"]].apply(_resample_one)
    grid = grid.reset_index(level=0).reset_index(drop=True)
    return grid.sort_values(["mmsi", "slot"]).reset_index(drop=True)


def close_pairs(grid: pd.DataFrame) -> pd.DataFrame:
    cell = 0.01  # ≥ 0.5 km in longitude up to 60° latitude
    g = grid.assign(ci=(grid.lat // cell).astype("int64"), cj=(grid.lon // cell).astype("int64"))
    parts = []
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            other = g.assign(ci=g.ci + di, cj=g.cj + dj)
            m = g.merge(other, on=["slot", "ci", "cj"], suffixes=("_a", "_b"))
            parts.append(m[m.mmsi_a < m.mmsi_b])
    pairs = pd.concat(parts, ignore_index=True)
    pairs["d"] = haversine_km(pairs.lat_a, pairs.lon_a, pairs.lat_b, pairs.lon_b)
    pairs = pairs[pairs.d <= P.encounter_max_distance_km]
    return pairs.drop_duplicates(["mmsi_a", "mmsi_b", "slot"]).sort_values(
        ["mmsi_a", "mmsi_b", "slot"]
    )


def encounters(grid: pd.DataFrame, shore: ShoreModel) -> list[dict[str, Any]]:
    pairs = close_pairs(grid)
    slots_of = {m: set(s) for m, s in grid.groupby("mmsi")["slot"]}
    merge_slots = P.encounter_merge_seconds / STEP
    out = []
    for (a, b), obs in pairs.groupby(["mmsi_a", "mmsi_b"]):
        s = obs.slot.to_numpy()
        runs, start = [], 0
        for k in range(1, len(s) + 1):
            end_here = (
                k == len(s)
                or s[k] - s[k - 1] >= merge_slots
                or (
                    s[k] - s[k - 1] > 1
                    and slots_of[a] & slots_of[b] & set(range(s[k - 1] + 1, s[k]))
                )
            )
            if end_here:
                if (s[k - 1] - s[start]) * STEP >= P.encounter_min_raw_seconds:
                    runs.append(obs.iloc[start:k])
                start = k
        groups: list[list[pd.DataFrame]] = []
        for run in runs:
            if groups and run.slot.iloc[0] - max(r.slot.iloc[-1] for r in groups[-1]) < merge_slots:
                groups[-1].append(run)
            else:
                groups.append([run])
        for group in groups:
            speeds = []
            for r in group:
                dt = np.diff(r.slot.to_numpy()) * STEP
                for la, lo in ((r.lat_a, r.lon_a), (r.lat_b, r.lon_b)):
                    la, lo = la.to_numpy(), lo.to_numpy()
                    speeds.append(
                        haversine_km(la[:-1], lo[:-1], la[1:], lo[1:]) / dt / KNOT_KM_PER_SECOND
                    )
            allobs = pd.concat(group)
            speed = float(np.median(np.concatenate(speeds))) if speeds else 0.0
            start_t = int(group[0].slot.iloc[0]) * STEP
            end_t = int(max(r.slot.iloc[-1] for r in group)) * STEP
            lat = float(((allobs.lat_a + allobs.lat_b) / 2).mean())
            lon = float(((allobs.lon_a + allobs.lon_b) / 2).mean())
            if end_t - start_t < P.encounter_min_seconds or not speed < 2.0:
                continue
            if not _offshore(shore, [lat], [lon], P.encounter_min_shore_km, True)[0]:
                continue
            out.append(
                {
                    "type": "encounter",
                    "vessels": [int(a), int(b)],
                    "start": start_t,
                    "end": end_t,
                    "median_distance_km": float(allobs.d.median()),
                    "median_speed_knots": speed,
                    "lat": lat,
                    "lon": lon,
                }
            )
    return out


def loitering(grid: pd.DataFrame, shore: ShoreModel) -> list[dict[str, Any]]:
    g = grid.groupby("mmsi")
    nxt = g[["slot", "lat", "lon"]].shift(-1)
    speed = haversine_km(grid.lat, grid.lon, nxt.lat, nxt.lon) / STEP / KNOT_KM_PER_SECOND
    slow = ((nxt.slot - grid.slot) == 1) & (speed < P.loitering_max_speed_knots)
    chain_start = slow & ~slow.groupby(grid.mmsi).shift(1, fill_value=False)
    chain_id = chain_start.cumsum()
    in_chain = slow | slow.groupby(grid.mmsi).shift(1, fill_value=False)
    member = grid[in_chain].assign(chain=chain_id[in_chain])
    out = []
    min_slots = P.loitering_min_seconds / STEP
    for (mmsi, _), chain in member.groupby(["mmsi", "chain"]):
        if chain.slot.iloc[-1] - chain.slot.iloc[0] < min_slots:
            continue
        off = _offshore(shore, chain.lat, chain.lon, P.loitering_min_shore_km)
        piece = (~pd.Series(off)).cumsum().to_numpy()
        for _, part in chain[off].groupby(piece[off]):
            if part.slot.iloc[-1] - part.slot.iloc[0] >= min_slots:
                out.append(
                    {
                        "type": "loitering",
                        "mmsi": int(mmsi),
                        "start": int(part.slot.iloc[0]) * STEP,
                        "end": int(part.slot.iloc[-1]) * STEP,
                        "lat": float(part.lat.mean()),
                        "lon": float(part.lon.mean()),
                    }
                )
    return out


def gaps(df: pd.DataFrame, found: list[dict[str, Any]], shore: ShoreModel) -> list[dict[str, Any]]:
    g = df.groupby("mmsi")
    nxt = g[["t", "lat", "lon"]].shift(-1)
    long = (nxt.t - df.t) >= P.gap_record_seconds
    rows = df[long].join(nxt[long], rsuffix="_next")
    out = []
    for r in rows.itertuples():
        hours = (r.t_next - r.t) / 3600
        flag = bool(
            r.t_next - r.t >= P.gap_dark_seconds
            and _offshore(
                shore, [r.lat, r.lat_next], [r.lon, r.lon_next], P.gap_disabling_min_shore_km
            ).all()
        )
        if flag and any(
            r.mmsi in e["vessels"] and e["start"] <= r.t and e["end"] >= r.t_next for e in found
        ):
            flag = False
        out.append(
            {
                "type": "ais_gap",
                "mmsi": int(r.mmsi),
                "start": int(r.t),
                "end": int(r.t_next),
                "hours": round(hours, 2),
                "possible_disabling": flag,
            }
        )
    return out


def run(path: Path, shore: ShoreModel) -> dict[str, list[dict[str, Any]]]:
    df = load_and_clean(path)
    grid = resample(df)
    found = encounters(grid, shore)
    return {
        "encounters": found,
        "loitering": loitering(grid, shore),
        "gaps": gaps(df, found, shore),
    }
