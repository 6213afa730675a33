"""MISP export: one event, attributes and objects keyed by item id, labels as tags."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest

from tests.export.conftest import Seal
from trilat.adapters.misp import misp_event, misp_indicators, misp_tags
from trilat.adapters.stix import check_stix
from trilat.core.errors import DecodeError
from trilat.core.labels import Tlp, parse_label


def _indicator(pattern: str) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2023-12-19T09:30:15.000Z",
        "modified": "2023-12-19T09:30:15.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2023-12-19T09:30:15Z",
    }


def _only(event: dict[str, Any], section: str) -> dict[str, Any]:
    (element,) = event["Event"][section]
    return dict(element)


def test_label_tags_are_tlp_taxonomy_and_trilat_machine_tags() -> None:
    label = parse_label("SECRET//REL TO USA, JPN, KOR//TLP:AMBER+STRICT")
    assert misp_tags(label) == [
        {"name": "tlp:amber+strict"},
        {"name": 'trilat:banner="SECRET//REL TO USA, JPN, KOR//TLP:AMBER+STRICT"'},
        {"name": 'trilat:classification="SECRET"'},
        {"name": 'trilat:rel-to="USA"'},
        {"name": 'trilat:rel-to="JPN"'},
        {"name": 'trilat:rel-to="KOR"'},
    ]


@pytest.mark.parametrize(
    ("pattern", "kind", "value", "category"),
    [
        ("[ipv4-addr:value = '198.51.100.7']", "ip-dst", "198.51.100.7", "Network activity"),
        ("[domain-name:value = 'evil.example']", "domain", "evil.example", "Network activity"),
        (
            "[url:value = 'http://x.example/a\\'b']",
            "url",
            "http://x.example/a'b",
            "Network activity",
        ),
        (
            "[file:hashes.'SHA-256' = '" + "ab" * 32 + "']",
            "sha256",
            "ab" * 32,
            "Payload delivery",
        ),
        (
            "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'evil.example']",
            "stix2-pattern",
            "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'evil.example']",
            "Payload installation",
        ),
    ],
)
def test_an_indicator_becomes_a_typed_attribute(
    sealed: Seal, pattern: str, kind: str, value: str, category: str
) -> None:
    envelope = sealed(
        "indicator", "UNCLASSIFIED//TLP:AMBER", _indicator(pattern), topics=("cyber",)
    )
    attribute = _only(misp_event([envelope], info="Lazarus infrastructure"), "Attribute")
    assert attribute["uuid"] == envelope.id
    assert (attribute["type"], attribute["value"], attribute["category"]) == (kind, value, category)
    assert attribute["to_ids"] is True
    assert attribute["distribution"] == "0"
    assert attribute["timestamp"] == "1702978215"
    assert attribute["comment"] == "(U//TLP:AMBER) indicator from usa-1"
    assert {"name": "tlp:amber"} in attribute["Tag"]


def test_an_indicator_without_a_pattern_is_refused(sealed: Seal) -> None:
    body = {k: v for k, v in _indicator("x").items() if k != "pattern"}
    envelope = sealed("indicator", "UNCLASSIFIED", body, topics=("cyber",))
    with pytest.raises(DecodeError, match="pattern"):
        misp_event([envelope], info="x")


def test_a_located_item_becomes_a_geolocation_object(sealed: Seal) -> None:
    body = {
        "type": "encounter",
        "vessels": [441910000, 563418000],
        "start": "2015-03-19T07:40:00Z",
        "end": "2015-03-19T20:10:00Z",
        "lat": -27.479,
        "lon": 38.534,
    }
    envelope = sealed("encounter", "CONFIDENTIAL//REL TO USA, KOR", body, topics=("maritime.sts",))
    obj = _only(misp_event([envelope], info="STS transfers"), "Object")
    assert obj["uuid"] == envelope.id
    assert obj["name"] == "geolocation"
    assert obj["distribution"] == "0"
    relations = {a["object_relation"]: (a["type"], a["value"]) for a in obj["Attribute"]}
    assert relations == {
        "latitude": ("float", "-27.479"),
        "longitude": ("float", "38.534"),
        "text": ("text", f"encounter {envelope.id}"),
        "first-seen": ("datetime", "2015-03-19T07:40:00Z"),
        "last-seen": ("datetime", "2015-03-19T20:10:00Z"),
    }
    assert len({a["uuid"] for a in obj["Attribute"]}) == len(obj["Attribute"])
    assert all(a["distribution"] == "0" for a in obj["Attribute"])
    assert {"name": 'trilat:banner="CONFIDENTIAL//REL TO USA, KOR"'} in obj["Tag"]


def test_text_items_become_text_attributes(sealed: Seal) -> None:
    report = sealed("report", "UNCLASSIFIED//FOUO", {"text": "Port call at Nampo"})
    ack = sealed("ack", "UNCLASSIFIED", {"item": report.id, "status": "received"}, minutes=1)
    attributes = misp_event([report, ack], info="port calls")["Event"]["Attribute"]
    assert [(a["type"], a["value"], a["to_ids"]) for a in attributes] == [
        ("text", "Port call at Nampo", False),
        ("text", f"ack {ack.id}", False),
    ]


def test_event_carries_the_roll_up_label_and_is_kept_inside_misp(sealed: Seal) -> None:
    envelopes = [
        sealed("report", "SECRET//REL TO USA, JPN, KOR", {"text": "a"}),
        sealed("report", "SECRET//REL TO USA, JPN//TLP:RED", {"text": "b"}, minutes=90),
    ]
    event = misp_event(envelopes, info="Trilateral missile warning exchange")["Event"]
    assert event["info"] == "Trilateral missile warning exchange"
    assert event["date"] == "2023-12-19"
    assert event["timestamp"] == str(1702978215 + 90 * 60)
    assert event["distribution"] == "0"
    assert event["published"] is False
    assert event["Tag"] == misp_tags(parse_label("SECRET//REL TO USA, JPN//TLP:RED"))
    assert event["Object"] == []
    assert json.loads(json.dumps(event)) == event


def test_event_uuid_and_date_are_stable_or_given(sealed: Seal) -> None:
    envelopes = [sealed("report", "UNCLASSIFIED", {"text": "a"})]
    first = misp_event(envelopes, info="x")["Event"]
    assert first["uuid"] == misp_event(envelopes, info="x")["Event"]["uuid"]
    given = misp_event(
        envelopes,
        info="x",
        event_uuid="5e8b1c2a-0f4d-4c1e-9a3b-2d6f7e8a9b0c",
        event_date=date(2024, 1, 2),
    )["Event"]
    assert (given["uuid"], given["date"]) == ("5e8b1c2a-0f4d-4c1e-9a3b-2d6f7e8a9b0c", "2024-01-02")


def test_nothing_to_export_or_no_info_is_refused(sealed: Seal) -> None:
    with pytest.raises(DecodeError, match="no envelopes"):
        misp_event([], info="x")
    with pytest.raises(DecodeError, match="info"):
        misp_event([sealed("report", "UNCLASSIFIED", {"text": "a"})], info=" ")


@pytest.mark.parametrize(
    "pattern",
    [
        "[ipv4-addr:value = '198.51.100.7']",
        "[domain-name:value = 'evil.example']",
        "[url:value = 'http://evil.example/a?b=\\'c\\'']",
        f"[file:hashes.'SHA-256' = '{'ab' * 32}']",
    ],
)
def test_an_exported_indicator_comes_back_in_as_the_same_pattern_with_its_tlp(
    sealed: Seal, pattern: str
) -> None:
    envelope = sealed(
        "indicator", "UNCLASSIFIED//TLP:AMBER", _indicator(pattern), topics=("cyber",)
    )
    (back,) = misp_indicators(json.loads(json.dumps(misp_event([envelope], info="round trip"))))
    assert back.body["pattern"] == pattern
    assert back.body["id"] == f"indicator--{envelope.id}"
    assert back.body["created"] == "2023-12-19T09:30:15.000Z"
    assert back.tlp is Tlp.AMBER
    check_stix(back.body)


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"Attribute": []}, "not an event"),
        ({"Event": {"Attribute": []}}, "no attributes"),
        ({"Event": {"Attribute": [{"type": "text", "value": "x"}]}}, "Attribute[0]"),
        ({"Event": {"Attribute": [{"type": "md5", "value": ""}]}}, "no value"),
        (
            {"Event": {"Tag": [{"name": "tlp:purple"}], "Attribute": []}},
            "unknown TLP tag",
        ),
        (
            {"Event": {"Attribute": [{"type": "url", "value": "x", "timestamp": "9" * 30}]}},
            "not a time",
        ),
        ({"Event": {"Object": ["x"]}}, "Object[0]"),
    ],
)
def test_a_misp_event_that_cannot_be_read_is_refused_naming_the_place(
    event: dict[str, Any], named: str
) -> None:
    with pytest.raises(DecodeError, match=re.escape(named)):
        misp_indicators(event)
