"""A small, realistic picture to post to a node: tracks, analytics and missile events under
labels of different restriction (used by the browser tests and for screenshots)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

NOFORN = "SECRET//NOFORN"
REL_TRILATERAL = "SECRET//REL TO USA, JPN, KOR"
REL_KOR = "CONFIDENTIAL//REL TO USA, KOR"
REL_JPN = "CONFIDENTIAL//REL TO USA, JPN"


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def scenario(now: datetime) -> list[dict[str, Any]]:
    """The items to post, each ``{kind, label, topics, body}``; times relative to *now*."""
    fix = _time(now - timedelta(minutes=2))
    return [
        {
            "kind": "track",
            "label": "UNCLASSIFIED",
            "topics": ["maritime.track"],
            "body": {
                "uid": "mmsi-441910000",
                "type": "a-n-S",
                "point": {"lat": 34.62, "lon": 129.35},
                "time": fix,
                "stale": _time(now + timedelta(minutes=30)),
                "course": 42.0,
                "speed": 11.3,
                "heading": 45.0,
                "nation": "KOR",
            },
        },
        {
            "kind": "track",
            "label": "UNCLASSIFIED",
            "topics": ["maritime.track"],
            "body": {
                "uid": "mmsi-563418000",
                "type": "a-u-S",
                "point": {"lat": 31.2, "lon": 124.4},
                "time": _time(now - timedelta(hours=3)),
                "stale": _time(now - timedelta(hours=2)),
                "speed": 0.4,
                "nation": "SGP",
            },
        },
        {
            "kind": "track",
            "label": REL_TRILATERAL,
            "topics": ["air.track"],
            "body": {
                "uid": "air-h6k-01",
                "type": "a-h-A",
                "callsign": "H-6K 01",
                "point": {"lat": 34.9, "lon": 128.9, "alt_m": 7900.0},
                "time": fix,
                "stale": _time(now + timedelta(minutes=20)),
                "heading": 58.0,
                "speed": 410.0,
                "nation": "CHN",
            },
        },
        {
            "kind": "track",
            "label": REL_KOR,
            "topics": ["maritime.track"],
            "body": {
                "uid": "kor-ddg-991",
                "type": "a-f-S",
                "callsign": "DDG-991",
                "point": {"lat": 36.1, "lon": 130.2},
                "time": fix,
                "stale": _time(now + timedelta(minutes=30)),
                "heading": 10.0,
                "speed": 16.0,
                "nation": "KOR",
            },
        },
        {
            "kind": "track",
            "label": NOFORN,
            "topics": ["maritime.track"],
            "body": {
                "uid": "usa-ssn-alpha",
                "type": "a-f-S",
                "callsign": "NOFORN TRACK ALPHA",
                "point": {"lat": 37.2, "lon": 132.4},
                "time": fix,
                "stale": _time(now + timedelta(minutes=30)),
                "heading": 300.0,
                "nation": "USA",
            },
        },
        {
            "kind": "missile_event",
            "label": REL_TRILATERAL,
            "topics": ["dprk.missile.warning"],
            "body": {
                "launch_time": _time(now - timedelta(minutes=40)),
                "launch_point": {"lat": 39.03, "lon": 125.75, "error_radius_m": 5000.0},
                "source_sensor": "SBIRS",
                "flight_path": [{"lat": 40.6, "lon": 131.0}],
                "apogee_km": 6000.0,
                "impact_point": {"lat": 42.1, "lon": 136.4, "error_radius_m": 25000.0},
                "impact_time": _time(now - timedelta(minutes=31)),
                "missile_type": "Hwasong-18",
                "source_nation": "USA",
            },
        },
        {
            "kind": "encounter",
            "label": REL_JPN,
            "topics": ["maritime.sts"],
            "body": {
                "vessels": [441910000, 563418000],
                "start": _time(now - timedelta(hours=9)),
                "end": _time(now - timedelta(hours=1)),
                "lat": 31.22,
                "lon": 124.42,
                "median_distance_km": 0.03,
                "median_speed_knots": 0.2,
            },
        },
        {
            "kind": "loitering",
            "label": "UNCLASSIFIED",
            "topics": ["maritime.loitering"],
            "body": {
                "mmsi": 563418000,
                "start": _time(now - timedelta(hours=8)),
                "end": _time(now - timedelta(hours=2)),
                "lat": 31.5,
                "lon": 123.9,
            },
        },
        {
            "kind": "ais_gap",
            "label": REL_KOR,
            "topics": ["maritime.dark"],
            "body": {
                "mmsi": 445123000,
                "start": _time(now - timedelta(hours=20)),
                "end": _time(now - timedelta(hours=4)),
                "hours": 16.0,
                "possible_disabling": True,
                "lat": 38.4,
                "lon": 124.2,
            },
        },
        {
            "kind": "zone_entry",
            "label": REL_TRILATERAL,
            "topics": ["air.adiz"],
            "body": {
                "type": "zone_entry",
                "track": "air-h6k-01",
                "zone": "KADIZ",
                "authority": "KOR",
                "time": _time(now - timedelta(minutes=12)),
                "lat": 34.4,
                "lon": 128.3,
            },
        },
        {
            "kind": "report",
            "label": "TOP SECRET//NOFORN",
            "topics": ["dprk.nuclear"],
            "body": {"title": "Assessment (national only)", "text": "National assessment."},
        },
        {
            "kind": "report",
            "label": "CONFIDENTIAL//REL TO USA, JPN, KOR",
            "topics": ["exercise"],
            "body": {
                "title": "Exercise area",
                "text": "Trilateral air and maritime exercise area, 06:00Z to 18:00Z.",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[127.0, 32.0], [129.0, 32.0], [129.0, 33.2], [127.0, 33.2], [127.0, 32.0]]
                    ],
                },
            },
        },
        {
            "kind": "bulletin",
            "label": "UNCLASSIFIED",
            "topics": ["public"],
            "body": {"title": "Exercise Freedom Edge", "text": "Trilateral exercise under way."},
        },
    ]


def post(client: httpx.Client, token: str, item: dict[str, Any]) -> dict[str, Any]:
    """POST one item and return the envelope the node sealed."""
    response = client.post("/api/v1/items", json=item, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document
