"""Test helpers: build NMEA sentences and AIS payloads, and ask pyais (the oracle) about them."""

from __future__ import annotations

import random
from functools import reduce
from operator import xor
from typing import Any

import pyais
from hypothesis import strategies as st

# Standard payload length in bits of each supported layout.
STANDARD_BITS = {1: 168, 2: 168, 3: 168, 4: 168, 5: 424, 18: 168, 19: 312, 21: 272, 24: 168, 27: 96}
SUPPORTED = tuple(sorted(STANDARD_BITS))


def checksum(body: str) -> str:
    return f"{reduce(xor, body.encode(), 0):02X}"


def armour(value: int, nbits: int) -> tuple[str, int]:
    """Six-bit armour of a *nbits*-long value; returns (payload, fill bits)."""
    fill = -nbits % 6
    value <<= fill
    chars = (nbits + fill) // 6
    out = []
    for index in range(chars):
        six = (value >> (6 * (chars - 1 - index))) & 63
        out.append(chr(six + 48 if six < 40 else six + 56))
    return "".join(out), fill


def sentence(
    payload: str,
    fill: int = 0,
    *,
    count: int = 1,
    number: int = 1,
    sequence: str = "",
    channel: str = "A",
    talker: str = "AIVDM",
) -> str:
    body = f"{talker},{count},{number},{sequence},{channel},{payload},{fill}"
    return f"!{body}*{checksum(body)}"


def split_sentences(
    value: int, nbits: int, *, sequence: str = "1", channel: str = "A", per_sentence: int = 60
) -> list[str]:
    """A payload as one or more sentences of at most *per_sentence* characters."""
    payload, fill = armour(value, nbits)
    parts = [payload[i : i + per_sentence] for i in range(0, len(payload), per_sentence)] or [""]
    if len(parts) == 1:
        return [sentence(parts[0], fill, channel=channel)]
    return [
        sentence(
            part,
            fill if number == len(parts) else 0,
            count=len(parts),
            number=number,
            sequence=sequence,
            channel=channel,
        )
        for number, part in enumerate(parts, start=1)
    ]


def with_type(msg_type: int, nbits: int, rest: int) -> int:
    """A payload value of *nbits* bits whose first six bits are *msg_type*."""
    return (msg_type << (nbits - 6)) | (rest & ((1 << (nbits - 6)) - 1))


def pyais_fields(*sentences: str) -> dict[str, Any]:
    """What pyais decodes from *sentences*, as plain values."""
    return pyais.decode(*sentences).asdict()


@st.composite
def payloads(draw: st.DrawFn, msg_type: int, *, any_length: bool = False) -> tuple[int, int]:
    """(value, nbits) of a random payload of *msg_type*, at its standard or any length."""
    standard = STANDARD_BITS[msg_type]
    if msg_type == 21:
        standard = draw(st.sampled_from((272, 312, 354, 360)))
    nbits = draw(st.integers(6, standard + 12)) if any_length else standard
    rest = draw(st.integers(0, (1 << max(nbits - 6, 0)) - 1))
    if msg_type == 24 and not any_length:
        rest &= ~(1 << (nbits - 39))  # part number 0 or 1 (2 and 3 are refused)
    if msg_type == 24 and nbits > 40 and draw(st.booleans()):
        # an auxiliary craft (MMSI 98MIDXXXX) part B now and then
        mmsi = draw(st.integers(980_000_000, 989_999_999))
        rest = (
            (rest & ~(((1 << 32) - 1) << (nbits - 40)))
            | (mmsi << (nbits - 38))
            | (1 << (nbits - 40))
        )
    return with_type(msg_type, nbits, rest), nbits


_TEXT = "@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_ !\"#$%&'()*+,-./0123456789:;<=>?"


def texts(max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=_TEXT, max_size=max_size)


def _common(msg_type: int) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "msg_type": st.just(msg_type),
        "repeat": st.integers(0, 3),
        "mmsi": st.integers(0, (1 << 30) - 1),
    }


def _position() -> dict[str, st.SearchStrategy[Any]]:
    return {
        "lat": st.floats(-90, 91, allow_nan=False),
        "lon": st.floats(-180, 181, allow_nan=False),
        "speed": st.floats(0, 102.3, allow_nan=False),
        "course": st.floats(0, 360, allow_nan=False),
        "heading": st.integers(0, 511),
        "second": st.integers(0, 63),
        "accuracy": st.booleans(),
        "raim": st.booleans(),
    }


def _dimensions() -> dict[str, st.SearchStrategy[Any]]:
    return {
        "to_bow": st.integers(0, 511),
        "to_stern": st.integers(0, 511),
        "to_port": st.integers(0, 63),
        "to_starboard": st.integers(0, 63),
    }


def message_dicts(msg_type: int) -> st.SearchStrategy[dict[str, Any]]:
    """Random inputs for ``pyais.encode_dict`` of one supported type."""
    common = _common(msg_type)
    if msg_type in (1, 2, 3):
        extra = {
            **_position(),
            "status": st.integers(0, 15),
            "turn": st.integers(-127, 127),
            "maneuver": st.integers(0, 3),
            "radio": st.integers(0, (1 << 19) - 1),
        }
    elif msg_type == 4:
        extra = {
            "year": st.integers(0, 9999),
            "month": st.integers(0, 12),
            "day": st.integers(0, 31),
            "hour": st.integers(0, 24),
            "minute": st.integers(0, 60),
            "second": st.integers(0, 60),
            "lat": st.floats(-90, 91, allow_nan=False),
            "lon": st.floats(-180, 181, allow_nan=False),
            "epfd": st.integers(0, 15),
        }
    elif msg_type == 5:
        extra = {
            "imo": st.integers(0, (1 << 30) - 1),
            "callsign": texts(7),
            "shipname": texts(20),
            "ship_type": st.integers(0, 255),
            **_dimensions(),
            "epfd": st.integers(0, 15),
            "month": st.integers(0, 12),
            "day": st.integers(0, 31),
            "hour": st.integers(0, 24),
            "minute": st.integers(0, 60),
            "draught": st.floats(0, 25.5, allow_nan=False),
            "destination": texts(20),
            "dte": st.booleans(),
        }
    elif msg_type == 18:
        extra = {
            **_position(),
            "cs": st.booleans(),
            "display": st.booleans(),
            "dsc": st.booleans(),
            "band": st.booleans(),
            "msg22": st.booleans(),
            "assigned": st.booleans(),
            "radio": st.integers(0, (1 << 20) - 1),
        }
    elif msg_type == 19:
        extra = {
            **_position(),
            "shipname": texts(20),
            "ship_type": st.integers(0, 255),
            **_dimensions(),
            "epfd": st.integers(0, 15),
            "dte": st.booleans(),
            "assigned": st.booleans(),
        }
    elif msg_type == 21:
        extra = {
            "aid_type": st.integers(0, 31),
            "name": texts(20),
            "lat": st.floats(-90, 91, allow_nan=False),
            "lon": st.floats(-180, 181, allow_nan=False),
            **_dimensions(),
            "epfd": st.integers(0, 15),
            "second": st.integers(0, 63),
            "off_position": st.booleans(),
            "virtual_aid": st.booleans(),
            "name_ext": texts(14),
        }
    elif msg_type == 24:
        return st.one_of(
            st.fixed_dictionaries({**common, "partno": st.just(0), "shipname": texts(20)}),
            st.fixed_dictionaries(
                {
                    **common,
                    "partno": st.just(1),
                    "ship_type": st.integers(0, 255),
                    "vendorid": texts(3),
                    "model": st.integers(0, 15),
                    "serial": st.integers(0, (1 << 20) - 1),
                    "callsign": texts(7),
                    **_dimensions(),
                    # read instead of the dimensions when the MMSI is an auxiliary craft's
                    "mothership_mmsi": st.integers(0, (1 << 30) - 1),
                }
            ),
        )
    else:  # 27
        extra = {
            "accuracy": st.booleans(),
            "raim": st.booleans(),
            "status": st.integers(0, 15),
            "lat": st.floats(-90, 91, allow_nan=False),
            "lon": st.floats(-180, 181, allow_nan=False),
            "speed": st.integers(0, 63),
            "course": st.integers(0, 511),
            "gnss": st.booleans(),
        }
    return st.fixed_dictionaries({**common, **extra})


def messy_stream(seed: int, count: int) -> list[bytes]:
    """A reproducible stream with everything a real feed throws at a decoder.

    Valid single and two-sentence messages on both channels (sometimes interleaved), tag
    blocks with receiver times, trailing unix times, corrupted checksums, bad characters,
    truncated lines, orphan and out-of-order fragments, other NMEA sentences, empty payloads,
    unsupported types, short payloads and blank lines.
    """
    rnd = random.Random(seed)
    lines: list[str] = []
    sequence = 0
    while len(lines) < count:
        msg_type = rnd.choice((1, 1, 1, 2, 3, 3, 4, 5, 5, 18, 18, 19, 21, 24, 27, 8, 9))
        nbits = STANDARD_BITS.get(msg_type, 168)
        if rnd.random() < 0.05:
            nbits = rnd.randrange(6, nbits + 12)
        value = with_type(msg_type, nbits, rnd.getrandbits(max(nbits - 6, 1)))
        sequence = (sequence + 1) % 10
        channel = rnd.choice("AB")
        group = split_sentences(value, nbits, sequence=str(sequence), channel=channel)
        roll = rnd.random()
        if roll < 0.04:
            group = [g[:-1] + ("0" if g[-1] != "0" else "1") for g in group]  # bad checksum
        elif roll < 0.06:
            group = [g[:20] for g in group]  # truncated
        elif roll < 0.08 and len(group) > 1:
            group = group[1:]  # orphan continuation
        elif roll < 0.10 and len(group) > 1:
            group = group[::-1]  # out of order
        elif roll < 0.12 and len(group) > 1:
            group = group[:1]  # never completed
        elif roll < 0.14:
            body = "AIVDM,1,1,,B,15M67FC000G?ufbE`Fep~@3n00Sa,0"  # bad character
            group = [f"!{body}*{checksum(body)}"]
        elif roll < 0.16:
            group = ["$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"]
        elif roll < 0.18:
            group = [sentence("", 0, channel=channel)]
        elif roll < 0.20:
            group = ["", "   ", "garbage without structure"]
        elif roll < 0.30:
            stamp = 1_700_000_000 + len(lines)
            tag = f"s:rx{rnd.randrange(3)},c:{stamp}"
            group = [f"\\{tag}*{checksum(tag)}\\{g}" for g in group]
        elif roll < 0.35:
            group = [f"{g},{1_700_000_000 + len(lines)}" for g in group]
        elif roll < 0.37:
            tag = "c:1700000000"
            group = [f"\\{tag}*00\\{g}" for g in group]  # tag block with a bad checksum
        if len(group) > 1 and lines and rnd.random() < 0.3:
            # interleave another single-sentence message between the fragments
            other, other_fill = armour(with_type(1, 168, rnd.getrandbits(162)), 168)
            group = [group[0], sentence(other, other_fill, channel="B"), *group[1:]]
        lines.extend(group)
    return [line.encode("latin-1") for line in lines[:count]]


def position_sentence(seed: int, channel: str = "A") -> str:
    """A valid type 1 sentence whose payload depends on *seed*."""
    payload, fill = armour(with_type(1, 168, seed * 7919 + 13), 168)
    return sentence(payload, fill, channel=channel)


def clean_stream(seed: int, count: int, *, noise: bool = False) -> list[bytes]:
    """Valid messages, fragments of several keys interleaved, some groups left open.

    With *noise*, single sentences off the fast path too: tag blocks, trailing times,
    garbage and bad checksums (none of which touches the fragment buffer).
    """
    rnd = random.Random(seed)
    lines: list[str] = []
    open_groups: list[list[str]] = []
    while len(lines) < count:
        if noise and rnd.random() < 0.15:
            single = position_sentence(rnd.randrange(10**6), rnd.choice("AB"))
            tag = f"c:{1_700_000_000 + len(lines)}"
            lines.append(
                rnd.choice(
                    (
                        f"\\{tag}*{checksum(tag)}\\{single}",
                        f"{single},{1_700_000_000 + len(lines)}",
                        "garbage",
                        single[:-1] + ("0" if single[-1] != "0" else "1"),
                    )
                )
            )
            continue
        if open_groups and rnd.random() < 0.5:
            group = rnd.choice(open_groups)
            lines.append(group.pop(0))
            if not group:
                open_groups.remove(group)
            continue
        if rnd.random() < 0.5:
            lines.append(position_sentence(rnd.randrange(10**6), rnd.choice("AB")))
            continue
        per_sentence = rnd.choice((30, 60))
        key = (str(rnd.randrange(10)), rnd.choice("AB"))
        if any(g and g[0].split(",")[3:5] == list(key) for g in open_groups):
            continue
        group = split_sentences(with_type(5, 424, rnd.getrandbits(418)), 424, sequence=key[0],
                                channel=key[1], per_sentence=per_sentence)  # fmt: skip
        open_groups.append(group)
    return [line.encode() for line in lines]
