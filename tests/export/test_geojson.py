"""GeoJSON export: RFC 7946 features with the label banner in their properties."""

from __future__ import annotations

import json

import shapely.geometry

from tests.export.conftest import Seal
from trilat.adapters.geojson import feature, feature_collection

TRACK = {
    "uid": "ICAO-71BE24",
    "type": "a-h-A-M-F",
    "point": {"lat": 37.241, "lon": 131.864, "alt_m": 7600.0},
    "time": "2019-07-23T00:33:00.000Z",
    "stale": "2019-07-23T00:38:00.000Z",
    "callsign": "A-50",
}
POLYGON = {
    "type": "Polygon",
    "coordinates": [
        [[131.0, 37.0], [132.5, 37.0], [132.5, 38.0], [131.0, 38.0], [131.0, 37.0]],
        [[131.5, 37.4], [131.8, 37.4], [131.8, 37.6], [131.5, 37.4]],
    ],
}


def test_a_track_is_a_point_feature_with_its_banner(sealed: Seal) -> None:
    envelope = sealed("track", "SECRET//REL TO USA, JPN, KOR", TRACK, topics=("air.track",))
    result = feature(envelope)
    assert result["type"] == "Feature"
    assert result["id"] == envelope.id
    assert result["geometry"] == {"type": "Point", "coordinates": [131.864, 37.241, 7600.0]}
    properties = result["properties"]
    assert properties["banner"] == "SECRET//REL TO USA, JPN, KOR"
    assert properties["label"] == {
        "banner": "SECRET//REL TO USA, JPN, KOR",
        "portion": "(S//REL TO USA, JPN, KOR)",
        "classification": "SECRET",
        "rel_to": ["USA", "JPN", "KOR"],
        "dissem": [],
        "tlp": None,
        "owner": "USA",
    }
    assert properties["name"] == "A-50"
    assert properties["kind"] == "track"
    assert properties["originator"] == {"node": "usa-1", "nation": "USA"}
    assert properties["created"] == "2023-12-19T09:30:15.250Z"
    assert properties["topics"] == ["air.track"]
    assert properties["body"] == TRACK
    point = shapely.geometry.shape(result["geometry"])
    assert (point.x, point.y) == (131.864, 37.241)  # RFC 7946: longitude first


def test_a_report_keeps_its_polygon_with_holes(sealed: Seal) -> None:
    envelope = sealed("report", "UNCLASSIFIED//FOUO", {"text": "exercise box", "geometry": POLYGON})
    geometry = feature(envelope)["geometry"]
    assert geometry == POLYGON
    polygon = shapely.geometry.shape(geometry)
    assert polygon.is_valid
    assert len(polygon.interiors) == 1


def test_a_missile_event_is_a_line_from_launch_to_impact(sealed: Seal) -> None:
    body = {
        "launch_time": "2023-02-18T08:21:00.000Z",
        "launch_point": {"lat": 39.03, "lon": 125.75},
        "flight_path": [{"lat": 40.1, "lon": 133.0, "alt_m": 5700000.0}],
        "impact_point": {"lat": 40.8, "lon": 139.3},
        "source_sensor": "radar",
    }
    envelope = sealed("missile_event", "SECRET//REL TO USA, JPN, KOR", body)
    assert feature(envelope)["geometry"] == {
        "type": "LineString",
        "coordinates": [[125.75, 39.03], [133.0, 40.1, 5700000.0], [139.3, 40.8]],
    }
    launch_only = sealed(
        "missile_event",
        "SECRET//REL TO USA, JPN, KOR",
        {**body, "flight_path": [], "impact_point": None},
    )
    assert feature(launch_only)["geometry"] == {"type": "Point", "coordinates": [125.75, 39.03]}


def test_an_analytics_result_is_located_by_its_lat_lon(sealed: Seal) -> None:
    body = {
        "type": "encounter",
        "vessels": [441910000, 563418000],
        "start": "2015-03-19T07:40:00Z",
        "end": "2015-03-19T20:10:00Z",
        "lat": -27.479,
        "lon": 38.534,
    }
    envelope = sealed("encounter", "CONFIDENTIAL//REL TO USA, KOR", body, topics=("maritime.sts",))
    assert feature(envelope)["geometry"] == {"type": "Point", "coordinates": [38.534, -27.479]}


def test_an_item_without_location_has_a_null_geometry(sealed: Seal) -> None:
    envelope = sealed("chat", "UNCLASSIFIED", {"text": "radio check"}, topics=("public",))
    assert feature(envelope)["geometry"] is None


def test_a_malformed_location_gives_no_geometry_rather_than_a_guess(sealed: Seal) -> None:
    bad_point = sealed("track", "UNCLASSIFIED", {**TRACK, "point": {"lat": 137.2, "lon": 31.8}})
    assert feature(bad_point)["geometry"] is None
    bad_geometry = {"type": "Polygon", "coordinates": [[[500.0, 1.0], [1.0, 1.0]]]}
    report = sealed("report", "UNCLASSIFIED", {"text": "x", "geometry": bad_geometry})
    assert feature(report)["geometry"] is None


def test_collection_carries_the_roll_up_banner_on_top(sealed: Seal) -> None:
    envelopes = [
        sealed("track", "SECRET//REL TO USA, JPN, KOR", TRACK),
        sealed("track", "SECRET//REL TO USA, JPN", TRACK, minutes=1),
        sealed("chat", "UNCLASSIFIED", {"text": "ok"}, minutes=2),
    ]
    collection = feature_collection(envelopes)
    assert collection["type"] == "FeatureCollection"
    assert collection["banner"] == "SECRET//REL TO USA, JPN"
    assert [f["id"] for f in collection["features"]] == [e.id for e in envelopes]
    assert json.loads(json.dumps(collection)) == collection


def test_dissemination_controls_are_listed_in_banner_order(sealed: Seal) -> None:
    envelope = sealed("report", "SECRET//ORCON/NOFORN", {"text": "x"})
    label = feature(envelope)["properties"]["label"]
    assert label["dissem"] == ["ORCON", "NOFORN"]
    assert label["banner"] == "SECRET//ORCON/NOFORN"


def test_an_empty_collection_has_no_banner() -> None:
    assert feature_collection([]) == {"type": "FeatureCollection", "banner": None, "features": []}
