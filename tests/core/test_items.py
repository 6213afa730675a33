"""Items and envelopes: sealing, verifying, the wire document and its strict decoder."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.strategies import labels
from trilat.core import _crypto
from trilat.core.errors import DecodeError, LabelError, SignatureError
from trilat.core.items import (
    KINDS,
    Envelope,
    Item,
    Originator,
    envelope_document,
    envelope_from_document,
    new_item_id,
    seal,
    signing_bytes,
    verify,
)
from trilat.core.labels import Label, format_banner, parse_label

USA_KEY = _crypto.generate_private_key()
JPN_KEY = _crypto.generate_private_key()
USA = Originator(node="usa-1", nation="USA")
AT = datetime(2023, 12, 19, 9, 30, 15, 123456, tzinfo=UTC)


def _item(**changes: Any) -> Item:
    fields: dict[str, Any] = {
        "kind": "missile_event",
        "label": parse_label("SECRET//REL TO USA, JPN, KOR"),
        "topics": ("dprk.missile",),
        "body": {"launch": {"lat": 39.03, "lon": 125.75}, "apogee_km": 6000, "sensors": ["x"]},
        "recipients": ("JPN", "KOR"),
    }
    fields.update(changes)
    return Item(**fields)


def _sealed(**changes: Any) -> Envelope:
    return seal(_item(**changes), originator=USA, private_key=USA_KEY, at=AT)


def _members(envelope: Envelope) -> dict[str, Any]:
    """The init arguments of *envelope* (its private signing-bytes cache is not one)."""
    return {name: getattr(envelope, name) for name in Envelope.__slots__ if name[0] != "_"}


def _document(**changes: Any) -> dict[str, Any]:
    document = envelope_document(_sealed())
    document.update(changes)
    return document


# --- strategies --------------------------------------------------------------------------

_json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    # control characters have two spellings in JSON (\u001f, \u001F); keep them out so that
    # every byte of the canonical form is significant
    | st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
)
_json = st.recursive(
    _json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(blacklist_categories=("Cs", "Cc"))), inner)
    ),
    max_leaves=12,
)
_bodies = st.dictionaries(st.text(st.characters(blacklist_categories=("Cs", "Cc"))), _json)
_topics = st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){0,2}", fullmatch=True)
_times = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def envelopes(draw: st.DrawFn) -> Envelope:
    at = draw(_times)
    item = Item(
        kind=draw(st.sampled_from(sorted(KINDS))),
        label=draw(labels(with_owner=False)),
        topics=tuple(draw(st.lists(_topics, min_size=1, max_size=3, unique=True))),
        body=draw(_bodies),
        recipients=tuple(draw(st.lists(st.sampled_from(["USA", "JPN", "KOR"]), unique=True))),
        refs=tuple(new_item_id(at) for _ in range(draw(st.integers(0, 2)))),
        supersedes=draw(st.none() | st.just(new_item_id(at))),
    )
    return seal(item, originator=USA, private_key=USA_KEY, at=at)


# --- sealing and verifying --------------------------------------------------------------


def test_sealed_envelope_verifies_with_the_originators_key() -> None:
    verify(_sealed(), _crypto.public_key_of(USA_KEY))


def test_sealed_envelope_fails_with_another_nodes_key() -> None:
    with pytest.raises(SignatureError):
        verify(_sealed(), _crypto.public_key_of(JPN_KEY))


def test_verify_with_a_malformed_public_key_is_an_opaque_signature_error() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(_sealed(), b"short")
    assert str(caught.value) == "signature did not verify"


def test_changing_any_member_after_sealing_breaks_the_signature() -> None:
    envelope = _sealed()
    public = _crypto.public_key_of(USA_KEY)
    changes: dict[str, Any] = {
        "kind": "report",
        "originator": Originator("usa-2", "USA"),
        "created": envelope.created + timedelta(milliseconds=1),
        "label": parse_label("SECRET//REL TO USA, JPN", owner="USA"),
        "topics": ("dprk.nuclear",),
        "recipients": ("JPN",),
        "refs": (new_item_id(AT),),
        "supersedes": new_item_id(AT),
        "body": {"launch": {"lat": 39.03, "lon": 125.76}, "apogee_km": 6000, "sensors": ["x"]},
        "id": new_item_id(AT),
    }
    for member, value in changes.items():
        fields = _members(envelope)
        fields[member] = value
        with pytest.raises(SignatureError):
            verify(Envelope(**fields), public)


def test_an_envelope_whose_label_claims_another_owner_fails() -> None:
    envelope = _sealed()
    fields = _members(envelope)
    fields["label"] = parse_label("SECRET//REL TO USA, JPN, KOR", owner="JPN")
    assert signing_bytes(Envelope(**fields)) == signing_bytes(envelope)
    with pytest.raises(SignatureError):
        verify(Envelope(**fields), _crypto.public_key_of(USA_KEY))


def test_flipping_any_bit_of_the_signature_fails() -> None:
    envelope = _sealed()
    public = _crypto.public_key_of(USA_KEY)
    fields = _members(envelope)
    for position in range(len(envelope.sig)):
        tampered = bytearray(envelope.sig)
        tampered[position] ^= 0x01
        fields["sig"] = bytes(tampered)
        with pytest.raises(SignatureError):
            verify(Envelope(**fields), public)


def test_boolean_and_integer_bodies_sign_differently() -> None:
    assert signing_bytes(_sealed(body={"flag": True})) != signing_bytes(_sealed(body={"flag": 1}))


def test_seal_makes_the_originators_nation_the_label_owner() -> None:
    assert _sealed().label.owner == "USA"
    assert _sealed(label=parse_label("SECRET//NOFORN", owner="USA")).label.owner == "USA"


def test_seal_refuses_a_label_owned_by_another_nation() -> None:
    with pytest.raises(LabelError, match="owner"):
        _sealed(label=parse_label("SECRET//NOFORN", owner="JPN"))


def test_seal_keeps_time_in_utc_to_the_millisecond() -> None:
    tokyo = timezone(timedelta(hours=9))
    envelope = seal(_item(), originator=USA, private_key=USA_KEY, at=AT.astimezone(tokyo))
    assert envelope.created == datetime(2023, 12, 19, 9, 30, 15, 123000, tzinfo=UTC)
    assert envelope.created.tzinfo is UTC
    assert envelope_document(envelope)["created"] == "2023-12-19T09:30:15.123Z"


def test_seal_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        seal(_item(), originator=USA, private_key=USA_KEY, at=datetime(2023, 1, 1))


def test_seal_uses_the_given_item_id_and_checks_it() -> None:
    item_id = new_item_id(AT)
    assert seal(_item(), originator=USA, private_key=USA_KEY, at=AT, item_id=item_id).id == item_id
    with pytest.raises(DecodeError, match="'id'"):
        seal(_item(), originator=USA, private_key=USA_KEY, at=AT, item_id=str(uuid.uuid4()))


@pytest.mark.parametrize(
    ("changes", "member"),
    [
        ({"kind": "gossip"}, "'kind'"),
        ({"topics": ()}, "'topics'"),
        ({"topics": ("DPRK.Missile",)}, r"'topics\[0\]'"),
        ({"topics": ("dprk..missile",)}, r"'topics\[0\]'"),
        ({"topics": ("hadr", "hadr")}, "'topics'"),
        ({"recipients": ("XXX",)}, r"'recipients\[0\]'"),
        ({"recipients": ("JPN", "JPN")}, "'recipients'"),
        ({"refs": ("not-an-id",)}, r"'refs\[0\]'"),
        ({"supersedes": str(uuid.uuid4())}, "'supersedes'"),
        ({"body": {"x": float("nan")}}, "'body.x'"),
        ({"body": {"x": [1, float("inf")]}}, r"'body.x\[1\]'"),
        ({"body": {"x": 2**53 + 1}}, "'body.x'"),
        ({"body": {"x": {1, 2}}}, "'body.x'"),
        ({"body": {"x": {1: "one"}}}, "'body.x'"),
        ({"body": {"x": "\ud800"}}, "'body.x'"),
    ],
)
def test_seal_refuses_invalid_content_naming_the_member(
    changes: dict[str, Any], member: str
) -> None:
    with pytest.raises(DecodeError, match=member):
        _sealed(**changes)


@pytest.mark.parametrize("member", ["topics", "recipients", "refs"])
def test_an_item_refuses_one_string_where_a_sequence_belongs(member: str) -> None:
    with pytest.raises(DecodeError, match=f"'{member}'"):
        _item(**{member: "hadr"})


def test_seal_refuses_a_bad_originator() -> None:
    with pytest.raises(DecodeError, match=r"'originator\.nation'"):
        seal(_item(), originator=Originator("x-1", "XYZ"), private_key=USA_KEY, at=AT)
    with pytest.raises(DecodeError, match=r"'originator\.node'"):
        seal(_item(), originator=Originator("", "USA"), private_key=USA_KEY, at=AT)


def test_envelope_body_cannot_be_changed_after_sealing() -> None:
    body: dict[str, Any] = {"sensors": ["x"], "launch": {"lat": 1.0}}
    envelope = _sealed(body=body)
    body["sensors"].append("y")
    body["launch"]["lat"] = 2.0
    assert envelope.body["sensors"] == ("x",)
    assert envelope.body["launch"]["lat"] == 1.0
    with pytest.raises(TypeError):
        envelope.body["launch"]["lat"] = 3.0  # type: ignore[index]
    verify(envelope, _crypto.public_key_of(USA_KEY))


def test_envelopes_are_hashable_and_equal_by_content() -> None:
    envelope = _sealed()
    again = envelope_from_document(envelope_document(envelope))
    assert envelope == again
    assert len({envelope, again}) == 1


# --- identifiers -------------------------------------------------------------------------


def test_new_item_id_is_a_uuid7_carrying_the_milliseconds_of_the_time() -> None:
    item_id = new_item_id(AT)
    parsed = uuid.UUID(item_id)
    assert str(parsed) == item_id
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == int(AT.timestamp() * 1000)


def test_new_item_ids_differ_at_the_same_millisecond() -> None:
    assert len({new_item_id(AT) for _ in range(200)}) == 200


def test_new_item_ids_sort_by_time_across_milliseconds() -> None:
    later = AT + timedelta(milliseconds=1)
    assert all(new_item_id(AT) < new_item_id(later) for _ in range(50))


def test_new_item_id_refuses_naive_and_pre_1970_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        new_item_id(datetime(2023, 1, 1))
    with pytest.raises(ValueError, match="range"):
        new_item_id(datetime(1969, 12, 31, tzinfo=UTC))


def test_kinds_are_those_of_the_specification() -> None:
    spec = (
        "track observation report missile_event encounter loitering ais_gap zone_entry rfi"
        " hadr_request hadr_offer task ack consent recall bulletin indicator document chat"
    )
    assert frozenset(spec.split()) == KINDS


# --- the wire document -------------------------------------------------------------------


def test_document_is_plain_json_with_the_canonical_banner() -> None:
    envelope = _sealed()
    document = envelope_document(envelope)
    assert json.loads(json.dumps(document)) == document
    assert document["label"] == "SECRET//REL TO USA, JPN, KOR"
    assert document["originator"] == {"node": "usa-1", "nation": "USA"}
    assert document["body"]["sensors"] == ["x"]
    assert "=" not in document["sig"]
    assert base64.urlsafe_b64decode(document["sig"] + "==") == envelope.sig
    assert set(document) == {
        "id",
        "kind",
        "originator",
        "created",
        "label",
        "topics",
        "recipients",
        "refs",
        "supersedes",
        "body",
        "sig",
    }


def test_signing_bytes_are_the_canonical_document_without_sig() -> None:
    item_id = "018c8178-b4d3-7abc-9def-0123456789ab"
    envelope = seal(_item(), originator=USA, private_key=USA_KEY, at=AT, item_id=item_id)
    assert signing_bytes(envelope) == (
        b'{"body":{"apogee_km":6000,"launch":{"lat":39.03,"lon":125.75},"sensors":["x"]},'
        b'"created":"2023-12-19T09:30:15.123Z","id":"018c8178-b4d3-7abc-9def-0123456789ab",'
        b'"kind":"missile_event","label":"SECRET//REL TO USA, JPN, KOR",'
        b'"originator":{"nation":"USA","node":"usa-1"},"recipients":["JPN","KOR"],"refs":[],'
        b'"supersedes":null,"topics":["dprk.missile"]}'
    )
    document = envelope_document(envelope)
    del document["sig"]
    assert json.loads(signing_bytes(envelope)) == document


def test_optional_members_may_be_omitted_on_the_wire() -> None:
    envelope = _sealed(recipients=())
    document = envelope_document(envelope)
    for member in ("recipients", "refs", "supersedes"):
        del document[member]
    assert envelope_from_document(document) == envelope


@pytest.mark.parametrize(
    ("changes", "member"),
    [
        ({"extra": 1}, "'extra'"),
        ({"id": str(uuid.uuid4())}, "'id'"),
        ({"id": new_item_id(AT).upper()}, "'id'"),
        ({"id": 7}, "'id'"),
        ({"kind": "gossip"}, "'kind'"),
        ({"kind": None}, "'kind'"),
        ({"originator": "usa-1"}, "'originator'"),
        ({"originator": {"node": "usa-1"}}, r"'originator\.nation'"),
        ({"originator": {"node": "usa-1", "nation": "USA", "key": "x"}}, r"'originator\.key'"),
        ({"originator": {"node": "usa-1", "nation": "usa"}}, r"'originator\.nation'"),
        ({"created": "2023-12-19T09:30:15.123"}, "'created'.*naive"),
        ({"created": "2023-12-19T09:30:15Z"}, "'created'"),
        ({"created": "2023-12-19T18:30:15.123+09:00"}, "'created'"),
        ({"created": "2023-02-30T09:30:15.123Z"}, "'created'"),
        ({"created": 1702978215}, "'created'"),
        ({"label": "secret//rel to usa, jpn, kor"}, "'label'.*canonical"),
        ({"label": ["SECRET"]}, "'label'"),
        ({"topics": "dprk.missile"}, "'topics'"),
        ({"topics": [1]}, r"'topics\[0\]'"),
        ({"recipients": ["JPN", "ZZZ"]}, r"'recipients\[1\]'"),
        ({"refs": ["x"]}, r"'refs\[0\]'"),
        ({"supersedes": 5}, "'supersedes'"),
        ({"body": []}, "'body'"),
        ({"sig": "!!!"}, "'sig'"),
        ({"sig": 12}, "'sig'"),
        ({"sig": base64.urlsafe_b64encode(bytes(64)).decode()}, "'sig'.*canonical"),
        ({"sig": base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")}, "'sig'.*32"),
    ],
)
def test_decoder_refuses_bad_members_by_name(changes: dict[str, Any], member: str) -> None:
    with pytest.raises(DecodeError, match=member):
        envelope_from_document(_document(**changes))


@pytest.mark.parametrize("member", ["id", "kind", "originator", "created", "label", "body", "sig"])
def test_decoder_refuses_a_missing_required_member(member: str) -> None:
    document = _document()
    del document[member]
    with pytest.raises(DecodeError, match=f"'{member}': missing"):
        envelope_from_document(document)


def test_decoder_refuses_a_document_that_is_not_an_object() -> None:
    with pytest.raises(DecodeError, match="object"):
        envelope_from_document([])  # type: ignore[arg-type]


def test_decoder_passes_on_an_unparseable_label_as_a_label_error() -> None:
    with pytest.raises(LabelError):
        envelope_from_document(_document(label="SECRET//REL TO USA, XYZ"))


def test_decoded_label_is_owned_by_the_originators_nation() -> None:
    label = envelope_from_document(_document()).label
    assert label.owner == "USA"
    assert label == Label(
        classification=label.classification,
        rel_to=frozenset({"USA", "JPN", "KOR"}),
        dissem=label.dissem,
        owner="USA",
    )
    assert format_banner(label) == "SECRET//REL TO USA, JPN, KOR"


# --- properties --------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(envelopes())
def test_document_round_trip_is_the_identity(envelope: Envelope) -> None:
    document = json.loads(json.dumps(envelope_document(envelope)))
    decoded = envelope_from_document(document)
    assert decoded == envelope
    assert signing_bytes(decoded) == signing_bytes(envelope)
    verify(decoded, _crypto.public_key_of(USA_KEY))


def _rejected(mutated: bytes, sig: str) -> bool:
    """Whether decoding-then-verifying the mutated signed bytes fails, as it must."""
    try:
        document = json.loads(mutated)
        if not isinstance(document, dict):
            return True
        document["sig"] = sig
        verify(envelope_from_document(document), _crypto.public_key_of(USA_KEY))
    except (ValueError, SignatureError):  # JSON, UTF-8, DecodeError and LabelError included
        return True
    return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes(), st.data())
def test_any_single_byte_change_of_the_signed_content_fails(
    envelope: Envelope, data: st.DataObject
) -> None:
    signed = signing_bytes(envelope)
    position = data.draw(st.integers(0, len(signed) - 1), label="position")
    replacement = data.draw(
        st.integers(0, 255).filter(lambda b: b != signed[position]), label="byte"
    )
    mutated = signed[:position] + bytes([replacement]) + signed[position + 1 :]
    with pytest.raises(SignatureError):
        _crypto.verify_signature(_crypto.public_key_of(USA_KEY), envelope.sig, mutated)
    assert _rejected(mutated, envelope_document(envelope)["sig"])
