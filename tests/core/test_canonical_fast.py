"""The C-encoder fast path of canonical_json prints exactly what the full RFC 8785 encoder does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilat.core import canonical
from trilat.core.canonical import _full_canonical_json, canonical_json

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),  # lone surrogates tested apart
    max_size=12,
)
_AWKWARD = st.sampled_from(
    ["\x7f", "\u2028", "\u2029", "\x00", "\x1f", '"', "\\", "\b\f\n\r\t", "\ue000", "\U0001f600"]
)
_STRINGS = st.one_of(_TEXT, _AWKWARD, st.lists(_AWKWARD, max_size=4).map("".join))
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e-4, 9.999e-5, 1e16, 9999999999999998.0, 7600.0, 1e21, 5e-324]),
    _STRINGS,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(_STRINGS, children, max_size=5),
    ),
    max_leaves=30,
)


def _full_or_error(value: Any) -> bytes | type[Exception]:
    try:
        return _full_canonical_json(value)
    except (TypeError, ValueError) as exc:
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_fast_path_equals_the_full_encoder_on_random_json(value: Any) -> None:
    expected = _full_or_error(value)
    if isinstance(expected, bytes):
        assert canonical_json(value) == expected
    else:
        with pytest.raises(expected):
            canonical_json(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"a": 7600.0, "b": -0.0, "c": [1.0, 0.5]}, '{"a":7600,"b":0,"c":[1,0.5]}'),
        ({"s": "\x7f\u2028\u2029"}, '{"s":"\x7f\u2028\u2029"}'),
        ({"s": '\x00\x1f\b\f\n\r\t"\\'}, '{"s":"\\u0000\\u001f\\b\\f\\n\\r\\t\\"\\\\"}'),
        ({"\ue000": 1, "\U0001f600": 2}, '{"\U0001f600":2,"\ue000":1}'),
        ({"n": 1e21, "m": 1e-7}, '{"m":1e-7,"n":1e+21}'),
        ([2**60, 2**53], "[1152921504606847000,9007199254740992]"),
    ],
)
def test_values_near_the_fast_path_edges_print_as_rfc8785(value: Any, text: str) -> None:
    assert canonical_json(value) == text.encode("utf-8")
    assert canonical_json(value) == _full_canonical_json(value)


def test_json_dumps_escapes_exactly_what_rfc8785_escapes() -> None:
    """The premise of the fast path, checked over every BMP character."""
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        fast = json.dumps(char, ensure_ascii=False)
        assert fast.encode("utf-8") == _full_canonical_json(char), hex(code)


@pytest.mark.parametrize("value", [{"k": "\ud800"}, {"\udfff": 1}, ["x\udc00y"]])
def test_lone_surrogates_are_refused_on_the_fast_path_too(value: Any) -> None:
    with pytest.raises(ValueError, match="surrogate"):
        canonical_json(value)


def test_values_the_c_encoder_cannot_prove_take_the_full_encoder() -> None:
    class Count(int):
        pass

    assert canonical._fast_value({"a": [1, "b", None]}) == {"a": [1, "b", None]}
    for value in ({"a": Count(3)}, {1: "x"}, {"k": 2**53 + 2}, {"f": 1e16}, {"f": 5e-5}):
        with pytest.raises(canonical._NotFast):
            canonical._fast_value(value)
    assert canonical_json({"a": Count(3)}) == b'{"a":3}'
    with pytest.raises(TypeError):
        canonical_json({1: "x"})
