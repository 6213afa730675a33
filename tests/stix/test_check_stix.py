"""``check_stix``: the checks of ``stix2.parse`` with STIX patterns validated through a cache,
so a cached pattern never lets an invalid object through."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import stix2
import stix2.exceptions

from trilat.adapters.stix import _pattern_error, check_stix, check_stix_all
from trilat.core.errors import DecodeError


def _indicator(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-01-02T03:04:05.000Z",
        "modified": "2026-01-02T03:04:05.000Z",
        "name": "check",
        "indicator_types": ["malicious-activity"],
        "pattern": "[ipv4-addr:value = '198.51.100.7']",
        "pattern_type": "stix",
        "valid_from": "2026-01-02T03:04:05.000Z",
    }
    obj.update(changes)
    return {key: value for key, value in obj.items() if value is not None}


def _stix2_accepts(obj: dict[str, Any]) -> bool:
    try:
        stix2.parse(obj, allow_custom=True)
    except (stix2.exceptions.STIXError, ValueError, TypeError):
        return False
    return True


CASES = {
    "valid": _indicator(),
    "valid, custom property": _indicator(x_trilat_note="kept"),
    "valid, pattern version 2.1 given": _indicator(pattern_version="2.1"),
    "valid, sigma pattern not parsed as STIX": _indicator(pattern="title: x", pattern_type="sigma"),
    "pattern does not parse": _indicator(pattern="[ipv4-addr:value = "),
    "pattern names no object": _indicator(pattern="[value = '1']"),
    "valid_until before valid_from": _indicator(valid_until="2020-01-01T00:00:00Z"),
    "name is not a string": _indicator(name=["a"]),
    "no pattern": _indicator(pattern=None),
    "unknown property not custom": _indicator(badprop="x"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_stix_agrees_with_stix2_parse(case: str) -> None:
    obj = CASES[case]
    expected = _stix2_accepts(obj)
    for _ in range(2):  # the second time the pattern comes from the cache
        if expected:
            check_stix(obj)
        else:
            with pytest.raises(DecodeError, match=obj["id"]):
                check_stix(obj)


def test_a_cached_bad_pattern_is_refused_for_every_object_that_carries_it() -> None:
    pattern = f"[file:name = '{uuid.uuid4()}'] AND"
    first, second = _indicator(pattern=pattern), _indicator(pattern=pattern)
    hits = _pattern_error.cache_info().hits
    errors = check_stix_all([first, second, _indicator()])
    assert errors[0] is not None
    assert pattern[:20] in errors[0]
    assert errors[1] is not None
    assert second["id"] in errors[1]
    assert errors[2] is None
    assert _pattern_error.cache_info().hits > hits


def test_check_stix_leaves_the_object_unchanged() -> None:
    obj = _indicator()
    before = dict(obj)
    check_stix(obj)
    assert obj == before
