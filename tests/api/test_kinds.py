"""Body schemas per item kind: one valid body for every kind of SPEC §5, rejecting siblings."""

from __future__ import annotations

from typing import Any

import pytest

from trilat.core.errors import DecodeError
from trilat.core.items import KINDS
from trilat.kinds import SCHEMAS, body_extent, validate_body

T = "2023-07-12T01:00:00Z"
ITEM = "01890a5d-ac96-774b-bcce-b302099a8057"
VALID: dict[str, dict[str, Any]] = {
    "track": {
        "uid": "ICAO-71BE01",
        "type": "a-h-A-M-F",
        "point": {"lat": 37.2, "lon": 131.9},
        "time": T,
        "stale": "2023-07-12T01:05:00Z",
        "course": 90.0,
        "speed": 220.0,
    },
    "observation": {"observed": T, "text": "two bombers", "point": {"lat": 35.0, "lon": 130.0}},
    "report": {
        "text": "STS transfer",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[124.0, 37.0], [125.0, 37.0], [125.0, 38.0], [124.0, 37.0]]],
        },
    },
    "missile_event": {
        "launch_time": T,
        "launch_point": {"lat": 39.03, "lon": 125.75},
        "source_sensor": "AN/TPY-2",
        "apogee_km": 6000.0,
        "impact_point": {"lat": 40.9, "lon": 137.5},
        "flight_path": [{"lat": 40.0, "lon": 131.0}],
    },
    "encounter": {
        "type": "encounter",
        "vessels": [441910000, 563418000],
        "start": T,
        "end": T,
        "median_distance_km": 0.03,
        "median_speed_knots": 0.2,
        "lat": -27.479,
        "lon": 38.534,
    },
    "loitering": {
        "type": "loitering",
        "mmsi": 441910000,
        "start": T,
        "end": T,
        "lat": 30.0,
        "lon": 125.0,
    },
    "ais_gap": {
        "type": "ais_gap",
        "mmsi": 441910000,
        "start": T,
        "end": T,
        "hours": 14.0,
        "possible_disabling": True,
    },
    "zone_entry": {
        "type": "zone_exit",
        "track": "H-6K-1",
        "zone": "KADIZ",
        "authority": "KOR",
        "time": T,
    },
    "rfi": {"question": "Where did the vessel go?", "priority": "priority"},
    "hadr_request": {
        "need": "water",
        "quantity": 1000,
        "unit": "l",
        "point": {"lat": 34.0, "lon": 135.0},
    },
    "hadr_offer": {"offer": "C-130 sorties", "request": ITEM},
    "task": {"title": "Watch the strait", "due": T},
    "ack": {"item": ITEM, "status": "accepted"},
    "consent": {"to": ["KOR"], "item": ITEM},
    "recall": {"item": ITEM, "reason": "spillage"},
    "bulletin": {"title": "Exercise ends", "text": "Freedom Edge concluded."},
    "indicator": {
        "type": "indicator",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "spec_version": "2.1",
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix",
        "valid_from": T,
    },
    "document": {
        "sha256": "a" * 64,
        "name": "brief.pdf",
        "media_type": "application/pdf",
        "size": 1024,
    },
    "chat": {"text": "roger", "room": "ops"},
}

INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("track", {**VALID["track"], "point": {"lat": 91.0, "lon": 0.0}}, "point.lat"),
    ("track", {**VALID["track"], "stale": "soon"}, "stale"),
    ("report", {"text": 3}, "text"),
    ("report", {"text": "x", "geometry": {"type": "Point", "coordinates": [200, 0]}}, "geometry"),
    ("missile_event", {**VALID["missile_event"], "apogee_km": -1.0}, "apogee_km"),
    ("encounter", {**VALID["encounter"], "vessels": [1]}, "vessels"),
    ("ack", {"item": "not-an-id"}, "item"),
    ("consent", {"to": []}, "to"),
    ("consent", {"to": ["KOR"], "topic": "dprk"}, "ceiling"),
    ("consent", {"to": ["KOR"], "topic": "dprk", "ceiling": "ULTRA"}, "ceiling"),
    ("indicator", {**VALID["indicator"], "id": "malware--x"}, "id"),
    ("document", {**VALID["document"], "name": "../etc/passwd"}, "name"),
    ("chat", {"text": "hi", "mood": "happy"}, "mood"),
]


def test_every_kind_of_the_envelope_has_a_schema() -> None:
    assert set(SCHEMAS) == set(KINDS) == set(VALID)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_a_valid_body_is_accepted_unchanged(kind: str) -> None:
    assert validate_body(kind, VALID[kind]) == VALID[kind]


@pytest.mark.parametrize(
    ("kind", "body", "member"), INVALID, ids=[f"{k}-{m}" for k, _, m in INVALID]
)
def test_an_invalid_body_is_refused_naming_the_member(
    kind: str, body: dict[str, Any], member: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        validate_body(kind, body)
    assert str(caught.value).startswith(f"{kind} body:")
    assert member in str(caught.value)


def test_unknown_kinds_and_non_objects_are_refused() -> None:
    with pytest.raises(DecodeError, match="memo"):
        validate_body("memo", {})
    with pytest.raises(DecodeError, match="object"):
        validate_body("chat", ["roger"])


def test_extent_covers_every_point_a_body_carries() -> None:
    assert body_extent("missile_event", VALID["missile_event"]) == (125.75, 39.03, 137.5, 40.9)
    assert body_extent("report", VALID["report"]) == (124.0, 37.0, 125.0, 38.0)
    assert body_extent("encounter", VALID["encounter"]) == (38.534, -27.479, 38.534, -27.479)
    assert body_extent("chat", VALID["chat"]) is None
