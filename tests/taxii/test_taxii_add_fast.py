"""The add path's shortcuts change no outcome: common objects are checked without the worker
pool, markings are read once per distinct set yet every object gets the label its own
markings give (refusals included), and each object is still sealed and audited on its own."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path

import pytest

from tests.api.conftest import make_node
from tests.taxii.conftest import indicator, marked
from trilat.adapters.stix import (
    LABEL_EXTENSION_ID,
    MarkingReader,
    check_stix_all,
    item_from_stix,
    label_markings,
    label_of,
    mark,
)
from trilat.api.taxii_add import Adder, StatusBook, Validator
from trilat.core.errors import DecodeError
from trilat.core.items import verify
from trilat.core.labels import parse_label

TLP1_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"


def test_common_objects_are_checked_without_starting_the_worker_pool() -> None:
    objects = [marked(indicator(n), "green")[0] for n in range(200)]
    validator = Validator(workers=2, threshold=1)
    try:
        assert validator.check(objects) == [None] * 200
        assert validator._pool is None
    finally:
        validator.close()


def test_objects_the_fast_check_leaves_to_stix2_get_its_verdict_and_words() -> None:
    objects = [marked(indicator(n), "green")[0] for n in range(5)]
    objects[1]["valid_until"] = "2020-01-01T00:00:00Z"  # before valid_from: stix2 refuses
    objects[3]["name"] = 7  # stix2 reads it as "7" and accepts
    validator = Validator(workers=1)
    found = validator.check(objects)
    assert found == check_stix_all(objects)
    assert [error is None for error in found] == [True, False, True, True, True]
    assert found[1] is not None
    assert "valid_until" in found[1]


def test_the_marking_reader_gives_each_object_the_label_of_its_own_markings() -> None:
    green, green_definitions = marked(indicator(1), "green")
    secret, secret_definitions = marked(indicator(2), "rel-jpn")
    definitions = [*green_definitions, *secret_definitions]
    reader = MarkingReader(definitions)
    for obj in (green, secret, copy.deepcopy(green), copy.deepcopy(secret)):
        assert reader.label(obj) == label_of(obj, definitions)
    assert reader.label(green) != reader.label(secret)


def test_the_same_references_with_other_definitions_are_read_again() -> None:
    obj, definitions = marked(indicator(1), "green")
    green = parse_label("UNCLASSIFIED//TLP:GREEN", owner="USA")
    assert MarkingReader(definitions).label(obj) == green  # now cached for these definitions
    forged = copy.deepcopy(definitions)
    label_marking = next(d for d in forged if LABEL_EXTENSION_ID in d.get("extensions", {}))
    other = parse_label("SECRET//NOFORN", owner="USA")
    label_marking["extensions"] = label_markings(other)[0]["extensions"]  # same id
    with pytest.raises(DecodeError, match="id does not match"):
        label_of(obj, forged)
    with pytest.raises(DecodeError, match="id does not match"):
        MarkingReader(forged).label(obj)


def test_markings_refused_once_are_refused_for_every_object_that_carries_them() -> None:
    unknown = f"marking-definition--{uuid.uuid4()}"
    objects = [{**indicator(n), "object_marking_refs": [unknown]} for n in range(3)]
    reader = MarkingReader([])
    for obj in objects:
        with pytest.raises(DecodeError, match="unknown markings are refused"):
            reader.label(obj)


def test_a_label_owned_by_another_nation_is_refused_when_an_owner_is_given() -> None:
    obj, definitions = marked(indicator(1), "green")
    item = item_from_stix(obj, MarkingReader(definitions), owner="USA", checked=True)
    assert item.label.owner == "USA"
    jpn = parse_label("SECRET//REL TO USA, JPN", owner="JPN")
    foreign = mark(indicator(2), jpn)
    with pytest.raises(DecodeError, match="owned by JPN"):
        item_from_stix(foreign, MarkingReader(label_markings(jpn)), owner="USA", checked=True)


def test_an_envelope_with_tlp1_markings_is_sealed_and_audited_object_by_object(
    tmp_path: Path,
) -> None:
    made = make_node(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    node = made.node
    admin = next(user for user in node.store.users() if user.name == "admin")
    adder = Adder(node, StatusBook(1000), Validator(workers=1))
    objects = [{**indicator(n), "object_marking_refs": [TLP1_GREEN]} for n in range(50)]
    objects[7]["object_marking_refs"] = [f"marking-definition--{uuid.uuid4()}"]
    before = node.store.audit_size()
    try:
        successes, failures = adder.add("cyber", admin, objects)
        assert len(successes) == 49
        assert [f["id"] for f in failures] == [objects[7]["id"]]
        assert node.store.audit_size() == before + 49
        stored = node.store.read_after(0, 100)
        assert len(stored) == 49
        assert len({row.id for row in stored}) == 49
        for row in stored:
            envelope = node.envelope_of(row)
            assert envelope is not None
            verify(envelope, node.public_key)
            assert envelope.label == parse_label("UNCLASSIFIED//TLP:GREEN", owner="USA")
    finally:
        adder.close()
        node.store.close()
