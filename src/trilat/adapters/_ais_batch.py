"""Columnar AIS decoding with numpy (internal, unstable; use ``Decoder.decode_batch``).

The lines of a batch are joined into one byte array. Sentences of the common shape
(``!xxVDM,c,n,s,ch,payload,f*hh``, nothing before or after) are checked all at once:
positions of the fixed fields, digits, checksum (from a running XOR over the array) and
armour (from a running count of bad characters). Every other line, and every fragment of a
multi-sentence message, goes through the same Python code as ``Decoder.feed``, in line
order, so counters and reassembly behave exactly as they do line by line.

Complete payloads are then grouped by layout, and each field is cut out of all messages of
a layout at once from the matrix of their six-bit values. Payloads shorter than their
layout, and type 21 (whose last text field is not a whole number of characters), are
decoded one by one by the scalar decoder.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from trilat.adapters import _ais_layouts as layouts
from trilat.adapters._ais_layouts import Layout, decode_value, is_auxiliary_craft, payload_bits

if TYPE_CHECKING:
    from trilat.adapters.ais import Decoder, Message

_Array = npt.NDArray[Any]

_SIX_BIT: Final = np.full(256, 255, dtype=np.uint8)
for _char in layouts.ARMOUR_CHARACTERS:
    _SIX_BIT[_char] = layouts.payload_bits(bytes([_char]), 0)[0]  # type: ignore[index]
_HEX_VALUE: Final = np.full(256, 255, dtype=np.uint8)
for _digit, _char in enumerate(b"0123456789ABCDEF"):
    _HEX_VALUE[_char] = _digit
    _HEX_VALUE[bytes([_char]).lower()[0]] = _digit
_TALKER_CHAR: Final = np.zeros(256, dtype=bool)
_TALKER_CHAR[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")] = True
_TEXT: Final = np.frombuffer(layouts.SIXBIT_TEXT, dtype=np.uint8)
_TURN: Final = np.array(layouts.TURN_TABLE, dtype=np.float64)
_SHIP_TYPE: Final = np.array(layouts.SHIP_TYPE_TABLE, dtype=np.int64)
_EPFD: Final = np.array(layouts.EPFD_TABLE, dtype=np.int64)
_MIN_LINE: Final = 19  # !AIVDM,1,1,,,0,0*hh
_MAX_PAYLOAD: Final = 200


@dataclass(frozen=True, slots=True)
class Table:
    """Messages of one layout as columns (pyais field names), with the line each ended on."""

    layout: str
    columns: dict[str, _Array]
    line: _Array  # index of the completing line in the batch (int64)
    received_at: _Array  # POSIX seconds (float64), NaN when unknown

    def __len__(self) -> int:
        return len(self.line)

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per message, plain Python values, in this table's order."""
        names = list(self.columns)
        values = [column.tolist() for column in self.columns.values()]
        return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


@dataclass(frozen=True, slots=True)
class Batch:
    """The messages completed by a batch of lines: columns per layout, plus stragglers.

    ``tables`` hold the messages decoded in columns; ``others`` those decoded one by one
    (short payloads, type 21, lines with tag blocks or trailing times), as
    (line, fields, received_at). ``messages()`` gives everything back in line order.
    """

    tables: dict[str, Table]
    others: list[tuple[int, dict[str, Any], float | None]]

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values()) + len(self.others)

    def messages(self) -> list[Message]:
        """Every message as (fields, received_at), in the order the lines completed them."""
        from trilat.adapters.ais import Message

        lines: list[_Array] = []
        chunks: list[list[Message]] = []
        for table in self.tables.values():
            times = [None if math.isnan(t) else t for t in table.received_at.tolist()]
            chunks.append([Message(f, t) for f, t in zip(table.to_dicts(), times, strict=True)])
            lines.append(table.line)
        if self.others:
            chunks.append([Message(f, t) for _, f, t in self.others])
            lines.append(np.array([line for line, _, _ in self.others], dtype=np.int64))
        flat = [message for chunk in chunks for message in chunk]
        if len(chunks) <= 1:
            return flat
        order = np.argsort(np.concatenate(lines), kind="stable")
        return [flat[i] for i in order.tolist()]

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every message's fields, in line order."""
        return [message.fields for message in self.messages()]

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages())


def _bits_of(matrix: _Array, offset: int, width: int) -> _Array:
    """Unsigned *width*-bit field at bit *offset* of every row of a six-bit value matrix."""
    first, last = offset // 6, (offset + width - 1) // 6
    value = matrix[:, first].astype(np.int64)
    for column in range(first + 1, last + 1):
        value = (value << 6) | matrix[:, column]
    value >>= 6 * (last + 1) - (offset + width)
    value &= (1 << width) - 1
    return value


def _text_of(matrix: _Array, offset: int, width: int) -> _Array:
    chars = width // 6
    values = np.empty((matrix.shape[0], chars), dtype=np.uint8)
    for index in range(chars):
        values[:, index] = _bits_of(matrix, offset + 6 * index, 6)
    raw = np.ascontiguousarray(_TEXT[values]).view(f"S{chars}").reshape(-1)
    return np.strings.strip(np.strings.rstrip(raw, b"@")).astype(f"U{chars}")


def _columns(layout: Layout, matrix: _Array) -> dict[str, _Array]:
    out: dict[str, _Array] = {}
    for field in layout.fields:
        kind, convert = field.kind, field.convert
        if kind == layouts.TEXT:
            out[field.name] = _text_of(matrix, field.offset, field.width)
            continue
        raw = _bits_of(matrix, field.offset, field.width)
        if kind == layouts.BOOLEAN:
            out[field.name] = raw.astype(bool)
            continue
        if kind == layouts.SIGNED:
            raw = np.where(raw >> (field.width - 1), raw - (1 << field.width), raw)
        if convert == layouts.RAW:
            out[field.name] = raw
        elif convert == layouts.TENTH:
            out[field.name] = raw / 10.0
        elif convert == layouts.LATLON:
            out[field.name] = ((10 * raw + 3) // 6) / 1e6
        elif convert == layouts.LATLON_600:
            out[field.name] = ((10000 * raw + 3) // 6) / 1e6
        elif convert == layouts.TURN:
            out[field.name] = _TURN[raw & 0xFF]
        elif convert == layouts.FLOAT:
            out[field.name] = raw.astype(np.float64)
        elif convert == layouts.SHIP_TYPE:
            out[field.name] = _SHIP_TYPE[raw]
        else:
            out[field.name] = _EPFD[raw]
    return out


def _fast_lines(arr: _Array, starts: _Array, lens: _Array) -> dict[str, _Array]:
    """Vectorised check of the common sentence shape; returns per-line fields and a mask."""
    size = len(arr)
    last = size - 1
    ends = starts + lens

    def at(index: _Array) -> _Array:
        return arr[np.minimum(index, last)]

    ok = lens >= _MIN_LINE
    ok &= at(starts) == 33  # '!'
    ok &= _TALKER_CHAR[at(starts + 1)] & _TALKER_CHAR[at(starts + 2)]
    ok &= at(starts + 3) == 86  # 'V'
    ok &= at(starts + 4) == 68  # 'D'
    sixth = at(starts + 5)
    ok &= (sixth == 77) | (sixth == 79)  # 'M' or 'O'
    ok &= (at(starts + 6) == 44) & (at(starts + 8) == 44) & (at(starts + 10) == 44)
    count = at(starts + 7).astype(np.int64) - 48
    number = at(starts + 9).astype(np.int64) - 48
    ok &= (count >= 1) & (count <= 9) & (number >= 1) & (number <= count)
    # sequential message id: empty or one digit
    seq_empty = at(starts + 11) == 44
    seq_char = at(starts + 11)
    seq_one = (seq_char >= 48) & (seq_char <= 57) & (at(starts + 12) == 44)
    ok &= seq_empty | seq_one
    c3 = np.where(seq_empty, starts + 11, starts + 12)
    # channel: empty or one letter/digit
    chan_char = at(c3 + 1)
    chan_empty = chan_char == 44
    chan_one = _TALKER_CHAR[chan_char] & (at(c3 + 2) == 44)
    ok &= chan_empty | chan_one
    c4 = np.where(chan_empty, c3 + 1, c3 + 2)
    c5 = ends - 5
    ok &= at(c5) == 44
    fill = at(ends - 4).astype(np.int64) - 48
    ok &= (fill >= 0) & (fill <= 5)
    ok &= at(ends - 3) == 42  # '*'
    high, low = _HEX_VALUE[at(ends - 2)], _HEX_VALUE[at(ends - 1)]
    ok &= (high != 255) & (low != 255)
    payload_start = c4 + 1
    payload_len = c5 - payload_start
    ok &= (payload_len >= 1) & (payload_len <= _MAX_PAYLOAD)
    return {
        "ok": ok,
        "count": count,
        "number": number,
        "seq_empty": seq_empty,
        "c3": c3,
        "chan_empty": chan_empty,
        "payload_start": payload_start,
        "payload_len": payload_len,
        "fill": fill,
        "checksum": (high.astype(np.int64) << 4) | low,
        "ends": ends,
    }


def decode_lines(decoder: Decoder, lines: Sequence[bytes], received_at: float | None) -> Batch:
    """Decode *lines* with *decoder*'s state and counters (see module docstring)."""
    from trilat.adapters.ais import Sentence, _Reject, parse_sentence

    count = len(lines)
    stats = decoder.stats
    if count == 0:
        return Batch({}, [])
    try:
        data = b"\n".join(lines)
    except TypeError:  # str lines: decode one by one
        others: list[tuple[int, dict[str, Any], float | None]] = []
        for index, line in enumerate(lines):
            message = decoder.feed(line, received_at)
            if message is not None:
                others.append((index, message.fields, message.received_at))
        return Batch({}, others)
    stats.sentences += count
    base_line = decoder._line
    decoder._line += count
    arr = np.frombuffer(data, dtype=np.uint8)
    lens = np.fromiter(map(len, lines), dtype=np.int64, count=count)
    starts = np.zeros(count, dtype=np.int64)
    np.cumsum(lens[:-1] + 1, out=starts[1:])
    f = _fast_lines(arr, starts, lens)
    ok = f["ok"]
    # Checksum over [start+1, '*'): running XOR; armour over the payload: running bad count.
    running_xor = np.bitwise_xor.accumulate(arr)
    star = f["ends"] - 3
    last = len(arr) - 1
    computed = running_xor[np.clip(star - 1, 0, last)] ^ running_xor[np.clip(starts, 0, last)]
    ok &= computed == f["checksum"]
    six = _SIX_BIT[arr]
    bad_running = np.cumsum(six == 255, dtype=np.int64)
    p0, plen = f["payload_start"], f["payload_len"]
    p1 = np.clip(p0 + plen - 1, 0, last)
    before = np.where(p0 >= 1, bad_running[np.clip(p0 - 1, 0, last)], 0)
    ok &= (bad_running[p1] - before) == 0
    single = ok & (f["count"] == 1)
    # Lines for the Python path (in order): everything not fast, and fast fragments.
    python_lines = np.flatnonzero(~single).tolist()
    spans: list[tuple[int, bytes, int, float | None]] = []  # (line, payload, fill, time)
    others_list: list[tuple[int, dict[str, Any], float | None]] = []
    rejected = stats.rejected
    if python_lines:
        chosen = np.array(python_lines, dtype=np.int64)
        columns = zip(
            python_lines,
            ok[chosen].tolist(),
            f["count"][chosen].tolist(),
            f["number"][chosen].tolist(),
            f["seq_empty"][chosen].tolist(),
            (f["c3"][chosen] - starts[chosen]).tolist(),
            f["chan_empty"][chosen].tolist(),
            (p0[chosen] - starts[chosen]).tolist(),
            plen[chosen].tolist(),
            f["fill"][chosen].tolist(),
            strict=True,
        )
        for index, fast, total, number, seq_empty, c3, chan_empty, p_start, p_len, bits in columns:
            line = lines[index]
            decoder._line = base_line + index + 1
            when = received_at
            if fast:
                sentence = Sentence(
                    line[1:6],
                    total,
                    number,
                    b"" if seq_empty else line[11:12],
                    "" if chan_empty else chr(line[c3 + 1]),
                    line[p_start : p_start + p_len],
                    bits,
                    None,
                )
            else:
                try:
                    sentence = parse_sentence(line)
                except _Reject as refusal:
                    rejected[refusal.reason] += 1
                    continue
                if sentence.received_at is not None:
                    when = sentence.received_at
            if sentence.count == 1:
                spans.append((index, sentence.payload, sentence.fill, when))
                continue
            whole = decoder._fragment(sentence, when)
            if whole is not None:
                spans.append((index, *whole))
        decoder._line = base_line + count
    # Every complete payload: fast singles in place, the rest appended after the batch.
    single_idx = np.flatnonzero(single)
    pos = p0[single_idx]
    nchar = plen[single_idx]
    fill = f["fill"][single_idx]
    line_no = single_idx
    times = np.full(len(single_idx), np.nan if received_at is None else received_at)
    if spans:
        valid = []
        for index, payload, fill_bits, when in spans:
            if not payload:
                rejected["empty_payload"] += 1
            elif payload.translate(None, layouts.ARMOUR_CHARACTERS):
                rejected["bad_character"] += 1
            elif len(payload) > _MAX_PAYLOAD * 9:
                rejected["malformed"] += 1
            else:
                valid.append((index, payload, fill_bits, when))
        if valid:
            extra = b"".join(payload for _, payload, _, _ in valid)
            extra_lens = np.fromiter((len(p) for _, p, _, _ in valid), np.int64, len(valid))
            extra_pos = np.zeros(len(valid), dtype=np.int64)
            np.cumsum(extra_lens[:-1], out=extra_pos[1:])
            extra_pos += len(six)
            six = np.concatenate([six, _SIX_BIT[np.frombuffer(extra, dtype=np.uint8)]])
            pos = np.concatenate([pos, extra_pos])
            nchar = np.concatenate([nchar, extra_lens])
            fill = np.concatenate([fill, np.fromiter((v[2] for v in valid), np.int64, len(valid))])
            line_no = np.concatenate([line_no, np.fromiter((v[0] for v in valid), np.int64)])
            more = (np.nan if v[3] is None else v[3] for v in valid)
            times = np.concatenate([times, np.fromiter(more, np.float64, len(valid))])
    tables, scalar = _decode_payloads(six, pos, nchar, fill, line_no, times, stats)
    for index in scalar:
        start, length = int(pos[index]), int(nchar[index])
        # Rebuild the armour from six-bit values: '0'+v below 40, '`'+(v-40) above.
        payload = bytes(v + 48 if v < 40 else v + 56 for v in six[start : start + length].tolist())
        bits = payload_bits(payload, int(fill[index]))
        decoded = decode_value(*bits) if bits is not None else "bad_character"
        if isinstance(decoded, str):
            rejected[decoded] += 1
            continue
        when = float(times[index])
        others_list.append((int(line_no[index]), decoded, None if math.isnan(when) else when))
    stats.messages += len(others_list) + sum(len(t) for t in tables.values())
    return Batch(tables, others_list)


_GROUPS: Final[tuple[tuple[Layout, tuple[int, ...]], ...]] = (
    (layouts.POSITION_A, (1, 2, 3)),
    (layouts.BASE_STATION, (4,)),
    (layouts.STATIC_VOYAGE, (5,)),
    (layouts.POSITION_B, (18,)),
    (layouts.EXTENDED_B, (19,)),
    (layouts.LONG_RANGE, (27,)),
)


def _decode_payloads(
    six: _Array,
    pos: _Array,
    nchar: _Array,
    fill: _Array,
    line_no: _Array,
    times: _Array,
    stats: Any,
) -> tuple[dict[str, Table], list[int]]:
    """Columns per layout for payloads long enough; indices of those left to the scalar path."""
    nbits = 6 * nchar - fill
    msg_type = six[pos].astype(np.int64)  # the first character is the message type
    tiny = nbits < 6  # not even a whole type field: the scalar path copes
    scalar: list[int] = np.flatnonzero(tiny | (msg_type == 21)).tolist()
    unsupported = ~np.isin(msg_type, sorted(layouts.SUPPORTED_TYPES)) & ~tiny
    if unsupported.any():
        stats.rejected["unsupported_type"] += int(unsupported.sum())
    groups: list[tuple[Layout, _Array]] = [
        (layout, np.isin(msg_type, types) & ~tiny) for layout, types in _GROUPS
    ]
    is24 = (msg_type == 24) & ~tiny
    if is24.any():
        # Parts need the part number (bits 38-39) and, for part B, the MMSI: short ones and
        # parts 2 and 3 go to the scalar path, which decodes or names them as pyais would.
        idx = np.flatnonzero(is24 & (nbits >= 40))
        head = _matrix(six, pos[idx], 7)
        part, mmsi = _bits_of(head, 38, 2), _bits_of(head, 8, 30)
        auxiliary = (mmsi >= 980_000_000) & (mmsi <= 989_999_999)
        handled = np.zeros(len(msg_type), dtype=bool)
        for layout, chosen in (
            (layouts.STATIC_A, part == 0),
            (layouts.STATIC_B, (part == 1) & ~auxiliary),
            (layouts.STATIC_B_AUXILIARY, (part == 1) & auxiliary),
        ):
            mask = np.zeros(len(msg_type), dtype=bool)
            mask[idx[chosen]] = True
            handled |= mask
            groups.append((layout, mask))
        scalar.extend(np.flatnonzero(is24 & ~handled).tolist())
    tables: dict[str, Table] = {}
    for layout, mask in groups:
        long_enough = mask & (nbits >= layout.required_bits)
        scalar.extend(np.flatnonzero(mask & ~long_enough).tolist())
        idx = np.flatnonzero(long_enough)
        if len(idx) == 0:
            continue
        matrix = _matrix(six, pos[idx], -(-layout.required_bits // 6))
        tables[layout.name] = Table(layout.name, _columns(layout, matrix), line_no[idx], times[idx])
    return tables, sorted(scalar)


def _matrix(six: _Array, pos: _Array, chars: int) -> _Array:
    return six[pos[:, None] + np.arange(chars)]


__all__ = ["Batch", "Table", "decode_lines", "is_auxiliary_craft"]
