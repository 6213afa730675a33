"""The fast STIX 2.1 check says "valid" only where ``stix2`` does, and ``check_stix`` as a
whole accepts exactly what ``stix2.parse`` accepts: on generated objects of every covered
type, on mutations of them, on generated and mutated patterns, and on the published STIX 2.1
examples shipped with stix2-validator."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import stix2
import stix2validator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2.utils import parse_into_datetime
from stix2patterns.validator import run_validator

from trilat.adapters._stix_check import (
    COVERED_TYPES,
    SCO_TYPES,
    SDO_TYPES,
    certainly_valid,
    common_pattern_valid,
    instant,
)
from trilat.adapters.stix import _STIX_ID, check_stix
from trilat.core.errors import DecodeError

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _stix2_accepts(obj: dict[str, Any]) -> bool:
    try:
        stix2.parse(obj, allow_custom=True)
    except Exception:  # whatever stix2 raises, it does not accept the object
        return False
    return True


def _check_stix_accepts(obj: dict[str, Any]) -> bool:
    try:
        check_stix(obj)
    except DecodeError:
        return False
    return True


def _agrees(obj: dict[str, Any]) -> None:
    identifier, kind = obj.get("id"), obj.get("type")
    if not (
        obj.get("spec_version") == "2.1"
        and isinstance(identifier, str)
        and isinstance(kind, str)
        and _STIX_ID.fullmatch(identifier)
        and identifier.startswith(f"{kind}--")
    ):  # check_stix asks for 2.1 and a lower-case id of the object's type before stix2
        assert not certainly_valid(obj)
        assert not _check_stix_accepts(obj)
        return
    expected = _stix2_accepts(obj)
    if certainly_valid(obj):
        assert expected, f"the fast check vouched for an object stix2 refuses: {obj}"
    assert _check_stix_accepts(obj) == expected


# --- generated objects -----------------------------------------------------------------------

_STAMPS = st.builds(
    lambda day, seconds, digits: (
        datetime.fromtimestamp(day * 86_400 + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        + ("." + "123456"[:digits] if digits else "")
        + "Z"
    ),
    st.integers(0, 40_000),
    st.integers(0, 86_399),
    st.integers(0, 6),
)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_WORDS = st.lists(_TEXT, min_size=1, max_size=3)


def _ref(kind: str) -> str:
    return f"{kind}--{uuid.uuid4()}"


_REF_TYPES = sorted(SDO_TYPES | SCO_TYPES)
_PATTERNS = st.sampled_from(
    [
        "[ipv4-addr:value = '198.51.100.7']",
        "[domain-name:value = 'example.org'] OR [url:value = 'http://example.org/a']",
        "[file:name = 'a.exe' AND file:size = 1024]",
        "([x-custom:a.b[0].'c d' != 'e'] FOLLOWEDBY [file:name NOT = 'x'])",
        "[file:hashes.'SHA-256' = '" + "ae" * 32 + "']",
        "[file:name = 'x'] WITHIN 5 SECONDS",
        "[network-traffic:dst_port > 1024]",
    ]
)


@st.composite
def _common(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    created = draw(_STAMPS)
    obj: dict[str, Any] = {
        "type": kind,
        "spec_version": "2.1",
        "id": _ref(kind),
        "created": created,
        "modified": draw(st.sampled_from([created, "2100-01-01T00:00:00.000Z"])),
    }
    optional: dict[str, Any] = {
        "created_by_ref": _ref("identity"),
        "revoked": draw(st.booleans()),
        "labels": draw(_WORDS),
        "confidence": draw(st.integers(0, 100)),
        "lang": "en",
        "external_references": [
            {"source_name": "cve", "external_id": "CVE-2024-0001"},
            {"source_name": "x", "url": "https://example.org", "description": "d"},
        ],
        "object_marking_refs": [_ref("marking-definition")],
        "x_trilat_note": draw(st.one_of(_TEXT, st.integers(), st.lists(_TEXT))),
    }
    for key in draw(st.sets(st.sampled_from(sorted(optional)))):
        obj[key] = optional[key]
    return obj


@st.composite
def _valid(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(COVERED_TYPES)))
    obj = draw(_common(kind))
    early, late = sorted([draw(_STAMPS), draw(_STAMPS)], key=instant)  # by time, not text
    phases = [{"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "delivery"}]
    specific: dict[str, dict[str, Any]] = {
        "indicator": {
            "name": draw(_TEXT),
            "indicator_types": ["malicious-activity"],
            "pattern": draw(_PATTERNS),
            "pattern_type": "stix",
            "valid_from": early,
            "kill_chain_phases": phases,
        },
        "attack-pattern": {"name": draw(_TEXT), "aliases": draw(_WORDS)},
        "identity": {"name": draw(_TEXT), "identity_class": "organization", "sectors": ["defense"]},
        "malware": {"name": draw(_TEXT), "is_family": draw(st.booleans()), "first_seen": early},
        "vulnerability": {"name": draw(_TEXT), "description": draw(_TEXT)},
        "note": {"content": draw(_TEXT), "object_refs": [_ref(draw(st.sampled_from(_REF_TYPES)))]},
        "report": {
            "name": draw(_TEXT),
            "published": late,
            "object_refs": [_ref(draw(st.sampled_from(_REF_TYPES)))],
        },
        "observed-data": {
            "first_observed": early,
            "last_observed": late,
            "number_observed": draw(st.integers(1, 999_999_999)),
            "object_refs": [_ref(draw(st.sampled_from(sorted(SCO_TYPES))))],
        },
        "relationship": {
            "relationship_type": "indicates",
            "source_ref": _ref(draw(st.sampled_from(_REF_TYPES))),
            "target_ref": _ref(draw(st.sampled_from(_REF_TYPES))),
            "start_time": early,
        },
        "sighting": {
            "sighting_of_ref": _ref(draw(st.sampled_from(sorted(SDO_TYPES)))),
            "where_sighted_refs": [_ref("identity")],
            "count": draw(st.integers(0, 999_999_999)),
            "first_seen": early,
            "last_seen": late,
            "summary": draw(st.booleans()),
        },
    }
    obj.update(specific[kind])
    later = {
        "indicator": "valid_until",
        "malware": "last_seen",
        "relationship": "stop_time",
    }.get(kind)
    if later is not None and instant(late) > instant(early) and draw(st.booleans()):
        obj[later] = late
    return obj


_ODD_VALUES = st.sampled_from(
    [
        None,
        [],
        {},
        "",
        "x",
        5,
        -1,
        101,
        True,
        1.5,
        ["a"],
        [5],
        [None],
        {"a": 1},
        "2026-02-30T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:60Z",
        "2026-01-01T00:00:00.1234567Z",
        "2026-01-01t00:00:00z",
        "2026-1-1T0:0:0Z",
        "1970-01-01T00:00:00Z",
        "2999-12-31T23:59:59.999Z",
        "identity--" + str(uuid.uuid4()),
        "identity--" + str(uuid.uuid4()).upper(),
        "identity--00000000-0000-4000-0000-000000000000",
        "marking-definition--" + str(uuid.uuid4()),
        "relationship--" + str(uuid.uuid4()),
        "x-custom--" + str(uuid.uuid4()),
        [{"source_name": "a"}],
        [{"source_name": "a", "hashes": {"MD5": "00"}}],
        [{"kill_chain_name": "a"}],
        "[file:name = 'x'",
        "[file:hashes.MD5 = 'zz']",
    ]
)
_KEYS = st.sampled_from(
    [
        "type",
        "id",
        "spec_version",
        "created",
        "modified",
        "name",
        "pattern",
        "pattern_type",
        "pattern_version",
        "valid_from",
        "valid_until",
        "is_family",
        "first_seen",
        "last_seen",
        "object_refs",
        "sighting_of_ref",
        "source_ref",
        "target_ref",
        "start_time",
        "stop_time",
        "count",
        "number_observed",
        "published",
        "confidence",
        "revoked",
        "labels",
        "created_by_ref",
        "object_marking_refs",
        "granular_markings",
        "extensions",
        "external_references",
        "kill_chain_phases",
        "x_custom",
        "Xbad",
        "badprop",
        "objects",
    ]
)


@st.composite
def _mutated(draw: st.DrawFn) -> dict[str, Any]:
    obj = draw(_valid())
    for _ in range(draw(st.integers(1, 3))):
        key = draw(_KEYS)
        if draw(st.booleans()) and key in obj and key not in ("type", "id", "spec_version"):
            del obj[key]
        else:
            obj[key] = draw(_ODD_VALUES)
    return obj


@SETTINGS
@given(_valid())
def test_generated_valid_objects_take_the_fast_path_where_stix2_agrees(obj: dict[str, Any]) -> None:
    _agrees(obj)
    pattern = obj.get("pattern", "")
    if "WITHIN" not in pattern and ">" not in pattern and "hashes" not in pattern:
        assert certainly_valid(obj), obj


@SETTINGS
@given(_mutated())
def test_mutated_objects_are_judged_as_stix2_judges_them(obj: dict[str, Any]) -> None:
    _agrees(obj)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"modified": "2000-01-01T00:00:00.000Z"}, "modified before created"),
        ({"confidence": 500}, "confidence out of the spec's range"),
        ({"name": 5}, "a number where a string belongs"),
        ({"labels": "one"}, "a string where a list belongs"),
        ({"revoked": "true"}, "a string where a boolean belongs"),
        ({"created": "2026-01-02T03:04:05+00:00"}, "an offset instead of Z"),
        ({"valid_from": None}, "a null property"),
        ({"pattern_version": "2.0"}, "another pattern version"),
    ],
)
def test_objects_stix2_is_lax_about_are_left_to_it(change: dict[str, Any], reason: str) -> None:
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": _ref("indicator"),
        "created": "2026-01-02T03:04:05.000Z",
        "modified": "2026-01-02T03:04:05.000Z",
        "pattern": "[ipv4-addr:value = '198.51.100.7']",
        "pattern_type": "stix",
        "valid_from": "2026-01-02T03:04:05Z",
    }
    assert certainly_valid(obj)
    obj.update(change)
    assert not certainly_valid(obj), reason
    _agrees(obj)


# --- timestamps and patterns -------------------------------------------------------------------


@SETTINGS
@given(st.one_of(_STAMPS, _ODD_VALUES.filter(lambda v: isinstance(v, str)), _TEXT))
def test_a_timestamp_the_fast_check_reads_is_the_instant_stix2_reads(text: str) -> None:
    found = instant(text)
    if found is not None:
        assert parse_into_datetime(text) == found


_PATHS = st.builds(
    lambda kind, first, rest: f"{kind}:{first}{''.join(rest)}",
    st.sampled_from(["ipv4-addr", "x", "file", "_t", "x-y", "AND", "true", "a-"]),
    st.sampled_from(["value", "name", "'q r'", "_p", "a-b", "OR", "false", "'"]),
    st.lists(
        st.sampled_from([".a", ".'b c'", "[0]", "[*]", "[12]", "[-1]", ".", "[01]"]), max_size=3
    ),
)
_LITERALS = st.sampled_from(
    ["'v'", "'a\\'b'", "'\\\\'", "'\\x'", "0", "17", "01", "1.5", "''", "h'ab'", "b'YQ=='", "true"]
)
_OPERATORS = st.sampled_from([" = ", " != ", " NOT = ", "=", " == ", " <> ", " > ", " LIKE "])


@st.composite
def _pattern(draw: st.DrawFn, depth: int = 0) -> str:
    def comparison(level: int) -> str:
        if level < 2 and draw(st.integers(0, 4)) == 0:
            return "(" + comparison(level + 1) + ")"
        text = draw(_PATHS) + draw(_OPERATORS) + draw(_LITERALS)
        if level < 3 and draw(st.booleans()):
            text += draw(st.sampled_from([" AND ", " OR ", " FOLLOWEDBY "])) + comparison(level + 1)
        return text

    def observation(level: int) -> str:
        if level < 2 and draw(st.integers(0, 4)) == 0:
            return "(" + observation(level + 1) + ")"
        text = "[" + comparison(0) + "]"
        if level < 3 and draw(st.booleans()):
            text += draw(st.sampled_from([" AND ", " OR ", " FOLLOWEDBY ", " WITHIN 5 SECONDS "]))
            text += observation(level + 1)
        return text

    pattern = observation(depth)
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(pattern)))
        piece = draw(
            st.sampled_from(["", " ", "[", "]", "(", ")", "'", "\\", "\t", "-", ":", "hashes"])
        )
        pattern = pattern[:at] + piece + pattern[at + draw(st.integers(0, 2)) :]
    return pattern


@settings(max_examples=600, deadline=None)
@given(_pattern())
def test_a_pattern_the_fast_check_passes_is_one_the_stix_validator_passes(pattern: str) -> None:
    if common_pattern_valid(pattern):
        assert run_validator(pattern, "2.1") == [], pattern


def test_the_common_pattern_shapes_take_the_fast_path() -> None:
    for pattern in (
        "[ipv4-addr:value = '203.0.113.7'] OR [domain-name:value = 'h7.bench.example']",
        "[file:name = 'a.exe' AND file:size = 1024]",
        "([url:value = 'http://example.org/a\\'b'] FOLLOWEDBY [x-c:a[0].'b c' NOT != 'd'])",
    ):
        assert common_pattern_valid(pattern), pattern
        assert run_validator(pattern, "2.1") == []


# --- published examples --------------------------------------------------------------------------

EXAMPLES = Path(stix2validator.__file__).parent / "schemas-2.1"


def _published_objects() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*/**/*.json")):
        if "schemas" in path.relative_to(EXAMPLES).parts[:1]:
            continue
        document = json.loads(path.read_text(encoding="utf-8"))
        objects = document.get("objects", [document]) if isinstance(document, dict) else []
        found.extend(obj for obj in objects if isinstance(obj, dict) and "id" in obj)
    return found


def test_the_published_stix_examples_are_judged_as_stix2_judges_them() -> None:
    objects = [
        obj
        for obj in _published_objects()
        if obj.get("spec_version") == "2.1" and obj.get("type") in COVERED_TYPES
    ]
    if not objects:
        pytest.skip(f"no STIX 2.1 examples under {EXAMPLES}")
    fast = 0
    for obj in objects:
        _agrees(obj)
        fast += certainly_valid(obj)
    print(
        f"{len(objects)} published objects of covered types, {fast} vouched for by the fast check"
    )
    assert fast > 0


def test_a_shape_that_makes_stix2_raise_something_else_is_a_decode_error() -> None:
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": _ref("indicator"),
        "created": "2026-01-02T03:04:05.000Z",
        "modified": "2026-01-02T03:04:05.000Z",
        "pattern": "[ipv4-addr:value = '198.51.100.7']",
        "pattern_type": "stix",
        "valid_from": "2026-01-02T03:04:05Z",
        "extensions": "not an object",  # stix2 raises AttributeError on this
    }
    with pytest.raises(DecodeError, match=obj["id"]):
        check_stix(obj)
