"""``seal`` walks the body once (check and plain copy together) and reuses the item's frozen
body: the same envelopes, bytes and refusals as checking, freezing and thawing separately."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trilat.core import _crypto
from trilat.core.canonical import canonical_json
from trilat.core.errors import DecodeError
from trilat.core.items import (
    Item,
    Originator,
    _check_body,
    _plain_body,
    _thaw,
    _unsigned_document,
    document_bytes,
    envelope_from_document,
    seal,
    signing_bytes,
    verify,
)
from trilat.core.labels import parse_label

KEY = _crypto.generate_private_key()
USA = Originator("usa-1", "USA")
AT = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)

_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["\ud800", "a\udfff", b"bytes", {1, 2}, 2**53 + 1, -(2**53) - 1]),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=4), inner, max_size=4),
        st.dictionaries(st.sampled_from(["k", "\udc00", 1]), inner, max_size=2),
    ),
    max_leaves=12,
)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "value", call()
    except DecodeError as exc:
        return "refused", str(exc)


def _separately(value: Any) -> Any:
    _check_body(value)
    return _thaw(value)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=4), _VALUES, max_size=5))
def test_one_walk_checks_and_copies_as_the_separate_walks_do(body: dict[str, Any]) -> None:
    one = _outcome(lambda: _plain_body(body))
    two = _outcome(lambda: _separately(body))
    if one[0] == "value" and two[0] == "value":
        assert json.dumps(one[1], sort_keys=True) == json.dumps(two[1], sort_keys=True)
    else:
        assert one == two


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=5)),
            lambda inner: st.one_of(
                st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
            ),
            max_leaves=10,
        ),
        max_size=5,
    )
)
def test_a_sealed_envelope_signs_and_stores_the_bytes_of_its_document(body: dict[str, Any]) -> None:
    item = Item(
        kind="indicator",
        label=parse_label("UNCLASSIFIED//TLP:GREEN"),
        topics=("cyber",),
        body=body,
    )
    envelope = seal(item, originator=USA, private_key=KEY, at=AT)
    assert envelope.body == item.body
    assert signing_bytes(envelope) == canonical_json(_unsigned_document(envelope))
    verify(envelope, _crypto.public_key_of(KEY))
    stored = document_bytes(envelope)
    again = envelope_from_document(json.loads(stored))
    assert again == envelope
    assert document_bytes(again) == stored


def test_seal_refuses_a_body_that_is_not_json_naming_the_member() -> None:
    for body, member in (
        ({"a": [1, {"b": math.nan}]}, "body.a[1].b"),
        ({"a": {"\udc00": 1}}, "body.a"),
        ({"x": {1, 2}}, "body.x"),
    ):
        item = Item(kind="indicator", label=parse_label("UNCLASSIFIED"), topics=("c",), body=body)
        with pytest.raises(DecodeError, match=re.escape(repr(member))):
            seal(item, originator=USA, private_key=KEY, at=AT)
