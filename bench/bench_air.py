"""Air and missile picture: warning latency and airspace-detection throughput (SPEC §7, §10).

1. Missile warning: time from a sensor report arriving to the fused ``missile_event`` body being
   ready (``LaunchFuser.add`` + ``warning_body``), p50 / p99 over a stream of launches seen by
   three nations' sensors; then the same with the impact EEZ computed for three views.
2. Airspace: fixes per second through zone entry/exit detection (every ADIZ and territorial
   airspace of the USA view), trilat (prepared geometry, vectorised state tests, geodesic
   crossing search) against a naive baseline (shapely ``contains`` per fix and zone on
   unprepared geometry, no interpolation), same corpus, printing the ratio.

Run: ``.venv/bin/python bench/bench_air.py [--quick]``.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import shapely
from pyproj import Geod
from shapely.geometry import Point

from trilat.analytics.airspace import Fix, zone_events
from trilat.analytics.eez import eez_check
from trilat.analytics.geodata import zones_for_view
from trilat.analytics.missile import (
    LaunchFuser,
    MissileReport,
    impact_eez,
    report_from_body,
    warning_body,
)
from trilat.core.labels import parse_label

GEOD = Geod(ellps="WGS84")
T0 = datetime(2023, 1, 1, tzinfo=UTC)
SENSORS = (("USA", "SBIRS"), ("JPN", "FPS-5"), ("KOR", "Green Pine"))
LABEL = parse_label("SECRET//REL TO USA, JPN, KOR")


def _reports(launches: int, rng: random.Random) -> list[MissileReport]:
    reports = []
    for n in range(launches):
        at = T0 + timedelta(minutes=30 * n)
        lat, lon = 39.0 + rng.uniform(-1, 1), 126.0 + rng.uniform(-1, 1)
        impact_lon, impact_lat, _ = GEOD.fwd(lon, lat, rng.uniform(60, 110), rng.uniform(3e5, 9e5))
        for nation, sensor in SENSORS:
            body = {
                "launch_time": (at + timedelta(seconds=rng.uniform(-5, 5))).isoformat(),
                "launch_time_error_s": rng.uniform(3, 20),
                "launch_point": {
                    "lat": lat + rng.gauss(0, 0.02),
                    "lon": lon + rng.gauss(0, 0.02),
                    "error_radius_m": rng.uniform(1_000, 8_000),
                },
                "impact_point": {
                    "lat": float(impact_lat) + rng.gauss(0, 0.1),
                    "lon": float(impact_lon) + rng.gauss(0, 0.1),
                    "error_radius_m": rng.uniform(5_000, 30_000),
                },
                "impact_time": (at + timedelta(minutes=12)).isoformat(),
                "source_sensor": sensor,
                "source_nation": nation,
                "apogee_km": rng.uniform(50, 6000),
            }
            reports.append(report_from_body(body, ref=f"{n}-{nation}", label=LABEL))
    return reports


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


def bench_warning(launches: int) -> None:
    rng = random.Random(7)
    reports = _reports(launches, rng)
    fuser = LaunchFuser()
    latencies = []
    for report in reports:
        start = time.perf_counter()
        warning_body(fuser.add(report))
        latencies.append(time.perf_counter() - start)
    p50, p99 = _percentiles(latencies)
    print(
        f"missile warning    {len(reports):,} reports  p50 {p50 * 1e3:.3f} ms  "
        f"p99 {p99 * 1e3:.3f} ms  launches {len(fuser.launches):,}"
    )
    for view in ("USA", "JPN", "KOR"):
        eez_check(38.0, 132.0, view)  # build the coast indexes outside the timing
    fuser = LaunchFuser()
    latencies = []
    for report in reports[: min(len(reports), 600)]:
        start = time.perf_counter()
        fused = fuser.add(report)
        warning_body(fused, eez=impact_eez(fused))
        latencies.append(time.perf_counter() - start)
    p50, p99 = _percentiles(latencies)
    print(
        f"  + impact EEZ ×3  {len(latencies):,} reports  p50 {p50 * 1e3:.3f} ms  "
        f"p99 {p99 * 1e3:.3f} ms"
    )


def _corpus(tracks: int, fixes_per_track: int, rng: random.Random) -> list[Fix]:
    corpus = []
    for n in range(tracks):
        lat, lon = rng.uniform(31.0, 39.5), rng.uniform(123.0, 134.0)
        heading = rng.uniform(0, 360)
        for k in range(fixes_per_track):
            corpus.append(Fix(f"T{n}", T0 + timedelta(seconds=30 * k), lat, lon, nation="CHN"))
            heading += rng.gauss(0, 4)
            lon_next, lat_next, _ = GEOD.fwd(lon, lat, heading, 6_500.0)  # 780 km/h, 30 s
            lat, lon = float(lat_next), float(lon_next)
    return corpus


def naive_events(fixes: list[Fix], zones: list[tuple[str, object]]) -> list[tuple[str, str, int]]:
    """Baseline: ``contains`` per fix per zone, unprepared; state change reported at the fix."""
    events = []
    state: dict[tuple[str, str], bool] = {}
    for fix in fixes:
        point = Point(fix.lon, fix.lat)
        for zone_id, geometry in zones:
            inside = bool(geometry.contains(point))  # type: ignore[attr-defined]
            key = (fix.track, zone_id)
            if key in state and state[key] != inside:
                events.append((fix.track, zone_id, int(inside)))
            state[key] = inside
    return events


def bench_airspace(tracks: int, fixes_per_track: int) -> None:
    rng = random.Random(11)
    corpus = _corpus(tracks, fixes_per_track, rng)
    zones = zones_for_view("USA")
    unprepared = [(z.id, shapely.from_wkb(shapely.to_wkb(z.geometry))) for z in zones]
    zone_events(corpus[:fixes_per_track], zones)  # warm caches (prepared boundaries)
    start = time.perf_counter()
    ours = zone_events(corpus, zones)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    theirs = naive_events(corpus, unprepared)
    theirs_s = time.perf_counter() - start
    n = len(corpus)
    print(
        f"airspace detection {n:,} fixes × {len(zones)} zones  trilat {n / ours_s:,.0f} fixes/s  "
        f"naive contains {n / theirs_s:,.0f} fixes/s  ratio {theirs_s / ours_s:.1f}x  "
        f"(events: trilat {len(ours)}, naive {len(theirs)})"
    )


def main() -> None:
    quick = "--quick" in sys.argv
    bench_warning(launches=100 if quick else 1000)
    bench_airspace(tracks=10 if quick else 40, fixes_per_track=100 if quick else 250)


if __name__ == "__main__":
    main()
