"""Labels against the hand-written vectors in tests/vectors/labels (see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trilat.core.errors import LabelError
from trilat.core.labels import format_banner, format_portion, parse_label, roll_up

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "labels"


def groups(name: str) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return list(data["groups"])


GRAMMAR = groups("grammar.json")
ROLLUP = groups("rollup.json")
GRAMMAR_REJECTS = [(g["name"], r) for g in GRAMMAR for r in g["reject"]]
ROLLUP_REJECTS = [(g["name"], r) for g in ROLLUP for r in g["reject"]]


def test_every_accepting_vector_has_rejecting_siblings() -> None:
    for group in GRAMMAR + ROLLUP:
        assert group["reject"], group["name"]


@pytest.mark.parametrize("group", GRAMMAR, ids=lambda g: g["name"])
def test_grammar_vector_renders_its_canonical_banner_and_portion(group: dict[str, Any]) -> None:
    case = group["accept"]
    label = parse_label(case["text"])
    assert format_banner(label) == case["banner"]
    assert format_portion(label) == case["portion"]
    assert parse_label(case["banner"]) == label
    assert parse_label(case["portion"]) == label


@pytest.mark.parametrize(("name", "case"), GRAMMAR_REJECTS, ids=lambda v: str(v)[:40])
def test_grammar_sibling_is_refused_naming_token_and_offset(
    name: str, case: dict[str, Any]
) -> None:
    with pytest.raises(LabelError) as caught:
        parse_label(case["text"])
    exc = caught.value
    assert (exc.token, exc.position, exc.reason) == (
        case["token"],
        case["position"],
        case["reason"],
    )
    assert exc.text == case["text"]


@pytest.mark.parametrize("group", ROLLUP, ids=lambda g: g["name"])
def test_rollup_vector_gives_its_banner(group: dict[str, Any]) -> None:
    case = group["accept"]
    assert format_banner(roll_up(parse_label(p) for p in case["portions"])) == case["banner"]


@pytest.mark.parametrize(("name", "case"), ROLLUP_REJECTS, ids=lambda v: str(v)[:40])
def test_rollup_sibling_is_refused_naming_the_bad_token(name: str, case: dict[str, Any]) -> None:
    with pytest.raises(LabelError) as caught:
        roll_up(parse_label(p) for p in case["portions"])
    assert (caught.value.token, caught.value.reason) == (case["token"], case["reason"])
