"""trilat decodes every message exactly as pyais does: a real recording and random messages."""

from __future__ import annotations

from collections import Counter

import pyais
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyais.exceptions import AISBaseException

from tests.ais.nmea import (
    SUPPORTED,
    armour,
    message_dicts,
    payloads,
    pyais_fields,
    sentence,
    split_sentences,
    with_type,
)
from tests.conftest import shared_file
from trilat.adapters._ais_layouts import EPFD_TABLE, SHIP_TYPE_TABLE, TURN_TABLE
from trilat.adapters.ais import SUPPORTED_TYPES, Decoder, decode_message

QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _pyais_stream(lines: list[bytes]) -> list[dict]:
    decoded = []
    for nmea in pyais.IterMessages(lines):
        try:
            decoded.append(nmea.decode().asdict())
        except AISBaseException:
            continue
    return [d for d in decoded if d["msg_type"] in SUPPORTED_TYPES]


def test_every_message_of_the_aegean_recording_matches_pyais() -> None:
    lines = shared_file("ais/aegean-nmea-sample.txt").read_bytes().splitlines()
    expected = _pyais_stream(lines)
    decoder = Decoder()
    streamed = [message.fields for message in decoder.feed_all(lines)]
    batched = Decoder().decode_batch(lines).to_dicts()
    assert len(expected) > 700
    assert streamed == expected
    assert batched == expected


def test_the_aegean_recording_bad_sentences_are_counted_by_reason() -> None:
    lines = shared_file("ais/aegean-nmea-sample.txt").read_bytes().splitlines()
    decoder = Decoder()
    messages = sum(1 for _ in decoder.feed_all(lines))
    decoder.flush()
    by_type = Counter(d["msg_type"] for d in _pyais_stream(lines))
    assert decoder.stats.messages == messages == sum(by_type.values())
    assert decoder.stats.sentences == len([line for line in lines if line.strip()])
    # the recording has empty payloads, first fragments whose second never came, and
    # types trilat does not decode (15, 20)
    assert decoder.stats.rejected["empty_payload"] == sum(1 for ln in lines if b",,0*" in ln)
    assert decoder.stats.rejected["incomplete_message"] == sum(1 for ln in lines if b",2,1," in ln)
    assert decoder.stats.rejected["unsupported_type"] > 0


@pytest.mark.parametrize("msg_type", SUPPORTED)
@QUICK
@given(data=st.data())
def test_random_payload_of_standard_length_decodes_like_pyais(msg_type: int, data) -> None:
    value, nbits = data.draw(payloads(msg_type))
    lines = split_sentences(value, nbits)
    expected = pyais_fields(*lines)
    assert decode_message(*lines) == expected
    assert [message.fields for message in Decoder().feed_all(lines)] == [expected]
    assert Decoder().decode_batch([line.encode() for line in lines]).to_dicts() == [expected]


@pytest.mark.parametrize("msg_type", SUPPORTED)
@QUICK
@given(data=st.data())
def test_random_payload_of_any_length_decodes_like_pyais(msg_type: int, data) -> None:
    value, nbits = data.draw(payloads(msg_type, any_length=True))
    lines = split_sentences(value, nbits)
    try:
        expected = pyais_fields(*lines)
    except AISBaseException:  # a type 24 part 2 or 3: pyais refuses it, so must trilat
        decoder = Decoder()
        assert list(decoder.feed_all(lines)) == []
        assert decoder.stats.rejected["unknown_part_number"] == 1
        return
    assert decode_message(*lines) == expected
    assert [message.fields for message in Decoder().feed_all(lines)] == [expected]
    assert Decoder().decode_batch([line.encode() for line in lines]).to_dicts() == [expected]


@pytest.mark.parametrize("msg_type", SUPPORTED)
@QUICK
@given(data=st.data())
def test_message_encoded_by_pyais_decodes_as_pyais_decodes_it(msg_type: int, data) -> None:
    fields = data.draw(message_dicts(msg_type))
    channel = data.draw(st.sampled_from("AB"))
    lines = pyais.encode_dict(fields, talker_id="AI", radio_channel=channel, seq_id=3)
    expected = pyais_fields(*lines)
    decoder = Decoder()
    streamed = [message.fields for message in decoder.feed_all(lines)]
    assert streamed == [expected]
    assert Decoder().decode_batch([line.encode() for line in lines]).to_dicts() == [expected]
    # and what went in comes out, where the wire carries it unchanged
    for name in ("mmsi", "msg_type", "shipname", "callsign", "destination", "imo", "partno"):
        if name in fields and name in expected:
            assert streamed[0][name] == (
                fields[name].upper().rstrip("@").strip()
                if isinstance(fields[name], str)
                else fields[name]
            )


def test_ship_type_codes_fold_as_pyais_folds_them() -> None:
    for code in range(256):
        value = with_type(19, 312, code << 41)  # ship_type: bits 263-270 of 312
        payload, fill = armour(value, 312)
        line = sentence(payload, fill)
        assert decode_message(line) == pyais_fields(line), code
        assert decode_message(line)["ship_type"] == SHIP_TYPE_TABLE[code]
    assert SHIP_TYPE_TABLE[26] == 25
    assert SHIP_TYPE_TABLE[70] == 70


def test_epfd_codes_fold_as_pyais_folds_them() -> None:
    from pyais.constants import EpfdType

    assert list(EPFD_TABLE) == [int(EpfdType.from_value(code)) for code in range(16)]


def test_turn_rates_match_pyais_for_every_raw_value() -> None:
    from pyais.messages import to_turn

    for raw in range(-128, 128):
        ours, theirs = TURN_TABLE[raw & 0xFF], to_turn(raw)
        assert ours == theirs
        assert str(ours) == str(float(theirs))  # the sign of zero too
