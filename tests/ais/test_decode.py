"""Strict decoding of real sentences, checked against the whole expected message, and refusals."""

from __future__ import annotations

import pytest

from tests.ais.nmea import armour, checksum, pyais_fields, sentence, with_type
from trilat.adapters.ais import Decoder, decode_batch, decode_message, decode_sentence
from trilat.core.errors import DecodeError

# Public example sentences (gpsd's AIVDM/AIVDO documentation and test corpus, pyais's README).
REAL = {
    "type 1, class A position": (
        ["!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C"],
        {
            "msg_type": 1, "repeat": 0, "mmsi": 366053209, "status": 3, "turn": 0.0,
            "speed": 0.0, "accuracy": False, "lon": -122.341618, "lat": 37.802118,
            "course": 219.3, "heading": 1, "second": 59, "maneuver": 0, "raim": False,
            "radio": 2281,
        },
    ),
    "type 5, static and voyage, two sentences": (
        [
            "!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C",
            "!AIVDM,2,2,1,A,88888888880,2*25",
        ],
        {
            "msg_type": 5, "repeat": 0, "mmsi": 351759000, "ais_version": 0, "imo": 9134270,
            "callsign": "3FOF8", "shipname": "EVER DIADEM", "ship_type": 70, "to_bow": 225,
            "to_stern": 70, "to_port": 1, "to_starboard": 31, "epfd": 1, "month": 5,
            "day": 15, "hour": 14, "minute": 0, "draught": 12.2, "destination": "NEW YORK",
            "dte": False,
        },
    ),
    "type 18, class B position": (
        ["!AIVDM,1,1,,A,B6CdCm0t3`tba35f@V9faHi7kP06,0*58"],
        {
            "msg_type": 18, "repeat": 0, "mmsi": 423302100, "reserved_1": 15, "speed": 1.4,
            "accuracy": True, "lon": 53.010997, "lat": 40.005283, "course": 177.0,
            "heading": 177, "second": 34, "reserved_2": 0, "cs": True, "display": True,
            "dsc": True, "band": True, "msg22": True, "assigned": False, "raim": False,
            "radio": 917510,
        },
    ),
    "type 19, extended class B": (
        ["!AIVDM,1,1,,B,C5N3SRgPEnJGEBT>NhWAwwo862PaLELTBJ:V00000000S0D:R220,0*0B"],
        {
            "msg_type": 19, "repeat": 0, "mmsi": 367059850, "reserved_1": 248, "speed": 8.7,
            "accuracy": False, "lon": -88.810392, "lat": 29.543695, "course": 335.9,
            "heading": 511, "second": 46, "reserved_2": 4, "shipname": "CAPT.J.RIMES",
            "ship_type": 70, "to_bow": 5, "to_stern": 21, "to_port": 4, "to_starboard": 4,
            "epfd": 1, "raim": False, "dte": False, "assigned": False,
        },
    ),
    "type 21, aid to navigation": (
        ["!AIVDM,1,1,,B,E>kb9O9aS@7PUh10dh19@;0Tah2cWrfP:l?M`00003vP100,0*01"],
        {
            "msg_type": 21, "repeat": 0, "mmsi": 993692028, "aid_type": 19,
            "name": "SF OAK BAY BR VAIS E", "accuracy": False, "lon": -122.369867,
            "lat": 37.805622, "to_bow": 0, "to_stern": 0, "to_port": 0, "to_starboard": 0,
            "epfd": 7, "second": 61, "off_position": False, "reserved_1": 0, "raim": False,
            "virtual_aid": True, "assigned": False, "name_ext": "",
            "full_name": "SF OAK BAY BR VAIS E",
        },
    ),
    "type 24 part A, static data": (
        ["!AIVDM,1,1,,A,H42O55i18tMET00000000000000,2*6D"],
        {"msg_type": 24, "repeat": 0, "mmsi": 271041815, "partno": 0, "shipname": "PROGUY"},
    ),
    "type 24 part B, static data": (
        ["!AIVDM,1,1,,A,H42O55lti4hhhilD3nink000?050,0*40"],
        {
            "msg_type": 24, "repeat": 0, "mmsi": 271041815, "partno": 1, "ship_type": 60,
            "vendorid": "1D0", "model": 12, "serial": 199796, "callsign": "TC6163",
            "to_bow": 0, "to_stern": 15, "to_port": 0, "to_starboard": 5,
        },
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REAL))
def test_real_sentence_decodes_to_the_whole_expected_message(case: str) -> None:
    lines, expected = REAL[case]
    decoded = decode_message(*lines) if len(lines) > 1 else decode_sentence(lines[0])
    assert decoded == expected
    assert list(decoded) == list(expected)  # pyais's field order too


@pytest.mark.parametrize("case", sorted(REAL))
def test_real_sentence_decodes_the_same_through_stream_and_batch(case: str) -> None:
    lines, expected = REAL[case]
    decoder = Decoder()
    streamed = [m.fields for line in lines if (m := decoder.feed(line)) is not None]
    batched = decode_batch([line.encode() for line in lines]).to_dicts()
    assert streamed == [expected]
    assert batched == [expected]


@pytest.mark.parametrize("case", sorted(REAL))
def test_real_sentence_decodes_as_pyais_decodes_it(case: str) -> None:
    lines, expected = REAL[case]
    assert pyais_fields(*lines) == expected


def test_decode_sentence_takes_bytes_and_text_alike() -> None:
    line = REAL["type 1, class A position"][0][0]
    assert decode_sentence(line.encode()) == decode_sentence(line)


def test_vdo_and_other_talkers_decode_like_vdm() -> None:
    line = REAL["type 18, class B position"][0][0]
    payload = line.split(",")[5]
    for talker in ("AIVDO", "BSVDM", "ABVDM"):
        assert (
            decode_sentence(sentence(payload, talker=talker))
            == REAL["type 18, class B position"][1]
        )


def test_a_short_payload_keeps_pyais_none_for_the_fields_it_lacks() -> None:
    payload, fill = armour(with_type(1, 100, 12345678901234567), 100)
    line = sentence(payload, fill)
    decoded = decode_sentence(line)
    assert decoded == pyais_fields(line)
    assert decoded["heading"] is None
    assert decoded["raim"] is None


def test_a_bad_checksum_is_refused_naming_both_checksums() -> None:
    line = "!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5D"
    with pytest.raises(DecodeError, match=r"bad checksum: checksum '\*5D' at offset 44.*5C"):
        decode_sentence(line)


def test_a_character_outside_the_armour_is_refused_with_its_offset() -> None:
    line = sentence("15M67FC000G?ufbE`Fep~@3n00Sa")
    with pytest.raises(
        DecodeError, match=r"bad character: '~' is not six-bit armour, at offset 34"
    ):
        decode_sentence(line)


def test_a_non_ascii_byte_is_refused_with_its_offset() -> None:
    with pytest.raises(DecodeError, match="non-ASCII byte at offset 3"):
        decode_sentence(b"!AI\xc9DM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C")


def test_a_sentence_cut_before_its_checksum_is_refused() -> None:
    with pytest.raises(DecodeError, match=r"malformed: no '\*hh' checksum \(truncated\?\)"):
        decode_sentence("!AIVDM,1,1,,B,15M67FC000G?ufbE`Fep")


def test_a_sentence_with_a_field_missing_is_refused() -> None:
    body = "AIVDM,1,1,B,15M67FC000G?ufbE`FepT@3n00Sa,0"
    with pytest.raises(DecodeError, match="6 fields where VDM/VDO has 7"):
        decode_sentence(f"!{body}*{checksum(body)}")


def test_another_nmea_sentence_is_refused_as_not_ais() -> None:
    with pytest.raises(DecodeError, match="not ais: sentence '\\$GPGGA' is not VDM/VDO"):
        decode_sentence("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47")


def test_fill_bits_above_five_are_refused() -> None:
    with pytest.raises(DecodeError, match="bad fill bits: fill bits '6'"):
        decode_sentence(sentence("15M67FC000G?ufbE`FepT@3n00Sa", 6))


def test_fragment_number_beyond_the_count_is_refused() -> None:
    with pytest.raises(DecodeError, match="bad fragment: fragment '3' of '2'"):
        decode_sentence(sentence("55?MbV02", count=2, number=3, sequence="1"))


def test_a_fragment_given_to_decode_sentence_is_refused() -> None:
    first = REAL["type 5, static and voyage, two sentences"][0][0]
    with pytest.raises(DecodeError, match="fragment 1 of 2: a multi-sentence message"):
        decode_sentence(first)


def test_an_unsupported_type_is_refused_naming_the_type() -> None:
    payload, fill = armour(with_type(8, 168, 0), 168)
    with pytest.raises(DecodeError, match="unsupported type: message type 8"):
        decode_sentence(sentence(payload, fill))


def test_type_24_part_three_is_refused_naming_the_part() -> None:
    payload, fill = armour(with_type(24, 168, 3 << 128), 168)
    with pytest.raises(DecodeError, match="unknown part number: message type 24"):
        decode_sentence(sentence(payload, fill))


def test_an_empty_payload_is_refused() -> None:
    with pytest.raises(DecodeError, match="empty payload"):
        decode_sentence("!AIVDM,1,1,,B,,0*25")


def test_decode_message_refuses_fragments_out_of_order() -> None:
    first, second = REAL["type 5, static and voyage, two sentences"][0]
    with pytest.raises(DecodeError, match="sentence 1 is fragment 2: out of order"):
        decode_message(second, first)


def test_decode_message_refuses_a_missing_fragment() -> None:
    first, _ = REAL["type 5, static and voyage, two sentences"][0]
    with pytest.raises(DecodeError, match="1 sentences given for a 2-fragment message"):
        decode_message(first)


def test_decode_message_refuses_fragments_of_two_messages() -> None:
    first, second = REAL["type 5, static and voyage, two sentences"][0]
    other = second.replace(",1,A,", ",2,A,")
    other = other[: other.rindex("*") + 1] + checksum(other[1 : other.rindex("*")])
    with pytest.raises(DecodeError, match="sentence 2 belongs to another message"):
        decode_message(first, other)


def test_decode_message_refuses_nothing_at_all() -> None:
    with pytest.raises(DecodeError, match="no sentences given"):
        decode_message()
