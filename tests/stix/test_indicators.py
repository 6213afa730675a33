"""Indicator items ⇄ STIX 2.1 objects and bundles, validated with stix2-validator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_instance, validate_parsed_json

from trilat.adapters.stix import (
    LABEL_EXTENSION_ID,
    TLP_MARKING_IDS,
    TRILAT_IDENTITY_ID,
    envelope_to_stix,
    item_from_stix,
    label_markings,
    label_of,
    marking_refs,
    stix_bundle,
)
from trilat.core import _crypto
from trilat.core.errors import DecodeError
from trilat.core.items import Envelope, Item, Originator, seal, verify
from trilat.core.labels import Label, Tlp, parse_label

STRICT = ValidationOptions(version="2.1", strict=True)
KEY = _crypto.generate_private_key()
USA = Originator("usa-1", "USA")
AT = datetime(2023, 12, 19, 9, 30, 15, tzinfo=UTC)


def _indicator(number: int = 7) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd{number:02x}",
        "created": "2023-12-19T09:30:15.000Z",
        "modified": "2023-12-19T09:30:15.000Z",
        "name": f"Staging server {number}",
        "description": "C2 address seen in intrusion reporting",
        "indicator_types": ["malicious-activity"],
        "pattern": f"[ipv4-addr:value = '198.51.100.{number}']",
        "pattern_type": "stix",
        "valid_from": "2023-12-19T09:30:15Z",
    }


def _envelope(banner: str, number: int = 7) -> Envelope:
    item = Item(
        kind="indicator",
        label=parse_label(banner),
        topics=("cyber",),
        body=_indicator(number),
    )
    return seal(item, originator=USA, private_key=KEY, at=AT)


def _valid(obj: dict[str, Any]) -> None:
    result = validate_instance(obj, STRICT)
    assert result.is_valid, [str(error) for error in result.errors]


def test_indicator_envelope_becomes_a_marked_stix_object_and_its_markings() -> None:
    envelope = _envelope("SECRET//REL TO USA, JPN, KOR//TLP:AMBER")
    indicator, *markings = envelope_to_stix(envelope)
    assert indicator == {**_indicator(), "object_marking_refs": marking_refs(envelope.label)}
    assert markings == label_markings(envelope.label)
    for obj in envelope_to_stix(envelope):
        _valid(obj)
    assert label_of(indicator, markings) == envelope.label


def test_bundle_carries_each_definition_once_and_validates() -> None:
    envelopes = [
        _envelope("SECRET//REL TO USA, JPN, KOR", 1),
        _envelope("SECRET//REL TO USA, JPN, KOR", 2),
        _envelope("UNCLASSIFIED//TLP:GREEN", 3),
    ]
    bundle = stix_bundle(envelopes)
    ids = [obj["id"] for obj in bundle["objects"]]
    assert len(ids) == len(set(ids))
    assert ids[:2] == [TRILAT_IDENTITY_ID, LABEL_EXTENSION_ID]
    assert TLP_MARKING_IDS[Tlp.GREEN] in ids
    assert sum(obj["type"] == "indicator" for obj in bundle["objects"]) == 3
    results = validate_parsed_json(bundle, STRICT)
    assert results.is_valid, [str(e) for e in results.errors]
    parsed = stix2.parse(json.dumps(bundle))
    assert len(parsed.objects) == len(ids)


def test_bundle_id_is_stable_for_the_same_envelopes() -> None:
    envelopes = [_envelope("UNCLASSIFIED", 1), _envelope("UNCLASSIFIED", 2)]
    assert stix_bundle(envelopes)["id"] == stix_bundle(envelopes)["id"]
    assert stix_bundle(envelopes)["id"] != stix_bundle(envelopes[:1])["id"]
    assert stix_bundle([], bundle_id="bundle--0d2e5f1c-4b6a-4c8e-9f00-6b1a2c3d4e5f")["objects"]


def test_only_indicator_items_map_to_stix() -> None:
    item = Item(
        kind="report",
        label=parse_label("UNCLASSIFIED"),
        topics=("cyber",),
        body={"text": "x"},
    )
    report = seal(item, originator=USA, private_key=KEY, at=AT)
    with pytest.raises(DecodeError, match="only indicator"):
        envelope_to_stix(report)


def test_stix_object_becomes_an_item_labelled_from_its_markings() -> None:
    label = parse_label("CONFIDENTIAL//REL TO USA, KOR//TLP:AMBER", owner="USA")
    obj = envelope_to_stix(_envelope("CONFIDENTIAL//REL TO USA, KOR//TLP:AMBER"))
    item = item_from_stix(obj[0], obj[1:], recipients=("KOR",))
    assert item.kind == "indicator"
    assert item.label == label
    assert item.topics == ("cyber",)
    assert item.recipients == ("KOR",)
    assert "object_marking_refs" not in item.body
    assert item.body["pattern"] == _indicator()["pattern"]
    envelope = seal(item, originator=USA, private_key=KEY, at=AT)
    verify(envelope, _crypto.public_key_of(KEY))
    assert envelope_to_stix(envelope)[0]["object_marking_refs"] == marking_refs(label)


def test_import_takes_the_roll_up_of_granular_markings() -> None:
    base = parse_label("SECRET//REL TO USA, JPN, KOR", owner="USA")
    narrow = parse_label("SECRET//REL TO USA, JPN", owner="USA")
    obj = {**_indicator(), "object_marking_refs": marking_refs(base)}
    obj["granular_markings"] = [{"marking_ref": marking_refs(narrow)[0], "selectors": ["pattern"]}]
    _valid(obj)
    item = item_from_stix(obj, [*label_markings(base), *label_markings(narrow)])
    assert item.label == narrow
    assert "granular_markings" not in item.body


def test_import_refuses_unmarked_or_malformed_objects() -> None:
    with pytest.raises(DecodeError, match="no object-level marking"):
        item_from_stix(_indicator(), [])
    with pytest.raises(DecodeError, match=r"spec_version 2\.1"):
        item_from_stix({**_indicator(), "spec_version": "2.0"}, [])
    with pytest.raises(DecodeError, match="does not match its type"):
        item_from_stix({**_indicator(), "type": "malware"}, [])
    with pytest.raises(DecodeError, match="STIX identifier"):
        item_from_stix({**_indicator(), "id": "indicator--1"}, [])


def test_import_refuses_an_object_that_is_not_valid_stix() -> None:
    label = parse_label("UNCLASSIFIED", owner="USA")
    broken = {**_indicator(), "pattern": "[ipv4-addr:value = "}
    broken["object_marking_refs"] = marking_refs(label)
    with pytest.raises(DecodeError, match="not valid STIX"):
        item_from_stix(broken, label_markings(label))
    missing = {k: v for k, v in broken.items() if k != "pattern"}
    with pytest.raises(DecodeError, match="not valid STIX"):
        item_from_stix(missing, label_markings(label))


def test_imported_label_owned_by_another_nation_cannot_be_sealed_here() -> None:
    jpn = parse_label("SECRET//REL TO USA, JPN", owner="JPN")
    obj = {**_indicator(), "object_marking_refs": marking_refs(jpn)}
    item = item_from_stix(obj, label_markings(jpn))
    assert item.label == jpn
    with pytest.raises(ValueError, match="owner"):
        seal(item, originator=USA, private_key=KEY, at=AT)


def test_export_keeps_the_label_of_every_tlp() -> None:
    for tlp in Tlp:
        envelope = _envelope(f"UNCLASSIFIED//{tlp}")
        indicator, *markings = envelope_to_stix(envelope)
        assert TLP_MARKING_IDS[tlp] in indicator["object_marking_refs"]
        assert label_of(indicator, markings) == Label(
            envelope.label.classification, tlp=tlp, owner="USA"
        )
