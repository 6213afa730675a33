"""Results become items: the label is the roll-up of the inputs', refs point at the tracks."""

from __future__ import annotations

import pytest

from trilat.analytics.maritime import derived_item
from trilat.core.labels import format_banner, parse_label


def test_encounter_item_takes_the_roll_up_label_and_refs_both_tracks(batch_analysis) -> None:
    encounter = batch_analysis.encounters[0]
    a, b = encounter.vessels
    labels = [
        parse_label("SECRET//REL TO USA, JPN, KOR", owner="USA"),
        parse_label("CONFIDENTIAL//REL TO USA, JPN", owner="JPN"),
    ]
    item = derived_item(encounter, labels, {a: "track-a", b: "track-b", 1: "unrelated"})
    assert item["kind"] == "encounter"
    assert item["body"] == encounter.as_event()
    assert format_banner(item["label"]) == "SECRET//REL TO USA, JPN"
    assert item["refs"] == ["track-a", "track-b"]


def test_gap_item_is_never_less_restrictive_than_an_input(batch_analysis) -> None:
    gap = batch_analysis.gaps[0]
    labels = [parse_label("UNCLASSIFIED"), parse_label("SECRET//NOFORN", owner="USA")]
    item = derived_item(gap, labels, {})
    assert format_banner(item["label"]) == "SECRET//NOFORN"
    assert item["refs"] == []
    assert item["body"]["type"] == "ais_gap"


def test_a_derived_item_without_input_labels_is_refused(batch_analysis) -> None:
    with pytest.raises(ValueError, match="labels of its inputs"):
        derived_item(batch_analysis.loitering[0], [], {})
