"""KML export: Placemarks with the banner in description and ExtendedData, read back safely."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeXML

from tests.export.conftest import Seal
from trilat.adapters.kml import KML_NAMESPACE, kml_document

NS = {"k": KML_NAMESPACE}
TRACK = {
    "uid": "ICAO-71BE24",
    "type": "a-h-A-M-F",
    "point": {"lat": 37.241, "lon": 131.864, "alt_m": 7600.0},
    "time": "2019-07-23T00:33:00.000Z",
    "stale": "2019-07-23T00:38:00.000Z",
    "callsign": "A-50",
}


def _parse(data: bytes) -> Element:
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root: Element = SafeXML.fromstring(data)
    assert root.tag == f"{{{KML_NAMESPACE}}}kml"
    return root


def _data(placemark: Element) -> dict[str, str]:
    return {
        data.get("name", ""): data.findtext("k:value", namespaces=NS) or ""
        for data in placemark.findall("k:ExtendedData/k:Data", NS)
    }


def test_a_track_is_a_placemark_with_its_label(sealed: Seal) -> None:
    envelope = sealed("track", "SECRET//REL TO USA, JPN, KOR//TLP:AMBER", TRACK)
    root = _parse(kml_document([envelope], name="Dokdo patrol 2019-07-23"))
    document = root.find("k:Document", NS)
    assert document is not None
    assert document.findtext("k:name", namespaces=NS) == "Dokdo patrol 2019-07-23"
    assert document.findtext("k:description", namespaces=NS) == (
        "SECRET//REL TO USA, JPN, KOR//TLP:AMBER"
    )
    (placemark,) = document.findall("k:Placemark", NS)
    assert placemark.get("id") == f"item-{envelope.id}"
    assert placemark.findtext("k:name", namespaces=NS) == "A-50"
    assert placemark.findtext("k:description", namespaces=NS) == (
        "SECRET//REL TO USA, JPN, KOR//TLP:AMBER"
    )
    assert placemark.findtext("k:TimeStamp/k:when", namespaces=NS) == "2023-12-19T09:30:15.250Z"
    assert _data(placemark) == {
        "banner": "SECRET//REL TO USA, JPN, KOR//TLP:AMBER",
        "portion": "(S//REL TO USA, JPN, KOR//TLP:AMBER)",
        "classification": "SECRET",
        "rel_to": "USA, JPN, KOR",
        "tlp": "TLP:AMBER",
        "owner": "USA",
        "id": envelope.id,
        "kind": "track",
        "originator": "usa-1 (USA)",
        "created": "2023-12-19T09:30:15.250Z",
        "topics": "maritime.track",
    }
    assert placemark.findtext("k:Point/k:altitudeMode", namespaces=NS) == "absolute"
    assert placemark.findtext("k:Point/k:coordinates", namespaces=NS) == "131.864,37.241,7600.0"


def test_polygons_lines_and_multi_geometries_are_written(sealed: Seal) -> None:
    polygon = {
        "type": "Polygon",
        "coordinates": [
            [[131.0, 37.0], [132.5, 37.0], [132.5, 38.0], [131.0, 37.0]],
            [[131.5, 37.4], [131.8, 37.4], [131.8, 37.6], [131.5, 37.4]],
        ],
    }
    lines = {"type": "MultiLineString", "coordinates": [[[130, 35], [131, 36]], [[1, 2], [3, 4]]]}
    envelopes = [
        sealed("report", "UNCLASSIFIED", {"text": "box", "geometry": polygon}),
        sealed("report", "UNCLASSIFIED", {"text": "routes", "geometry": lines}),
    ]
    first, second = _parse(kml_document(envelopes)).findall("k:Document/k:Placemark", NS)
    outer = first.findtext("k:Polygon/k:outerBoundaryIs/k:LinearRing/k:coordinates", namespaces=NS)
    assert outer == "131.0,37.0 132.5,37.0 132.5,38.0 131.0,37.0"
    assert len(first.findall("k:Polygon/k:innerBoundaryIs", NS)) == 1
    parts = second.findall("k:MultiGeometry/k:LineString/k:coordinates", NS)
    assert [part.text for part in parts] == ["130.0,35.0 131.0,36.0", "1.0,2.0 3.0,4.0"]


def test_text_is_escaped_and_unencodable_characters_replaced(sealed: Seal) -> None:
    hostile = 'A&B <script>"x"</script>]]> \x07bell'
    envelope = sealed("report", "UNCLASSIFIED", {"title": hostile, "text": hostile})
    (placemark,) = _parse(kml_document([envelope], name=hostile)).findall(
        "k:Document/k:Placemark", NS
    )
    assert placemark.findtext("k:name", namespaces=NS) == hostile.replace("\x07", "\ufffd")
    description = placemark.findtext("k:description", namespaces=NS)
    assert description == "UNCLASSIFIED\n\n" + hostile.replace("\x07", "\ufffd")


def test_an_item_without_location_is_a_placemark_without_geometry(sealed: Seal) -> None:
    envelope = sealed("chat", "UNCLASSIFIED", {"text": "radio check"})
    (placemark,) = _parse(kml_document([envelope])).findall("k:Document/k:Placemark", NS)
    assert placemark.find("k:Point", NS) is None
    assert placemark.findtext("k:description", namespaces=NS) == "UNCLASSIFIED\n\nradio check"


def test_document_banner_is_the_roll_up_of_its_placemarks(sealed: Seal) -> None:
    envelopes = [
        sealed("track", "CONFIDENTIAL//REL TO USA, KOR", TRACK),
        sealed("track", "SECRET//REL TO USA, JPN, KOR", TRACK),
    ]
    document = _parse(kml_document(envelopes)).find("k:Document", NS)
    assert document is not None
    assert document.findtext("k:description", namespaces=NS) == "SECRET//REL TO USA, KOR"
    assert _data(document) == {"banner": "SECRET//REL TO USA, KOR"}


def test_an_empty_document_is_valid_kml() -> None:
    document = _parse(kml_document([])).find("k:Document", NS)
    assert document is not None
    assert document.findall("k:Placemark", NS) == []
