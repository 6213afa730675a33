"""AIS message layouts and the bit-level decoder of ``trilat.adapters.ais`` (internal, unstable).

Each supported message is a :class:`Layout`: its fields in transmission order with bit offset,
width, kind and the conversion to the published unit (ITU-R M.1371-5, as documented in
gpsd's AIVDM/AIVDO protocol decoding). Field names and value conventions are those of pyais,
so a decoded message compares equal to ``pyais.decode(...).asdict()``:

- "not available" values are kept as transmitted (``lat`` 91.0, ``speed`` 102.3,
  ``heading`` 511, ``turn`` -128.0), not replaced by ``None``;
- enumerations are plain ints, folded the way pyais folds unknown codes (a reserved
  ship type 26 reads as 25, an EPFD code 9-14 as 0);
- a field that lies wholly past the end of a short payload is ``None``; a field cut by the
  end keeps the bits that are there.

Pure: no IO, no clock.
"""

from __future__ import annotations

import math
import struct
from binascii import a2b_base64, b2a_base64
from dataclasses import dataclass
from typing import Any, Final

# Field kinds.
UNSIGNED: Final = 0
SIGNED: Final = 1
BOOLEAN: Final = 2
TEXT: Final = 3

# Conversions applied after extraction.
RAW: Final = 0
TENTH: Final = 1  # value / 10 (knots, degrees, metres)
LATLON: Final = 2  # 1/10000 minute -> degrees, 6 decimals
LATLON_600: Final = 3  # 1/10 minute -> degrees, 6 decimals (type 27)
TURN: Final = 4  # ROT_AIS -> degrees per minute
FLOAT: Final = 5  # unscaled value as a float (type 27 speed and course)
SHIP_TYPE: Final = 6  # folded to the ship types pyais names
EPFD: Final = 7  # folded to the fix types pyais names

# Armouring (ITU-R M.1371 §8.2.4 / IEC 61162-1): '0'..'W' carry 0..39, '`'..'w' carry 40..63.
_ARMOUR_VALUES: Final[dict[int, int]] = {
    **{c: c - 48 for c in range(48, 88)},
    **{c: c - 56 for c in range(96, 120)},
}
ARMOUR_CHARACTERS: Final[bytes] = bytes(sorted(_ARMOUR_VALUES))
_B64: Final[bytes] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Armour -> base64 alphabet, so that binascii does the 6-to-8 bit repacking in C. Any other
# byte becomes '*', which a2b_base64 skips: the output then comes out short or raises, which
# is how a bad character is detected without a second pass.
ARMOUR_TO_BASE64: Final[bytes] = bytes(
    _B64[_ARMOUR_VALUES[c]] if c in _ARMOUR_VALUES else 42 for c in range(256)
)
# Six-bit text (ITU-R M.1371 table 47): 0..31 are '@'..'_', 32..63 are ' '..'?'.
SIXBIT_TEXT: Final[bytes] = bytes(v + 64 if v < 32 else v for v in range(64))
BASE64_TO_TEXT: Final[bytes] = bytes.maketrans(_B64, SIXBIT_TEXT)
_PAD: Final[tuple[bytes, ...]] = (b"", b"AAA", b"AA", b"A")


def payload_bits(payload: bytes, fill: int) -> tuple[int, int] | None:
    """The payload as one integer and its length in bits, or None on a non-armour character."""
    count = len(payload)
    pad = -count & 3
    try:
        raw = a2b_base64(payload.translate(ARMOUR_TO_BASE64) + _PAD[count & 3])
    except ValueError:  # binascii.Error: characters were dropped
        return None
    if len(raw) * 4 != (count + pad) * 3:
        return None
    return int.from_bytes(raw, "big") >> (6 * pad + fill), 6 * count - fill


def first_bad_character(payload: bytes) -> int:
    """Offset of the first non-armour byte of *payload* (-1 if none)."""
    for offset, byte in enumerate(payload):
        if byte not in _ARMOUR_VALUES:
            return offset
    return -1


def turn_rate(raw: int) -> float:
    """ROT_AIS to degrees per minute: sign kept, squared over 4.733, rounded half to even."""
    if raw == 0:
        return 0.0
    if raw in (127, -127, -128):  # no turn indicator: right, left, not available
        return float(raw)
    return math.copysign(round((raw / 4.733) ** 2), raw)


def _fold_ship_type(value: int) -> int:
    # Codes with a name keep their value; a reserved code folds onto its decade's
    # "reserved" entry; anything else is 0, not available.
    named = {0, *range(20, 26), 29, *range(30, 38), *range(40, 46), 49, *range(50, 57)}
    named |= {58, 59, *range(60, 66), 69, *range(70, 76), 79, *range(80, 86), 89}
    named |= {*range(90, 96), 99}
    if value in named:
        return value
    for low, high, reserved in ((24, 30, 25), (44, 49, 45), (55, 58, 56), (64, 69, 65),
                                (74, 79, 75), (84, 89, 85), (94, 99, 95)):  # fmt: skip
        if low < value < high:
            return reserved
    return 0


TURN_TABLE: Final[tuple[float, ...]] = tuple(
    turn_rate(r - 256 if r > 127 else r) for r in range(256)
)
SHIP_TYPE_TABLE: Final[tuple[int, ...]] = tuple(_fold_ship_type(v) for v in range(256))
EPFD_TABLE: Final[tuple[int, ...]] = tuple(v if v <= 8 or v == 15 else 0 for v in range(16))


def latlon(raw: int) -> float:
    """1/10000 minute to degrees rounded to 6 decimals: round(raw * 10 / 6) / 1e6, exactly."""
    return ((10 * raw + 3) // 6) / 1e6


def latlon_600(raw: int) -> float:
    """1/10 minute to degrees rounded to 6 decimals (type 27)."""
    return ((10000 * raw + 3) // 6) / 1e6


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a layout: *width* bits at *offset* from the start of the payload."""

    name: str
    offset: int
    width: int
    kind: int
    convert: int


@dataclass(frozen=True, slots=True)
class Layout:
    """A message layout; *required_bits* is where its last named field ends."""

    name: str
    fields: tuple[Field, ...]
    required_bits: int

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


_Spec = tuple[str | None, int, int, int]  # (name, or None for spare bits), width, kind, convert

_HEADER: Final[tuple[_Spec, ...]] = (
    ("msg_type", 6, UNSIGNED, RAW),
    ("repeat", 2, UNSIGNED, RAW),
    ("mmsi", 30, UNSIGNED, RAW),
)


def _layout(name: str, *specs: _Spec) -> Layout:
    fields: list[Field] = []
    offset = 0
    for field_name, width, kind, convert in (*_HEADER, *specs):
        if field_name is not None:
            fields.append(Field(field_name, offset, width, kind, convert))
        offset += width
    last = fields[-1]
    return Layout(name, tuple(fields), last.offset + last.width)


_DIMENSIONS: Final[tuple[_Spec, ...]] = (
    ("to_bow", 9, UNSIGNED, RAW),
    ("to_stern", 9, UNSIGNED, RAW),
    ("to_port", 6, UNSIGNED, RAW),
    ("to_starboard", 6, UNSIGNED, RAW),
)

# Types 1, 2, 3: class A position report (168 bits).
POSITION_A: Final = _layout(
    "position_a",
    ("status", 4, UNSIGNED, RAW),
    ("turn", 8, SIGNED, TURN),
    ("speed", 10, UNSIGNED, TENTH),
    ("accuracy", 1, BOOLEAN, RAW),
    ("lon", 28, SIGNED, LATLON),
    ("lat", 27, SIGNED, LATLON),
    ("course", 12, UNSIGNED, TENTH),
    ("heading", 9, UNSIGNED, RAW),
    ("second", 6, UNSIGNED, RAW),
    ("maneuver", 2, UNSIGNED, RAW),
    (None, 3, UNSIGNED, RAW),
    ("raim", 1, BOOLEAN, RAW),
    ("radio", 19, UNSIGNED, RAW),
)

# Type 4: base station report (168 bits).
BASE_STATION: Final = _layout(
    "base_station",
    ("year", 14, UNSIGNED, RAW),
    ("month", 4, UNSIGNED, RAW),
    ("day", 5, UNSIGNED, RAW),
    ("hour", 5, UNSIGNED, RAW),
    ("minute", 6, UNSIGNED, RAW),
    ("second", 6, UNSIGNED, RAW),
    ("accuracy", 1, BOOLEAN, RAW),
    ("lon", 28, SIGNED, LATLON),
    ("lat", 27, SIGNED, LATLON),
    ("epfd", 4, UNSIGNED, EPFD),
    (None, 10, UNSIGNED, RAW),
    ("raim", 1, BOOLEAN, RAW),
    ("radio", 19, UNSIGNED, RAW),
)

# Type 5: static and voyage related data (424 bits, two sentences).
STATIC_VOYAGE: Final = _layout(
    "static_voyage",
    ("ais_version", 2, UNSIGNED, RAW),
    ("imo", 30, UNSIGNED, RAW),
    ("callsign", 42, TEXT, RAW),
    ("shipname", 120, TEXT, RAW),
    ("ship_type", 8, UNSIGNED, SHIP_TYPE),
    *_DIMENSIONS,
    ("epfd", 4, UNSIGNED, EPFD),
    ("month", 4, UNSIGNED, RAW),
    ("day", 5, UNSIGNED, RAW),
    ("hour", 5, UNSIGNED, RAW),
    ("minute", 6, UNSIGNED, RAW),
    ("draught", 8, UNSIGNED, TENTH),
    ("destination", 120, TEXT, RAW),
    ("dte", 1, BOOLEAN, RAW),
    (None, 1, UNSIGNED, RAW),
)

# Type 18: standard class B position report (168 bits).
POSITION_B: Final = _layout(
    "position_b",
    ("reserved_1", 8, UNSIGNED, RAW),
    ("speed", 10, UNSIGNED, TENTH),
    ("accuracy", 1, BOOLEAN, RAW),
    ("lon", 28, SIGNED, LATLON),
    ("lat", 27, SIGNED, LATLON),
    ("course", 12, UNSIGNED, TENTH),
    ("heading", 9, UNSIGNED, RAW),
    ("second", 6, UNSIGNED, RAW),
    ("reserved_2", 2, UNSIGNED, RAW),
    ("cs", 1, BOOLEAN, RAW),
    ("display", 1, BOOLEAN, RAW),
    ("dsc", 1, BOOLEAN, RAW),
    ("band", 1, BOOLEAN, RAW),
    ("msg22", 1, BOOLEAN, RAW),
    ("assigned", 1, BOOLEAN, RAW),
    ("raim", 1, BOOLEAN, RAW),
    ("radio", 20, UNSIGNED, RAW),
)

# Type 19: extended class B position report (312 bits).
EXTENDED_B: Final = _layout(
    "extended_b",
    ("reserved_1", 8, UNSIGNED, RAW),
    ("speed", 10, UNSIGNED, TENTH),
    ("accuracy", 1, BOOLEAN, RAW),
    ("lon", 28, SIGNED, LATLON),
    ("lat", 27, SIGNED, LATLON),
    ("course", 12, UNSIGNED, TENTH),
    ("heading", 9, UNSIGNED, RAW),
    ("second", 6, UNSIGNED, RAW),
    ("reserved_2", 4, UNSIGNED, RAW),
    ("shipname", 120, TEXT, RAW),
    ("ship_type", 8, UNSIGNED, SHIP_TYPE),
    *_DIMENSIONS,
    ("epfd", 4, UNSIGNED, EPFD),
    ("raim", 1, BOOLEAN, RAW),
    ("dte", 1, BOOLEAN, RAW),
    ("assigned", 1, BOOLEAN, RAW),
    (None, 4, UNSIGNED, RAW),
)

# Type 21: aid-to-navigation report (272 bits, up to 360 with the name extension).
AID_TO_NAVIGATION: Final = _layout(
    "aid_to_navigation",
    ("aid_type", 5, UNSIGNED, RAW),
    ("name", 120, TEXT, RAW),
    ("accuracy", 1, BOOLEAN, RAW),
    ("lon", 28, SIGNED, LATLON),
    ("lat", 27, SIGNED, LATLON),
    *_DIMENSIONS,
    ("epfd", 4, UNSIGNED, EPFD),
    ("second", 6, UNSIGNED, RAW),
    ("off_position", 1, BOOLEAN, RAW),
    ("reserved_1", 8, UNSIGNED, RAW),
    ("raim", 1, BOOLEAN, RAW),
    ("virtual_aid", 1, BOOLEAN, RAW),
    ("assigned", 1, BOOLEAN, RAW),
    (None, 1, UNSIGNED, RAW),
    ("name_ext", 88, TEXT, RAW),
)

# Type 24: static data report, part A (160 bits; 168 with the trailing spare).
STATIC_A: Final = _layout(
    "static_a",
    ("partno", 2, UNSIGNED, RAW),
    ("shipname", 120, TEXT, RAW),
)

_STATIC_B_HEAD: Final[tuple[_Spec, ...]] = (
    ("partno", 2, UNSIGNED, RAW),
    ("ship_type", 8, UNSIGNED, RAW),  # unfolded in part B, as pyais leaves it
    ("vendorid", 18, TEXT, RAW),
    ("model", 4, UNSIGNED, RAW),
    ("serial", 20, UNSIGNED, RAW),
    ("callsign", 42, TEXT, RAW),
)

# Type 24: static data report, part B (168 bits).
STATIC_B: Final = _layout("static_b", *_STATIC_B_HEAD, *_DIMENSIONS, (None, 6, UNSIGNED, RAW))

# Type 24 part B of an auxiliary craft (MMSI 98MIDXXXX): the mothership's MMSI replaces
# the dimensions.
STATIC_B_AUXILIARY: Final = _layout(
    "static_b_auxiliary",
    *_STATIC_B_HEAD,
    ("mothership_mmsi", 30, UNSIGNED, RAW),
    (None, 6, UNSIGNED, RAW),
)

# Type 27: long-range broadcast (96 bits).
LONG_RANGE: Final = _layout(
    "long_range",
    ("accuracy", 1, BOOLEAN, RAW),
    ("raim", 1, BOOLEAN, RAW),
    ("status", 4, UNSIGNED, RAW),
    ("lon", 18, SIGNED, LATLON_600),
    ("lat", 17, SIGNED, LATLON_600),
    ("speed", 6, UNSIGNED, FLOAT),
    ("course", 9, UNSIGNED, FLOAT),
    ("gnss", 1, BOOLEAN, RAW),
    (None, 1, UNSIGNED, RAW),
)

LAYOUTS: Final[tuple[Layout, ...]] = (
    POSITION_A,
    BASE_STATION,
    STATIC_VOYAGE,
    POSITION_B,
    EXTENDED_B,
    AID_TO_NAVIGATION,
    STATIC_A,
    STATIC_B,
    STATIC_B_AUXILIARY,
    LONG_RANGE,
)

SUPPORTED_TYPES: Final[frozenset[int]] = frozenset({1, 2, 3, 4, 5, 18, 19, 21, 24, 27})
POSITION_TYPES: Final[frozenset[int]] = frozenset({1, 2, 3, 18, 19, 27})

_BY_TYPE: Final[dict[int, Layout]] = {
    1: POSITION_A,
    2: POSITION_A,
    3: POSITION_A,
    4: BASE_STATION,
    5: STATIC_VOYAGE,
    18: POSITION_B,
    19: EXTENDED_B,
    21: AID_TO_NAVIGATION,
    27: LONG_RANGE,
}

UNSUPPORTED_TYPE: Final = "unsupported_type"
UNKNOWN_PART_NUMBER: Final = "unknown_part_number"


def is_auxiliary_craft(mmsi: int) -> bool:
    """An auxiliary craft's MMSI has the form 98MIDXXXX (ITU-R M.585 annex 2)."""
    return 980_000_000 <= mmsi <= 989_999_999


def _field(value: int, nbits: int, offset: int, width: int) -> int:
    """Unsigned bits [offset, offset+width) of a *nbits*-long value; a cut field keeps its bits."""
    available = min(width, nbits - offset)
    return (value >> (nbits - offset - available)) & ((1 << available) - 1)


def select_layout(value: int, nbits: int) -> Layout | str:
    """The layout of a payload, or the reason it cannot be decoded."""
    msg_type = value >> (nbits - 6) if nbits >= 6 else _field(value, nbits, 0, 6)
    layout = _BY_TYPE.get(msg_type)
    if layout is not None:
        return layout
    if msg_type != 24:
        return UNSUPPORTED_TYPE
    part = _field(value, nbits, 38, 2) if nbits > 38 else 0
    if part == 0:
        return STATIC_A
    if part == 1:
        mmsi = _field(value, nbits, 8, 30) if nbits > 8 else 0
        return STATIC_B_AUXILIARY if is_auxiliary_craft(mmsi) else STATIC_B
    return UNKNOWN_PART_NUMBER


def text(value: int, chars: int) -> str:
    """Six-bit text of *chars* characters packed in *value*, trailing '@' and spaces removed."""
    pad = -chars & 3
    packed = (value << (6 * pad)).to_bytes((chars + pad) * 3 // 4, "big")
    decoded = b2a_base64(packed, newline=False)[:chars].translate(BASE64_TO_TEXT)
    return decoded.decode("ascii").rstrip("@").strip()


def _cut_text(value: int, nbits: int, offset: int, width: int) -> str:
    # A text field cut by the end of the payload: each six-bit step keeps what bits it has.
    out = []
    for start in range(offset, offset + width, 6):
        out.append(SIXBIT_TEXT[_field(value, nbits, start, 6)] if start < nbits else 64)
    return bytes(out).decode("ascii").rstrip("@").strip()


def decode_fields(layout: Layout, value: int, nbits: int) -> dict[str, Any]:
    """Every named field of *layout* from a *nbits*-long payload *value*."""
    out: dict[str, Any] = {}
    for field in layout.fields:
        offset, width = field.offset, field.width
        if offset >= nbits:
            out[field.name] = None
            continue
        end = offset + width
        if end <= nbits:
            raw = (value >> (nbits - end)) & ((1 << width) - 1)
            available = width
        else:
            available = nbits - offset
            raw = value & ((1 << available) - 1)
        kind = field.kind
        result: Any
        if kind == TEXT:
            if end <= nbits and width % 6 == 0:
                result = text(raw, width // 6)
            else:
                result = _cut_text(value, nbits, offset, width)
        elif kind == BOOLEAN:
            result = bool(raw)
        else:
            if kind == SIGNED and raw >> (available - 1):
                raw -= 1 << available
            convert = field.convert
            if convert == RAW:
                result = raw
            elif convert == TENTH:
                result = raw / 10.0
            elif convert == LATLON:
                result = latlon(raw)
            elif convert == LATLON_600:
                result = latlon_600(raw)
            elif convert == TURN:
                result = TURN_TABLE[raw & 0xFF]
            elif convert == FLOAT:
                result = float(raw)
            elif convert == SHIP_TYPE:
                result = SHIP_TYPE_TABLE[raw]
            else:  # EPFD
                result = EPFD_TABLE[raw]
        out[field.name] = result
    if layout is AID_TO_NAVIGATION:
        name, extension = out["name"], out["name_ext"]
        out["full_name"] = (f"{name}{extension}" if extension else str(name)) if name else ""
    return out


def decode_position_a(v: int) -> dict[str, Any]:
    """Types 1-3 at their full 168 bits: the hot path, unrolled."""
    lon = (v >> 79) & 0xFFFFFFF
    lat = (v >> 52) & 0x7FFFFFF
    if lon & 0x8000000:
        lon -= 0x10000000
    if lat & 0x4000000:
        lat -= 0x8000000
    return {
        "msg_type": v >> 162,
        "repeat": (v >> 160) & 3,
        "mmsi": (v >> 130) & 0x3FFFFFFF,
        "status": (v >> 126) & 15,
        "turn": TURN_TABLE[(v >> 118) & 255],
        "speed": ((v >> 108) & 1023) / 10.0,
        "accuracy": bool((v >> 107) & 1),
        "lon": ((10 * lon + 3) // 6) / 1e6,
        "lat": ((10 * lat + 3) // 6) / 1e6,
        "course": ((v >> 40) & 4095) / 10.0,
        "heading": (v >> 31) & 511,
        "second": (v >> 25) & 63,
        "maneuver": (v >> 23) & 3,
        "raim": bool((v >> 19) & 1),
        "radio": v & 0x7FFFF,
    }


def decode_position_b(v: int) -> dict[str, Any]:
    """Type 18 at its full 168 bits: the hot path, unrolled."""
    lon = (v >> 83) & 0xFFFFFFF
    lat = (v >> 56) & 0x7FFFFFF
    if lon & 0x8000000:
        lon -= 0x10000000
    if lat & 0x4000000:
        lat -= 0x8000000
    return {
        "msg_type": v >> 162,
        "repeat": (v >> 160) & 3,
        "mmsi": (v >> 130) & 0x3FFFFFFF,
        "reserved_1": (v >> 122) & 255,
        "speed": ((v >> 112) & 1023) / 10.0,
        "accuracy": bool((v >> 111) & 1),
        "lon": ((10 * lon + 3) // 6) / 1e6,
        "lat": ((10 * lat + 3) // 6) / 1e6,
        "course": ((v >> 44) & 4095) / 10.0,
        "heading": (v >> 35) & 511,
        "second": (v >> 29) & 63,
        "reserved_2": (v >> 27) & 3,
        "cs": bool((v >> 26) & 1),
        "display": bool((v >> 25) & 1),
        "dsc": bool((v >> 24) & 1),
        "band": bool((v >> 23) & 1),
        "msg22": bool((v >> 22) & 1),
        "assigned": bool((v >> 21) & 1),
        "raim": bool((v >> 20) & 1),
        "radio": v & 0xFFFFF,
    }


_WORDS: Final = struct.Struct(">QQIB").unpack  # 168 bits as 64 + 64 + 32 + 8


def decode_168(raw: bytes) -> dict[str, Any] | None:
    """Types 1-3 and 18 from the 21 de-armoured bytes of a 168-bit payload (None: other type).

    The hot path of the stream decoder: four machine-sized words instead of one 168-bit
    integer. Bit *k* of the payload is bit 63-k of ``w0``, 127-k of ``w1``, 159-k of ``w2``.
    """
    w0, w1, w2, tail = _WORDS(raw)
    msg_type = w0 >> 58
    if 1 <= msg_type <= 3:
        lon = ((w0 & 7) << 25) | (w1 >> 39)
        lat = (w1 >> 12) & 0x7FFFFFF
        if lon & 0x8000000:
            lon -= 0x10000000
        if lat & 0x4000000:
            lat -= 0x8000000
        return {
            "msg_type": msg_type,
            "repeat": (w0 >> 56) & 3,
            "mmsi": (w0 >> 26) & 0x3FFFFFFF,
            "status": (w0 >> 22) & 15,
            "turn": TURN_TABLE[(w0 >> 14) & 255],
            "speed": ((w0 >> 4) & 1023) / 10.0,
            "accuracy": bool((w0 >> 3) & 1),
            "lon": ((10 * lon + 3) // 6) / 1e6,
            "lat": ((10 * lat + 3) // 6) / 1e6,
            "course": (w1 & 4095) / 10.0,
            "heading": w2 >> 23,
            "second": (w2 >> 17) & 63,
            "maneuver": (w2 >> 15) & 3,
            "raim": bool((w2 >> 11) & 1),
            "radio": ((w2 & 0x7FF) << 8) | tail,
        }
    if msg_type == 18:
        lon = ((w0 & 0x7F) << 21) | (w1 >> 43)
        lat = (w1 >> 16) & 0x7FFFFFF
        if lon & 0x8000000:
            lon -= 0x10000000
        if lat & 0x4000000:
            lat -= 0x8000000
        return {
            "msg_type": 18,
            "repeat": (w0 >> 56) & 3,
            "mmsi": (w0 >> 26) & 0x3FFFFFFF,
            "reserved_1": (w0 >> 18) & 255,
            "speed": ((w0 >> 8) & 1023) / 10.0,
            "accuracy": bool((w0 >> 7) & 1),
            "lon": ((10 * lon + 3) // 6) / 1e6,
            "lat": ((10 * lat + 3) // 6) / 1e6,
            "course": ((w1 >> 4) & 4095) / 10.0,
            "heading": ((w1 & 15) << 5) | (w2 >> 27),
            "second": (w2 >> 21) & 63,
            "reserved_2": (w2 >> 19) & 3,
            "cs": bool((w2 >> 18) & 1),
            "display": bool((w2 >> 17) & 1),
            "dsc": bool((w2 >> 16) & 1),
            "band": bool((w2 >> 15) & 1),
            "msg22": bool((w2 >> 14) & 1),
            "assigned": bool((w2 >> 13) & 1),
            "raim": bool((w2 >> 12) & 1),
            "radio": ((w2 & 0xFFF) << 8) | tail,
        }
    return None


def decode_value(value: int, nbits: int) -> dict[str, Any] | str:
    """Decode a de-armoured payload; a str result is the reason it was refused."""
    if nbits == 168:
        msg_type = value >> 162
        if msg_type <= 3 and msg_type:
            return decode_position_a(value)
        if msg_type == 18:
            return decode_position_b(value)
    layout = select_layout(value, nbits)
    if isinstance(layout, str):
        return layout
    return decode_fields(layout, value, nbits)


def decode_payload(payload: bytes, fill: int) -> dict[str, Any] | str:
    """Decode an armoured payload with *fill* trailing fill bits; str = refusal reason."""
    bits = payload_bits(payload, fill)
    if bits is None:
        return "bad_character"
    return decode_value(*bits)
