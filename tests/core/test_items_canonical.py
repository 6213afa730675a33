"""An envelope's canonical bytes are built once and reused, and always equal a fresh encoding."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.core.test_items import AT, USA, USA_KEY, _item, _sealed, envelopes
from trilat.core import _crypto, items
from trilat.core.canonical import canonical_json
from trilat.core.errors import SignatureError
from trilat.core.items import (
    Envelope,
    document_bytes,
    envelope_document,
    envelope_from_document,
    seal,
    signing_bytes,
    verify,
)

PUBLIC = _crypto.public_key_of(USA_KEY)


def _fresh_signing_bytes(envelope: Envelope) -> bytes:
    document = envelope_document(envelope)
    del document["sig"]
    return canonical_json(document)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes())
def test_cached_and_spliced_bytes_equal_a_fresh_encoding(envelope: Envelope) -> None:
    assert signing_bytes(envelope) == _fresh_signing_bytes(envelope)
    assert document_bytes(envelope) == canonical_json(envelope_document(envelope))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes())
def test_a_decoded_envelope_stores_the_bytes_it_arrived_as(envelope: Envelope) -> None:
    text = document_bytes(envelope)
    received = envelope_from_document(json.loads(text))
    verify(received, PUBLIC)
    assert document_bytes(received) == text
    # (a float with an integral value arrives as an int, so compare identity, not bodies)
    assert (received.id, received.sig) == (envelope.id, envelope.sig)


def test_seal_verify_and_store_encode_the_document_once(monkeypatch: pytest.MonkeyPatch) -> None:
    whole: list[Any] = []

    def counting(value: Any) -> bytes:
        if isinstance(value, dict) and "body" in value:
            whole.append(value)
        return canonical_json(value)

    monkeypatch.setattr(items, "canonical_json", counting)
    envelope = seal(_item(), originator=USA, private_key=USA_KEY, at=AT)
    verify(envelope, PUBLIC)
    stored = document_bytes(envelope)
    verify(envelope, PUBLIC)
    assert len(whole) == 1
    assert json.loads(stored)["sig"] == envelope_document(envelope)["sig"]


def test_a_changed_copy_does_not_inherit_the_cached_bytes() -> None:
    envelope = _sealed()
    verify(envelope, PUBLIC)
    changed = dataclasses.replace(envelope, body={"launch": {"lat": 40.0, "lon": 125.75}})
    assert signing_bytes(changed) == _fresh_signing_bytes(changed)
    assert signing_bytes(changed) != signing_bytes(envelope)
    with pytest.raises(SignatureError):
        verify(changed, PUBLIC)


def test_the_cache_is_not_part_of_equality_hash_or_repr() -> None:
    envelope = _sealed()
    copy = dataclasses.replace(envelope)  # same members, cache not yet built
    assert copy == envelope
    assert hash(copy) == hash(envelope)
    assert repr(copy) == repr(envelope)
    assert "_signing" not in repr(envelope)
    assert all(field.init for field in dataclasses.fields(Envelope) if field.compare)


def test_sig_is_spliced_between_refs_and_supersedes_in_key_order() -> None:
    envelope = _sealed(supersedes=None, refs=())
    keys = list(json.loads(document_bytes(envelope)))
    assert keys == sorted(keys)
    assert keys.index("sig") == keys.index("refs") + 1
    assert keys.index("supersedes") == keys.index("sig") + 1
