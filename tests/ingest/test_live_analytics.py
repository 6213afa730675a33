"""Live analytics in a real node: derived items appear as inputs are accepted, labelled with
the roll-up of their inputs (never less restrictive) and referring to them."""

from __future__ import annotations

import csv
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import shared_file
from tests.ingest.conftest import IngestNode, at_least_as_restrictive
from trilat.core.clock import format_time, parse_time
from trilat.ingest.settings import IngestSettings

TANKER, COLLIER = 441910000, 563418000
LABELS = {TANKER: "UNCLASSIFIED", COLLIER: "SECRET//REL TO USA, JPN"}
ONLY = {"maritime": False, "airspace": False, "missile": False}


def _only(engine: str) -> IngestSettings:
    return IngestSettings(**{**ONLY, engine: True})  # type: ignore[arg-type]


def _track(uid: str, at: datetime, lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    return {
        "uid": uid,
        "type": extra.pop("type", "a-n-S"),
        "point": {"lat": lat, "lon": lon},
        "time": format_time(at),
        "stale": format_time(at + timedelta(minutes=10)),
        **extra,
    }


def test_the_2015_transshipment_becomes_an_encounter_item_labelled_by_both_vessels(
    ingest_node: Callable[[IngestSettings], IngestNode],
) -> None:
    path = shared_file("ais/real-encounter-2015-03-19.csv")
    with open(path, encoding="utf-8") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: row["timestamp_utc"])
    node = ingest_node(_only("maritime"))
    posted: dict[str, tuple[int, str]] = {}  # track item id → (mmsi, label)
    with node.client("analyst") as client:
        for row in rows:
            mmsi = int(row["mmsi"])
            at = parse_time(row["timestamp_utc"])
            body = _track(f"mmsi-{mmsi}", at, float(row["lat"]), float(row["lon"]))
            item = {
                "kind": "track",
                "label": LABELS[mmsi],
                "topics": ["maritime.track"],
                "body": body,
            }
            response = client.post("/api/v1/items", json=item)
            assert response.status_code == 201, response.text
            posted[response.json()["id"]] = (mmsi, LABELS[mmsi])
        # another vessel a day and a half later moves the stream's clock past the merge window
        for hour in range(6, 12):
            at = datetime(2015, 3, 21, hour, tzinfo=UTC)
            body = _track("mmsi-412000001", at, 30.0, 125.0 + hour / 10)
            client.post(
                "/api/v1/items",
                json={
                    "kind": "track",
                    "label": "UNCLASSIFIED",
                    "topics": ["maritime.track"],
                    "body": body,
                },
            ).raise_for_status()

    encounters = node.wait_for(lambda: node.items("admin", kind="encounter"), "the encounter")
    (encounter,) = encounters
    body = encounter["body"]
    assert body["vessels"] == [TANKER, COLLIER]
    assert "2015-03-19T07:00" < body["start"] < "2015-03-19T08:30"
    assert "2015-03-19T19:30" < body["end"] < "2015-03-19T21:00"
    assert body["median_distance_km"] < 0.1
    assert body["median_speed_knots"] < 0.5
    assert abs(body["lat"] + 27.479) < 0.05
    assert abs(body["lon"] - 38.534) < 0.05
    assert encounter["label"] == "SECRET//REL TO USA, JPN"
    assert encounter["topics"] == ["maritime.encounter"]
    assert {posted[ref][0] for ref in encounter["refs"]} == {TANKER, COLLIER}

    def derived_items() -> list[dict[str, Any]]:
        found = [
            item
            for kind in ("encounter", "loitering", "ais_gap")
            for item in node.items("admin", kind=kind)
        ]
        kinds = {item["kind"] for item in found}
        return found if kinds >= {"encounter", "loitering", "ais_gap"} else []

    # the engines' items are committed in batches of their own: wait for every kind
    derived = node.wait_for(derived_items, "loitering and gap items beside the encounter")
    for item in derived:
        vessels = item["body"].get("vessels") or [item["body"]["mmsi"]]
        assert at_least_as_restrictive(item["label"], [LABELS[m] for m in vessels]), item
        assert item["refs"]
        assert all(ref in posted for ref in item["refs"])
        assert item["originator"]["nation"] == "USA"
    # the JPN liaison may see what derives from REL TO JPN and unclassified positions
    assert len(node.items("kenji", kind="encounter")) == 1


def test_aircraft_crossing_zones_and_flying_together_become_zone_and_patrol_items(
    ingest_node: Callable[[IngestSettings], IngestNode],
) -> None:
    node = ingest_node(_only("airspace"))
    t0 = datetime(2024, 11, 29, 1, 0, tzinfo=UTC)
    flights = {
        "h6-1": ("CHN", 0.0, "SECRET//REL TO USA, JPN, KOR"),
        "tu95-1": ("RUS", 0.05, "SECRET//REL TO USA, JPN"),
    }
    inputs: dict[str, str] = {}
    with node.client("analyst") as client:
        for minute in range(41):  # westward along 36° N, past the Oki islands into KADIZ
            at = t0 + timedelta(minutes=minute)
            for uid, (nation, dlat, banner) in flights.items():
                body = _track(
                    uid, at, 36.0 + dlat, 134.0 - minute * 0.1, type="a-h-A", nation=nation
                )
                item = {"kind": "track", "label": banner, "topics": ["air.track"], "body": body}
                response = client.post("/api/v1/items", json=item)
                assert response.status_code == 201, response.text
                inputs[response.json()["id"]] = banner

    def zone_items() -> list[dict[str, Any]] | None:
        found = node.items("admin", kind="zone_entry")
        return found if len(found) >= 8 else None

    zones = node.wait_for(zone_items, "entries and exits of TS-JPN, JADIZ and KADIZ")
    seen = {(z["body"]["track"], z["body"]["zone"], z["body"]["type"]) for z in zones}
    assert {
        ("h6-1", "TS-JPN", "zone_entry"),
        ("h6-1", "TS-JPN", "zone_exit"),
        ("h6-1", "KADIZ", "zone_entry"),
        ("h6-1", "JADIZ", "zone_exit"),
        ("tu95-1", "KADIZ", "zone_entry"),
    } <= seen
    for zone in zones:
        assert zone["topics"] == ["air.zone_entry"]
        assert zone["refs"]
        assert all(ref in inputs for ref in zone["refs"])
        assert at_least_as_restrictive(zone["label"], [inputs[ref] for ref in zone["refs"]])

    def patrols() -> list[dict[str, Any]] | None:
        found = [
            o
            for o in node.items("admin", kind="observation")
            if o["body"]["attributes"]["type"] == "joint_patrol"
        ]
        return found if len(found) >= 3 else None

    found = node.wait_for(patrols, "the joint patrol and its updates")
    assert [p["supersedes"] for p in found[1:]] == [p["id"] for p in found[:-1]]
    latest = found[-1]
    assert latest["body"]["attributes"]["tracks"] == "h6-1,tu95-1"
    assert latest["body"]["attributes"]["nations"] == "CHN,RUS"
    assert latest["body"]["attributes"]["start"] == "2024-11-29T01:00:00.000Z"
    assert latest["label"] == "SECRET//REL TO USA, JPN"
    assert at_least_as_restrictive(latest["label"], [b for _, _, b in flights.values()])
    # KOR is not in the roll-up's REL TO: the patrol is not shown to a KOR liaison
    assert node.items("minho", kind="observation") == []


def _report(
    sensor: str, launch: tuple[float, float], at: str, impact: tuple[float, float] | None
) -> dict:
    body: dict[str, Any] = {
        "launch_time": at,
        "launch_point": {"lat": launch[0], "lon": launch[1], "error_radius_m": 5000.0},
        "source_sensor": sensor,
        "launch_time_error_s": 10.0,
        "missile_type": "ICBM",
    }
    if impact is not None:
        body["impact_point"] = {"lat": impact[0], "lon": impact[1], "error_radius_m": 20000.0}
        body["impact_time"] = "2023-02-18T09:28:00Z"
    return body


def test_sensor_reports_are_fused_into_a_warning_at_once_and_superseded_as_reports_arrive(
    ingest_node: Callable[[IngestSettings], IngestNode],
) -> None:
    node = ingest_node(_only("missile"))
    first = node.post(
        "analyst",
        kind="missile_event",
        label="SECRET//REL TO USA, JPN, KOR",
        topics=["dprk.missile"],
        body=_report("SBX-1", (39.03, 125.67), "2023-02-18T08:22:00Z", None),
    )

    def warnings() -> list[dict[str, Any]]:
        return [
            w
            for w in node.items("admin", kind="missile_event")
            if w["topics"] == ["dprk.missile.warning"]
        ]

    (warning,) = node.wait_for(warnings, "the first warning")
    assert warning["refs"] == [first["id"]]
    assert warning["label"] == "SECRET//REL TO USA, JPN, KOR"
    assert "impact_eez" not in warning["body"]

    second = node.post(
        "analyst",
        kind="missile_event",
        label="SECRET//REL TO USA, JPN",
        topics=["dprk.missile"],
        body=_report(
            "AN/TPY-2 Kyogamisaki", (39.05, 125.70), "2023-02-18T08:22:20Z", (40.9, 137.0)
        ),
    )
    both = node.wait_for(lambda: (found := warnings()) and len(found) == 2 and found, "the update")
    update = both[1]
    assert update["supersedes"] == warning["id"]
    assert sorted(update["refs"]) == sorted([first["id"], second["id"]])
    assert update["label"] == "SECRET//REL TO USA, JPN"  # the roll-up: KOR drops out
    assert at_least_as_restrictive(update["label"], [first["label"], second["label"]])
    assert update["body"]["impact_eez"] == {"USA": "JPN"}  # inside Japan's EEZ in the node's view
    assert {s["sensor"] for s in update["body"]["sources"]} == {"SBX-1", "AN/TPY-2 Kyogamisaki"}
    assert node.runner.missile is not None
    assert node.runner.missile.reports == 2
    # a KOR liaison sees the first report and the first warning, not what JPN-only data made
    shown = {item["id"] for item in node.items("minho", kind="missile_event")}
    assert shown == {first["id"], warning["id"]}


def test_a_burst_that_overflows_the_live_queue_is_caught_up_from_the_store(
    ingest_node: Callable[..., IngestNode],
) -> None:
    node = ingest_node(_only("missile"), sse_queue=2)  # a burst overflows the live feed

    def post(n: int) -> str:
        launch = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(hours=2 * n)  # one launch each
        body = _report("SBX-1", (39.03, 125.67), format_time(launch), None)
        return node.post(
            "analyst", kind="missile_event", label="SECRET//REL TO USA, JPN, KOR",
            topics=["dprk.missile"], body=body,
        )["id"]  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        reports = set(pool.map(post, range(24)))

    def warned() -> set[str] | None:
        refs = {
            ref
            for item in node.items("admin", kind="missile_event")
            if item["topics"] == ["dprk.missile.warning"]
            for ref in item["refs"]
        }
        return refs if refs == reports else None

    node.wait_for(warned, "one warning per report, none skipped")
