"""Rebuild ``tests/air/data/kadiz-2019-07-23.csv``: the 2019-07-23 combined patrol, as tracks.

The published timeline (ROK Joint Chiefs of Staff, 2019-07-23; times KST = UTC+9):

* 2 PLAAF H-6K entered the KADIZ 06:44-07:14 and again 07:49-08:20;
* they joined 2 Russian Tu-95MS at 08:33; the combined group flew in the KADIZ 08:40-09:04;
* a Russian A-50 violated the territorial airspace of Dokdo 09:09-09:12 and 09:33-09:37,
  re-entered the KADIZ at 09:28 and left it at 09:56.

The routes are this project's own reconstruction: plausible paths over the high seas that
meet the KADIZ boundary (and Dokdo's 12 nm circle) at the published times and stay clear of
every other territorial sea. Each aircraft flies great circles between timed waypoints at
constant speed per leg; fixes are written every 20 s. Aircraft of one formation fly the same
path in trail, offset in time by -45/-15 s (H-6K) and +15/+45 s (Tu-95MS), so each crossing
falls within a minute of the published time.

Two A-50 crossings are implied rather than published: it entered the KADIZ from the north
before 09:09 (here about 08:45), and it left the KADIZ between 09:12 and 09:28 (here about
09:17, over the south-eastern edge).

Run ``python tests/air/scenario_2019_07_23.py`` to rewrite the CSV; the test suite checks that
the committed file is exactly what this script produces.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from pyproj import Geod

KST: Final = timedelta(hours=9)
DAY: Final = datetime(2019, 7, 23, tzinfo=UTC) - KST  # 00:00 KST on 2019-07-23, in UTC
STEP_S: Final = 20
GEOD: Final = Geod(ellps="WGS84")
DOKDO: Final = (131.8695, 37.241)  # lon, lat (features.geojson)
CSV_PATH: Final = Path(__file__).parent / "data" / "kadiz-2019-07-23.csv"


def kst(clock: str) -> datetime:
    """A KST wall-clock time on 2019-07-23 ("HH:MM" or "HH:MM:SS") as UTC."""
    parts = [int(p) for p in clock.split(":")]
    hours, minutes, seconds = ([*parts, 0])[:3]
    return DAY + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _offset(lon_lat: tuple[float, float], azimuth: float, metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(lon_lat[0], lon_lat[1], azimuth, metres)
    return (float(lon), float(lat))


# Dokdo chords: 12 nm = 22,224 m; a chord at 16.4 km off the centre is 30 km long (3 min at
# 600 km/h), one at 9.6 km off is 40 km long (4 min).
_WEST = _offset(DOKDO, 270.0, 16_400.0)
_NORTH = _offset(DOKDO, 0.0, 9_600.0)
DOKDO_FIRST_IN: Final = _offset(_WEST, 0.0, 14_990.0)
DOKDO_FIRST_OUT: Final = _offset(_WEST, 180.0, 14_990.0)
DOKDO_SECOND_IN: Final = _offset(_NORTH, 90.0, 19_995.0)
DOKDO_SECOND_OUT: Final = _offset(_NORTH, 270.0, 19_995.0)

Waypoint = tuple[str, float, float]  # (KST clock, lat, lon)

H6K_ALONE: Final[list[Waypoint]] = [
    ("06:31", 31.70, 122.90),
    ("06:44", 31.90, 124.00),  # KADIZ west edge (124°E): entry
    ("06:58", 32.60, 125.30),
    ("07:14", 32.125, 126.621),  # south-eastern edge: exit
    ("07:21", 32.30, 127.40),
    ("07:30", 33.00, 128.10),
    ("07:49", 34.50, 129.084),  # Korea Strait edge: entry
    ("07:58", 35.05, 129.55),
    ("08:08", 35.80, 130.10),
    ("08:20", 36.298, 131.08),  # south-eastern edge: exit
    ("08:33", 36.45, 132.10),  # rendezvous with the Tu-95MS
]
TU95_ALONE: Final[list[Waypoint]] = [
    ("07:55", 38.20, 134.80),
    ("08:33", 36.45, 132.10),
]
GROUP: Final[list[Waypoint]] = [
    ("08:40", 36.949, 132.35),  # south-eastern edge: entry
    ("08:58", 38.30, 132.50),
    ("09:04", 38.60, 133.00),  # east edge (133°E): exit
    ("09:15", 38.70, 133.80),
]
A50: Final[list[Waypoint]] = [
    ("08:40", 39.50, 131.55),
    ("09:09", DOKDO_FIRST_IN[1], DOKDO_FIRST_IN[0]),  # Dokdo 12 nm: in
    ("09:12", DOKDO_FIRST_OUT[1], DOKDO_FIRST_OUT[0]),  # out
    ("09:17", 36.77, 132.00),  # south-eastern edge: exit (implied)
    ("09:21", 36.60, 132.35),
    ("09:25", 36.85, 132.75),
    ("09:28", 37.155, 132.75),  # south-eastern edge: re-entry
    ("09:33", DOKDO_SECOND_IN[1], DOKDO_SECOND_IN[0]),  # Dokdo 12 nm: in
    ("09:37", DOKDO_SECOND_OUT[1], DOKDO_SECOND_OUT[0]),  # out
    ("09:56", 39.00, 131.30),  # north edge (39°N): exit
    ("10:00", 39.40, 131.25),
]

# (track, nation, type, altitude m, time offset s, waypoints)
AIRCRAFT: Final = [
    ("CHN-H6K-1", "CHN", "H-6K", 8200.0, -45, H6K_ALONE + GROUP),
    ("CHN-H6K-2", "CHN", "H-6K", 8500.0, -15, H6K_ALONE + GROUP),
    ("RUS-TU95-1", "RUS", "Tu-95MS", 9100.0, 15, TU95_ALONE + GROUP),
    ("RUS-TU95-2", "RUS", "Tu-95MS", 9400.0, 45, TU95_ALONE + GROUP),
    ("RUS-A50-1", "RUS", "A-50", 9000.0, 0, A50),
]

TIMELINE: Final = {
    # (track prefix, zone, type) → published KST times; every detected KADIZ / TS-* event of
    # the scenario must fall within 2 min of one of these or of the implied A-50 windows
    ("CHN-H6K", "KADIZ", "zone_entry"): ["06:44", "07:49", "08:40"],
    ("CHN-H6K", "KADIZ", "zone_exit"): ["07:14", "08:20", "09:04"],
    ("RUS-TU95", "KADIZ", "zone_entry"): ["08:40"],
    ("RUS-TU95", "KADIZ", "zone_exit"): ["09:04"],
    ("RUS-A50", "KADIZ", "zone_entry"): ["09:28"],
    ("RUS-A50", "KADIZ", "zone_exit"): ["09:56"],
    ("RUS-A50", "TS", "zone_entry"): ["09:09", "09:33"],
    ("RUS-A50", "TS", "zone_exit"): ["09:12", "09:37"],
}
IMPLIED: Final = {
    # A-50 crossings that the timeline implies without a time: (earliest, latest) KST
    ("RUS-A50", "KADIZ", "zone_entry"): ("08:40", "09:09"),
    ("RUS-A50", "KADIZ", "zone_exit"): ("09:12", "09:28"),
}
JOINT_PATROL_START: Final = "08:33"


def fixes() -> list[tuple[str, datetime, float, float, float, str, str]]:
    """Every fix of the scenario: (track, time UTC, lat, lon, alt_m, nation, type)."""
    rows = []
    for track, nation, kind, altitude, offset_s, waypoints in AIRCRAFT:
        offset = timedelta(seconds=offset_s)
        timed = [(kst(clock) + offset, lat, lon) for clock, lat, lon in waypoints]
        start, end = timed[0][0], timed[-1][0]
        at = start
        leg = 0
        while at <= end:
            while timed[leg + 1][0] < at:
                leg += 1
            (t0, lat0, lon0), (t1, lat1, lon1) = timed[leg], timed[leg + 1]
            azimuth, _, length = GEOD.inv(lon0, lat0, lon1, lat1)
            fraction = (at - t0) / (t1 - t0)
            lon, lat, _ = GEOD.fwd(lon0, lat0, azimuth, length * fraction)
            rows.append(
                (track, at, round(float(lat), 6), round(float(lon), 6), altitude, nation, kind)
            )
            at += timedelta(seconds=STEP_S)
    rows.sort(key=lambda row: (row[1], row[0]))
    return rows


def render_csv() -> str:
    """The scenario as CSV text (``track,timestamp_utc,lat,lon,alt_m,nation,type``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["track", "timestamp_utc", "lat", "lon", "alt_m", "nation", "type"])
    for track, at, lat, lon, altitude, nation, kind in fixes():
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.writerow([track, stamp, f"{lat:.6f}", f"{lon:.6f}", f"{altitude:.0f}", nation, kind])
    return out.getvalue()


def main() -> None:
    CSV_PATH.parent.mkdir(parents=True, exist_ok=True)
    CSV_PATH.write_text(render_csv(), encoding="utf-8")
    print(f"wrote {CSV_PATH}")


if __name__ == "__main__":
    main()
