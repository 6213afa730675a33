"""RFC 8785 canonical JSON against the RFC's own examples and ECMAScript number rules."""

from __future__ import annotations

import json
import math
import struct
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilat.core.canonical import canonical_json


def _double(bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits))[0]
    return value


# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), APPENDIX_B, ids=[b for b, _ in APPENDIX_B])
def test_numbers_print_as_rfc8785_appendix_b(bits: str, text: str) -> None:
    assert canonical_json(_double(bits)) == text.encode()


# Doubles around the switches between integer, fixed and exponent forms; the expected
# text is what ECMAScript's JSON.stringify writes for each.
BOUNDARIES = [
    (9999999999999998.0, "9999999999999998"),
    (9007199254740994.0, "9007199254740994"),
    (1e16, "10000000000000000"),
    (12345678901234568.0, "12345678901234568"),
    (0.0001, "0.0001"),
    (0.00009999999999999999, "0.00009999999999999999"),
    (0.000123, "0.000123"),
    (1e-7, "1e-7"),
    (123456789012345.67, "123456789012345.67"),
    (4.35, "4.35"),
    (0.1 + 0.2, "0.30000000000000004"),
    (-1e-4, "-0.0001"),
    (1e20, "100000000000000000000"),
    (123e18, "123000000000000000000"),
]


@pytest.mark.parametrize(("value", "text"), BOUNDARIES, ids=[t for _, t in BOUNDARIES])
def test_numbers_at_form_boundaries_print_as_ecmascript_does(value: float, text: str) -> None:
    assert canonical_json(value) == text.encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinities_are_refused(bits: str) -> None:
    with pytest.raises(ValueError, match="NaN and Infinity"):
        canonical_json([_double(bits)])


def test_rfc8785_section_3_2_2_example() -> None:
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode("utf-8")


def test_rfc8785_section_3_2_3_keys_sort_by_utf16_code_units() -> None:
    source = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    values = list(json.loads(canonical_json(source)).values())
    assert values == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",  # U+1F600 is D83D DE00 in UTF-16: before U+FB33
        "Hebrew Letter Dalet With Dagesh",
    ]


def test_strings_escape_only_what_rfc8785_requires() -> None:
    text = '"\\/\b\f\n\r\t\x00\x1f\x7f\u2028é😀'
    assert canonical_json(text) == ('"\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\u2028é😀"'.encode())


def test_output_is_utf8_without_whitespace() -> None:
    assert (
        canonical_json({"b": [1, {"c": None}], "a": "ü"}) == '{"a":"ü","b":[1,{"c":null}]}'.encode()
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2**53, "9007199254740992"),
        (-(2**53), "-9007199254740992"),
        (2**60, "1152921504606847000"),  # ECMAScript: shortest digits, then zeros
        (10**21, "1e+21"),
        (10**22, "1e+22"),
        (50460787963956990, "50460787963956990"),  # how a parser reads 5.046078796395699e16
        (True, "true"),
        (0, "0"),
        (-7, "-7"),
    ],
)
def test_integers_print_as_the_double_they_denote(value: int, text: str) -> None:
    assert canonical_json(value) == text.encode()


@pytest.mark.parametrize("value", [2**53 + 1, -(2**53) - 1, 2**60 + 1, 10**400])
def test_integers_no_double_holds_exactly_are_refused(value: int) -> None:
    with pytest.raises(ValueError, match="IEEE 754"):
        canonical_json({"n": value})


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({1: "x"}, TypeError),
        ({b"k": "x"}, TypeError),
        ({"k": {1, 2}}, TypeError),
        ([b"bytes"], TypeError),
        (object(), TypeError),
        ("\ud800", ValueError),
        ({"\udfff": 1}, ValueError),
    ],
)
def test_non_json_values_are_refused(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        canonical_json(value)


def test_read_only_mappings_and_tuples_encode_like_dicts_and_lists() -> None:
    frozen = MappingProxyType({"b": (1, 2), "a": MappingProxyType({"c": ()})})
    assert canonical_json(frozen) == canonical_json({"b": [1, 2], "a": {"c": []}})


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",))),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)), max_size=6), inner)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_canonical_form_parses_back_and_is_a_fixed_point(value: Any) -> None:
    encoded = canonical_json(value)
    decoded = json.loads(encoded)
    assert _same_json(decoded, value)
    assert canonical_json(decoded) == encoded


def _same_json(left: Any, right: Any) -> bool:
    """JSON equality with numbers compared as doubles (a parser may read 1e16 as an int)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same_json(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(_same_json, left, right))
    if isinstance(left, int | float) and not isinstance(left, bool):
        return isinstance(right, int | float) and float(left) == float(right)
    return bool(left == right)


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_double_prints_in_shortest_round_trip_form(value: float) -> None:
    text = canonical_json(value).decode()
    assert float(text) == value or (value == 0 and text == "0")
    assert "E" not in text
    assert not text.startswith("+")
    digits = text.lstrip("-").split("e")[0].replace(".", "").strip("0")
    assert len(digits) <= 17
    if abs(value) >= 1e21 or (value != 0 and abs(value) < 1e-6):
        assert "e" in text
    elif math.isfinite(value):
        assert "e" not in text
