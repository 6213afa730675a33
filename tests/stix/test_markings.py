"""Labels ⇄ STIX 2.1 marking definitions: TLP 2.0, the trilat label extension, roll-up."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import stix2
from hypothesis import given, settings
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_instance

from tests.strategies import labels
from trilat.adapters.stix import (
    LABEL_EXTENSION_ID,
    TLP_MARKING_IDS,
    TRILAT_IDENTITY_ID,
    label_extension_definition,
    label_from_refs,
    label_markings,
    label_of,
    mark,
    marking_refs,
    tlp_marking,
    trilat_identity,
)
from trilat.core.errors import DecodeError
from trilat.core.labels import Classification, Label, Tlp, parse_label, roll_up

STRICT = ValidationOptions(version="2.1", strict=True)

INDICATOR: dict[str, Any] = {
    "type": "indicator",
    "spec_version": "2.1",
    "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    "created": "2023-12-19T09:30:15.000Z",
    "modified": "2023-12-19T09:30:15.000Z",
    "name": "Lazarus staging server",
    "description": "C2 address seen in the 2023-12 intrusion set reporting",
    "indicator_types": ["malicious-activity"],
    "pattern": "[ipv4-addr:value = '198.51.100.7']",
    "pattern_type": "stix",
    "valid_from": "2023-12-19T09:30:15Z",
}


def _valid(obj: dict[str, Any]) -> None:
    result = validate_instance(obj, STRICT)
    assert result.is_valid, [str(error) for error in result.errors]


def _label(text: str, owner: str | None = "USA") -> Label:
    return parse_label(text, owner=owner)


# --- fixed objects -------------------------------------------------------------------------


# The TLP 2.0 marking definitions as OASIS publishes them (cti-stix-common-objects,
# extension-definition-specifications/tlp-2.0).
OFFICIAL_TLP = {
    Tlp.CLEAR: ("94868c89-83c2-464b-929b-a1a8aa3c8487", "clear"),
    Tlp.GREEN: ("bab4a63c-aed9-4cf5-a766-dfca5abac2bb", "green"),
    Tlp.AMBER: ("55d920b0-5e8b-4f79-9ee9-91f868d9b421", "amber"),
    Tlp.AMBER_STRICT: ("939a9414-2ddd-4d32-a0cd-375ea402b003", "amber+strict"),
    Tlp.RED: ("e828b379-4e03-4974-9ac4-e53a884c97c1", "red"),
}


@pytest.mark.parametrize("tlp", list(Tlp))
def test_tlp_markings_are_the_official_tlp2_objects(tlp: Tlp) -> None:
    uuid_part, colour = OFFICIAL_TLP[tlp]
    assert tlp_marking(tlp) == {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": f"marking-definition--{uuid_part}",
        "created": "2022-10-01T00:00:00.000Z",
        "name": str(tlp),
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": colour,
            }
        },
    }
    assert TLP_MARKING_IDS[tlp] == f"marking-definition--{uuid_part}"
    _valid(tlp_marking(tlp))


def test_identity_and_extension_definition_are_valid_and_fixed() -> None:
    identity, extension = trilat_identity(), label_extension_definition()
    _valid(identity)
    _valid(extension)
    assert identity["id"] == TRILAT_IDENTITY_ID
    assert extension["id"] == LABEL_EXTENSION_ID
    assert extension["created_by_ref"] == TRILAT_IDENTITY_ID
    assert extension["extension_types"] == ["property-extension"]
    assert uuid.UUID(LABEL_EXTENSION_ID.split("--")[1]).version == 4


def test_returned_objects_are_copies() -> None:
    marking = tlp_marking(Tlp.RED)
    marking["name"] = "changed"
    assert tlp_marking(Tlp.RED)["name"] == "TLP:RED"
    markings = label_markings(_label("SECRET//NOFORN"))
    markings[0]["name"] = "changed"
    assert label_markings(_label("SECRET//NOFORN"))[0]["name"] == "SECRET//NOFORN"


# --- label → markings ----------------------------------------------------------------------


def test_label_becomes_a_label_marking_a_statement_and_its_tlp() -> None:
    label = _label("SECRET//ORCON/REL TO USA, JPN, KOR//TLP:AMBER")
    label_marking, statement, tlp = label_markings(label)
    assert label_marking["name"] == "SECRET//ORCON/REL TO USA, JPN, KOR"
    assert label_marking["created_by_ref"] == TRILAT_IDENTITY_ID
    assert label_marking["extensions"] == {
        LABEL_EXTENSION_ID: {
            "extension_type": "property-extension",
            "policy": "CAPCO",
            "classification": "SECRET",
            "dissem": ["ORCON"],
            "rel_to": ["USA", "JPN", "KOR"],
            "owner": "USA",
            "banner": "SECRET//ORCON/REL TO USA, JPN, KOR",
            "portion": "(S//OC/REL TO USA, JPN, KOR)",
        }
    }
    assert statement["definition_type"] == "statement"
    assert statement["definition"] == {"statement": "SECRET//ORCON/REL TO USA, JPN, KOR//TLP:AMBER"}
    assert tlp == tlp_marking(Tlp.AMBER)
    assert marking_refs(label) == [label_marking["id"], statement["id"], tlp["id"]]


def test_label_without_tlp_has_no_tlp_marking() -> None:
    assert len(label_markings(_label("TOP SECRET//NOFORN"))) == 2


def test_marking_ids_are_derived_from_the_label() -> None:
    first = marking_refs(_label("SECRET//REL TO USA, JPN"))
    assert first == marking_refs(_label("secret//rel to jpn, usa"))
    assert first != marking_refs(_label("SECRET//REL TO USA, KOR"))
    assert first[0] != marking_refs(_label("SECRET//REL TO USA, JPN", owner="JPN"))[0]
    for reference in first:
        assert uuid.UUID(reference.split("--")[1]).version == 4


@settings(max_examples=30, deadline=None)
@given(labels())
def test_every_label_marking_validates_strictly(label: Label) -> None:
    for marking in label_markings(label):
        _valid(marking)
    _valid(mark(INDICATOR, label))


@settings(max_examples=80, deadline=None)
@given(labels())
def test_label_to_markings_to_label_is_the_identity(label: Label) -> None:
    marked = mark(INDICATOR, label)
    assert label_of(marked, label_markings(label)) == label
    assert label_from_refs(marked["object_marking_refs"], _table(label_markings(label))) == label


@settings(max_examples=25, deadline=None)
@given(labels())
def test_label_survives_a_json_bundle_parsed_by_stix2(label: Label) -> None:
    bundle = {
        "type": "bundle",
        "id": "bundle--1b5d3a8e-7c7a-4e0f-8a44-0f2b6a9d3c21",
        "objects": [trilat_identity(), label_extension_definition(), *label_markings(label)],
    }
    bundle["objects"].append(mark(INDICATOR, label))
    parsed = stix2.parse(json.dumps(bundle))
    objects = [json.loads(obj.serialize()) for obj in parsed.objects]
    assert label_of(objects[-1], objects) == label


def test_mark_replaces_existing_markings() -> None:
    source = dict(INDICATOR, object_marking_refs=[TLP_MARKING_IDS[Tlp.CLEAR]])
    source["granular_markings"] = [
        {"marking_ref": TLP_MARKING_IDS[Tlp.RED], "selectors": ["description"]}
    ]
    marked = mark(source, _label("SECRET//NOFORN"))
    assert "granular_markings" not in marked
    assert marked["object_marking_refs"] == marking_refs(_label("SECRET//NOFORN"))
    assert source["object_marking_refs"] == [TLP_MARKING_IDS[Tlp.CLEAR]]  # untouched


# --- markings → label ----------------------------------------------------------------------


def _table(markings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {marking["id"]: marking for marking in markings}


def _granular(
    base: Label, parts: list[tuple[Label, str]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    obj = mark(INDICATOR, base)
    definitions = label_markings(base)
    obj["granular_markings"] = []
    for label, selector in parts:
        for reference in marking_refs(label)[::2]:  # the label marking and any TLP
            obj["granular_markings"].append({"marking_ref": reference, "selectors": [selector]})
        definitions += label_markings(label)
    return obj, definitions


def test_granular_markings_roll_up_into_the_object_label() -> None:
    base = _label("SECRET//REL TO USA, JPN, KOR")
    narrower = _label("SECRET//REL TO USA, JPN")
    obj, definitions = _granular(base, [(narrower, "description")])
    _valid(obj)
    assert label_of(obj, definitions) == _label("SECRET//REL TO USA, JPN")


def test_a_higher_granular_classification_raises_the_object_label() -> None:
    obj, definitions = _granular(
        _label("CONFIDENTIAL//REL TO USA, KOR"), [(_label("TOP SECRET//NOFORN"), "pattern")]
    )
    assert label_of(obj, definitions) == _label("TOP SECRET//NOFORN")


def test_a_granular_tlp_marking_alone_is_kept_by_the_roll_up() -> None:
    obj = mark(INDICATOR, _label("UNCLASSIFIED//TLP:GREEN"))
    obj["granular_markings"] = [
        {"marking_ref": TLP_MARKING_IDS[Tlp.RED], "selectors": ["description"]}
    ]
    _valid(obj)
    label = label_of(obj, label_markings(_label("UNCLASSIFIED//TLP:GREEN")))
    assert label == _label("UNCLASSIFIED//TLP:RED")


@settings(max_examples=60, deadline=None)
@given(labels(with_owner=False), st.lists(labels(with_owner=False), min_size=1, max_size=3))
def test_granular_roll_up_is_never_less_restrictive(base: Label, parts: list[Label]) -> None:
    base = Label(**{**_fields(base), "owner": "USA"})
    parts = [Label(**{**_fields(part), "owner": "USA"}) for part in parts]
    obj, definitions = _granular(
        base, [(p, s) for p, s in zip(parts, ("name", "pattern", "description"), strict=False)]
    )
    label = label_of(obj, definitions)
    assert label == roll_up([base, *parts])
    portions = [base, *parts]
    assert label.classification == max(p.classification for p in portions)
    # SPEC §2: unclassified portions do not narrow a classified banner's release list
    narrowing = [
        p
        for p in portions
        if p.classification is not Classification.UNCLASSIFIED
        or label.classification is Classification.UNCLASSIFIED
    ]
    for nation in ("USA", "JPN", "KOR", "GBR", "CHN"):
        if label.permits(nation):
            assert all(portion.permits(nation) for portion in narrowing), nation


def _fields(label: Label) -> dict[str, Any]:
    return {name: getattr(label, name) for name in Label.__slots__ if not name.startswith("_")}


@pytest.mark.parametrize(
    ("tlp1", "tlp2"),
    [(stix2.TLP_WHITE, Tlp.CLEAR), (stix2.TLP_GREEN, Tlp.GREEN), (stix2.TLP_AMBER, Tlp.AMBER),
     (stix2.TLP_RED, Tlp.RED)],
)  # fmt: skip
def test_tlp1_markings_read_as_their_tlp2_equivalents(tlp1: Any, tlp2: Tlp) -> None:
    obj = dict(INDICATOR, object_marking_refs=[tlp1.id])
    assert label_of(obj, [json.loads(tlp1.serialize())]) == Label(
        Classification.UNCLASSIFIED, tlp=tlp2
    )


def test_tlp_clear_is_dropped_beside_a_classification() -> None:
    base = _label("SECRET//REL TO USA, JPN")
    obj = mark(INDICATOR, base)
    obj["object_marking_refs"].append(TLP_MARKING_IDS[Tlp.CLEAR])
    assert label_of(obj, label_markings(base)) == base


# --- fail closed ---------------------------------------------------------------------------


def test_an_unmarked_object_is_refused() -> None:
    with pytest.raises(DecodeError, match="no object-level marking"):
        label_of(INDICATOR, [])
    with pytest.raises(DecodeError, match="no object-level marking"):
        label_from_refs([], {})


def test_a_marking_without_its_definition_is_refused() -> None:
    label = _label("SECRET//NOFORN")
    with pytest.raises(DecodeError, match="definition is not given"):
        label_of(mark(INDICATOR, label), [])


def test_an_unknown_marking_is_refused() -> None:
    copyright_marking = json.loads(
        stix2.MarkingDefinition(
            definition_type="statement",
            definition=stix2.StatementMarking("Copyright 2023 Example Corp"),
            created="2023-01-01T00:00:00.000Z",
        ).serialize()
    )
    label = _label("UNCLASSIFIED")
    obj = mark(INDICATOR, label)
    obj["object_marking_refs"].append(copyright_marking["id"])
    with pytest.raises(DecodeError, match="unknown marking"):
        label_of(obj, [*label_markings(label), copyright_marking])


def test_a_statement_that_matches_no_label_is_refused() -> None:
    label, other = _label("SECRET//REL TO USA, JPN"), _label("SECRET//NOFORN")
    obj = mark(INDICATOR, label)
    obj["object_marking_refs"][1] = marking_refs(other)[1]
    with pytest.raises(DecodeError, match="matches no label"):
        label_of(obj, [*label_markings(label), *label_markings(other)])


def test_a_statement_alone_is_refused() -> None:
    label = _label("SECRET//NOFORN")
    obj = dict(INDICATOR, object_marking_refs=[marking_refs(label)[1]])
    with pytest.raises(DecodeError, match="statement alone"):
        label_of(obj, label_markings(label))


def _extension(definition: dict[str, Any]) -> dict[str, Any]:
    extension: dict[str, Any] = definition["extensions"][LABEL_EXTENSION_ID]
    return extension


def _extension_of(text: str) -> dict[str, Any]:
    extensions: dict[str, Any] = label_markings(_label(text))[0]["extensions"]
    return extensions


def _tampered(change: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    label = _label("SECRET//REL TO USA, JPN, KOR")
    definitions = label_markings(label)
    change(definitions[0])
    return mark(INDICATOR, label), definitions


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: _extension(d).update(rel_to=["USA", "JPN"]), "do not match"),
        (lambda d: d["extensions"].update(_extension_of("SECRET//NOFORN")), "id does not"),
        (lambda d: _extension(d).update(banner="SECRET//REL TO XXX"), "bad banner"),
        (lambda d: _extension(d).update(caveat="x"), "unknown label extension"),
        (lambda d: _extension(d).update(policy="NATO"), "policy"),
        (lambda d: _extension(d).pop("banner"), "no banner"),
        (lambda d: _extension(d).update(owner="JPN"), "do not match|id does not"),
        (lambda d: d.update(definition_type="statement"), "nothing but"),
    ],
)  # fmt: skip
def test_a_tampered_label_marking_is_refused(change: Any, reason: str) -> None:
    obj, definitions = _tampered(change)
    with pytest.raises(DecodeError, match=reason):
        label_of(obj, definitions)


def test_a_definition_filed_under_another_id_is_refused() -> None:
    label, other = _label("SECRET//REL TO USA, JPN"), _label("SECRET//NOFORN")
    table = _table(label_markings(label))
    table[marking_refs(label)[0]] = label_markings(other)[0]
    with pytest.raises(DecodeError, match="another id"):
        label_of(mark(INDICATOR, label), table)


def test_a_tlp_id_defined_as_another_colour_is_refused() -> None:
    forged = tlp_marking(Tlp.RED)
    forged["extensions"]["extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"][
        "tlp_2_0"
    ] = "clear"
    obj = dict(INDICATOR, object_marking_refs=[forged["id"]])
    with pytest.raises(DecodeError, match=r"TLP 2\.0"):
        label_of(obj, [forged])


@pytest.mark.parametrize(
    ("refs", "reason"),
    [
        (["identity--3c0ba70d-7f8f-44f5-87ce-150e04f06f97"], "not a marking-definition"),
        (["marking-definition--NOT-A-UUID"], "not a STIX identifier"),
        ([17], "not a STIX identifier"),
    ],
)
def test_references_that_are_not_markings_are_refused(refs: list[Any], reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        label_of(dict(INDICATOR, object_marking_refs=refs), [])


def test_granular_markings_by_language_are_refused() -> None:
    label = _label("UNCLASSIFIED")
    obj = mark(INDICATOR, label)
    obj["granular_markings"] = [{"lang": "ja", "selectors": ["description"]}]
    with pytest.raises(DecodeError, match="only marking_ref"):
        label_of(obj, label_markings(label))


def test_definitions_may_be_a_mapping_or_the_bundle_objects() -> None:
    label = _label("CONFIDENTIAL//REL TO USA, KOR//TLP:AMBER+STRICT")
    obj = mark(INDICATOR, label)
    as_list = [INDICATOR, trilat_identity(), *label_markings(label)]
    assert label_of(obj, as_list) == label_of(obj, _table(label_markings(label))) == label
    assert label_of(copy.deepcopy(obj), as_list).owner == "USA"


def test_produced_times_are_fixed() -> None:
    for marking in label_markings(_label("SECRET//NOFORN")):
        created = datetime.fromisoformat(marking["created"].replace("Z", "+00:00"))
        assert created == datetime(2025, 1, 1, tzinfo=UTC)
