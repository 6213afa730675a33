"""Columnar AIS decoding with numpy (internal, unstable; use ``Decoder.decode_batch``).

The lines of a batch are joined into one byte array. Sentences of the common shape
(``!xxVDM,c,n,s,ch,payload,f*hh``, nothing before or after) are checked all at once:
positions of the fixed fields, digits, checksum and armour (one ``reduceat`` each over the
segments). Every other line goes through ``parse_sentence``, like ``Decoder.feed``.

Fragments of multi-sentence messages are reassembled in columns when the batch is "clean"
(see ``_assemble_clean``: nothing waiting before it, every group in order, nothing that
could expire or be evicted), and otherwise line by line through the decoder's own
reassembly, so counters and state are exactly those of feeding the lines one by one.

Complete payloads are then grouped by layout, and each field is cut out of all messages of
a layout at once from the matrix of their six-bit values. Payloads shorter than their
layout, and type 21 (whose last text field is not a whole number of characters), are
decoded one by one by the scalar decoder.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from trilat.adapters import _ais_layouts as layouts
from trilat.adapters._ais_layouts import Layout, decode_value, payload_bits
from trilat.adapters.ais import Message, Sentence, _Reject, parse_sentence

if TYPE_CHECKING:
    from trilat.adapters.ais import Decoder

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


_BUILDERS: dict[tuple[str, ...], Callable[..., dict[str, Any]]] = {}


def _row_builder(names: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """``build(v0, v1, …) -> {names[0]: v0, …}``, compiled once per layout.

    A dict display is the fastest way CPython has to make many small dicts, about twice as
    fast as ``dict(zip(names, row))``; the function is generated the way
    ``collections.namedtuple`` generates ``__new__``, from field names that are constants
    of this package (checked to be identifiers), never from input.
    """
    build = _BUILDERS.get(names)
    if build is None:
        if not all(name.isidentifier() for name in names):
            raise ValueError(f"column names must be identifiers: {names!r}")
        params = ", ".join(f"_{i}" for i in range(len(names)))
        body = ", ".join(f"{name!r}: _{i}" for i, name in enumerate(names))
        namespace: dict[str, Any] = {}
        exec(f"def build({params}):\n    return {{{body}}}\n", namespace)  # noqa: S102
        build = _BUILDERS[names] = namespace["build"]
    return build


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
        build = _row_builder(tuple(self.columns))
        return list(map(build, *(column.tolist() for column in self.columns.values())))


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
        lines: list[_Array] = []
        chunks: list[list[Message]] = []
        for table in self.tables.values():
            times = [None if math.isnan(t) else t for t in table.received_at.tolist()]
            chunks.append([Message(f, t) for f, t in zip(table.to_dicts(), times, strict=True)])
            lines.append(table.line)
        if self.others:
            chunks.append([Message(f, t) for _, f, t in self.others])
            lines.append(np.array([line for line, _, _ in self.others], dtype=np.int64))
        return _merge(chunks, lines)

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every message's fields, in line order."""
        lines = [table.line for table in self.tables.values()]
        chunks = [table.to_dicts() for table in self.tables.values()]
        if self.others:
            chunks.append([fields for _, fields, _ in self.others])
            lines.append(np.array([line for line, _, _ in self.others], dtype=np.int64))
        return _merge(chunks, lines)

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages())


def _merge(chunks: list[list[Any]], lines: list[_Array]) -> list[Any]:
    """Interleave per-table lists (each in line order) into one list in line order."""
    if not chunks:
        return []
    if len(chunks) == 1:
        return chunks[0]
    flat = list(itertools.chain.from_iterable(chunks))
    order = np.argsort(np.concatenate(lines), kind="stable").tolist()
    return list(operator.itemgetter(*order)(flat)) if len(order) > 1 else flat


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
    stripped: _Array = np.strings.strip(np.strings.rstrip(raw, b"@"))
    return stripped.astype(f"U{chars}")


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
        values: _Array = arr[np.clip(index, 0, last)]
        return values

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
    count = len(lines)
    if count == 0:
        return Batch({}, [])
    if set(map(type, lines)) == {bytes}:
        data = b"\n".join(lines) + b"\n"  # never empty, so indices can be clipped to it
    else:  # str, bytearray, …: decode one by one
        others: list[tuple[int, dict[str, Any], float | None]] = []
        for index, line in enumerate(lines):
            message = decoder.feed(line, received_at)
            if message is not None:
                others.append((index, message.fields, message.received_at))
        return Batch({}, others)
    stats = decoder.stats
    stats.sentences += count
    base_line = decoder._line
    arr = np.frombuffer(data, dtype=np.uint8)
    lens = np.fromiter(map(len, lines), dtype=np.int64, count=count)
    starts = np.zeros(count, dtype=np.int64)
    np.cumsum(lens[:-1] + 1, out=starts[1:])
    f = _fast_lines(arr, starts, lens)
    ok = f["ok"]
    six = _SIX_BIT[arr]
    p0, plen = f["payload_start"], f["payload_len"]
    candidates = np.flatnonzero(ok)
    if len(candidates):
        # Checksum of [start+1, '*') and the largest six-bit value of each payload (255 marks
        # a byte that is not armour), one reduceat each over interleaved segment bounds.
        bounds = np.empty(2 * len(candidates), dtype=np.int64)
        bounds[0::2] = starts[candidates] + 1
        bounds[1::2] = f["ends"][candidates] - 3
        checksum_ok = np.bitwise_xor.reduceat(arr, bounds)[0::2] == f["checksum"][candidates]
        bounds[0::2] = p0[candidates]
        bounds[1::2] = p0[candidates] + plen[candidates]
        armour_ok = np.maximum.reduceat(six, bounds)[0::2] < 64
        ok[candidates] = checksum_ok & armour_ok
    single = ok & (f["count"] == 1)
    multi = ok & (f["count"] > 1)
    rejected = stats.rejected
    # Lines off the fast path: parsed one by one (parsing needs no state).
    spans: list[tuple[int, bytes, int, float | None]] = []  # (line, payload, fill, time)
    slow_fragments: list[tuple[int, Sentence, float | None]] = []
    for index in np.flatnonzero(~ok).tolist():
        if not lines[index].strip():  # a blank line is no sentence at all
            stats.sentences -= 1
            continue
        try:
            sentence = parse_sentence(lines[index])
        except _Reject as refusal:
            rejected[refusal.reason] += 1
            continue
        when = received_at if sentence.received_at is None else sentence.received_at
        if sentence.total == 1:
            spans.append((index, sentence.payload, sentence.fill, when))
        else:
            slow_fragments.append((index, sentence, when))
    multi_idx = np.flatnonzero(multi)
    assembled: tuple[_Array, ...] | None = None
    if len(multi_idx) and not slow_fragments and not decoder.pending:
        assembled = _assemble_clean(decoder, arr, f, starts, multi_idx, count, received_at)
    if assembled is None:
        # Reassembly line by line, exactly as Decoder.feed does.
        fragments = slow_fragments + _fast_fragments(lines, f, starts, multi_idx, received_at)
        fragments.sort(key=lambda item: item[0])
        for index, sentence, when in fragments:
            decoder._line = base_line + index + 1
            whole = decoder._fragment(sentence, when)
            if whole is not None:
                spans.append((index, *whole))
        assembled_spans: tuple[_Array, ...] = ()
    else:
        assembled_spans = tuple(assembled)  # (six values, lengths, fill, line)
        trailing = assembled_spans[4]
        fragments = _fast_fragments(lines, f, starts, trailing, received_at)
        for index, sentence, when in fragments:
            decoder._line = base_line + index + 1
            decoder._fragment(sentence, when)
    decoder._line = base_line + count
    # Every complete payload: fast singles in place, the rest appended after the batch.
    single_idx = np.flatnonzero(single)
    parts_six = [six]
    pos = [p0[single_idx]]
    nchar = [plen[single_idx]]
    fill = [f["fill"][single_idx]]
    line_no = [single_idx]
    no_time = np.nan if received_at is None else received_at
    times = [np.full(len(single_idx), no_time)]
    offset = len(six)
    if assembled_spans:
        extra_six, extra_lens, extra_fill, extra_line = assembled_spans[:4]
        extra_pos = np.zeros(len(extra_lens), dtype=np.int64)
        np.cumsum(extra_lens[:-1], out=extra_pos[1:])
        parts_six.append(extra_six)
        pos.append(extra_pos + offset)
        nchar.append(extra_lens)
        fill.append(extra_fill)
        line_no.append(extra_line)
        times.append(np.full(len(extra_lens), no_time))
        offset += len(extra_six)
    valid = []
    for index, payload, fill_bits, when in spans:
        if not payload:
            rejected["empty_payload"] += 1
        elif payload.translate(None, layouts.ARMOUR_CHARACTERS):
            rejected["bad_character"] += 1
        else:
            valid.append((index, payload, fill_bits, when))
    if valid:
        extra = b"".join(payload for _, payload, _, _ in valid)
        extra_lens = np.fromiter((len(v[1]) for v in valid), np.int64, len(valid))
        extra_pos = np.zeros(len(valid), dtype=np.int64)
        np.cumsum(extra_lens[:-1], out=extra_pos[1:])
        parts_six.append(_SIX_BIT[np.frombuffer(extra, dtype=np.uint8)])
        pos.append(extra_pos + offset)
        nchar.append(extra_lens)
        fill.append(np.fromiter((v[2] for v in valid), np.int64, len(valid)))
        line_no.append(np.fromiter((v[0] for v in valid), np.int64, len(valid)))
        more = (np.nan if v[3] is None else v[3] for v in valid)
        times.append(np.fromiter(more, np.float64, len(valid)))
    all_six = np.concatenate(parts_six) if len(parts_six) > 1 else six
    all_pos, all_nchar, all_fill = np.concatenate(pos), np.concatenate(nchar), np.concatenate(fill)
    all_line, all_times = np.concatenate(line_no), np.concatenate(times)
    tables, scalar = _decode_payloads(
        all_six, all_pos, all_nchar, all_fill, all_line, all_times, stats
    )
    others_list: list[tuple[int, dict[str, Any], float | None]] = []
    for index in scalar:
        start, length = int(all_pos[index]), int(all_nchar[index])
        # Rebuild the armour from six-bit values: '0'+v below 40, '`'+(v-40) above.
        chars = all_six[start : start + length].tolist()
        payload = bytes(v + 48 if v < 40 else v + 56 for v in chars)
        bits = payload_bits(payload, int(all_fill[index]))
        decoded = decode_value(*bits) if bits is not None else "bad_character"
        if isinstance(decoded, str):
            rejected[decoded] += 1
            continue
        when = float(all_times[index])
        others_list.append((int(all_line[index]), decoded, None if math.isnan(when) else when))
    stats.messages += len(others_list) + sum(len(t) for t in tables.values())
    others_list.sort(key=lambda item: item[0])
    return Batch(tables, others_list)


def _fast_fragments(
    lines: Sequence[bytes],
    f: dict[str, _Array],
    starts: _Array,
    chosen: _Array,
    received_at: float | None,
) -> list[tuple[int, Sentence, float | None]]:
    """Sentences for fast-checked fragment lines, without parsing them again."""
    columns = zip(
        chosen.tolist(),
        f["count"][chosen].tolist(),
        f["number"][chosen].tolist(),
        f["seq_empty"][chosen].tolist(),
        (f["c3"][chosen] - starts[chosen]).tolist(),
        f["chan_empty"][chosen].tolist(),
        (f["payload_start"][chosen] - starts[chosen]).tolist(),
        f["payload_len"][chosen].tolist(),
        f["fill"][chosen].tolist(),
        strict=True,
    )
    out = []
    for index, total, number, seq_empty, c3, chan_empty, p_start, p_len, bits in columns:
        line = lines[index]
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
        out.append((index, sentence, received_at))
    return out


def _assemble_clean(
    decoder: Decoder,
    arr: _Array,
    f: dict[str, _Array],
    starts: _Array,
    multi_idx: _Array,
    count: int,
    received_at: float | None,
) -> tuple[_Array, _Array, _Array, _Array, _Array] | None:
    """Reassemble fragments in columns when doing so line by line could not differ.

    That holds when nothing was pending before the batch, every fragment continues its
    (talker, id, channel) group in order, complete groups fit in the window, no group would
    have been evicted, and no group left open at the end started more than one window
    before the last group start. Then returns the six-bit values of the complete payloads
    with their lengths, fill bits and completing lines, and the lines of the open groups (to
    be fed to the decoder); otherwise None, and the caller reassembles line by line.
    """
    line = multi_idx
    s = starts[line]
    talker = np.zeros(len(line), dtype=np.int64)
    for k in range(1, 6):
        talker = (talker << 8) | arr[s + k]
    seq = np.where(f["seq_empty"][line], 0, arr[s + 11])
    chan = np.where(f["chan_empty"][line], 0, arr[np.minimum(f["c3"][line] + 1, len(arr) - 1)])
    key = (talker << 16) | (seq.astype(np.int64) << 8) | chan
    order = np.lexsort((line, key))
    key, line = key[order], line[order]
    number, total = f["number"][line], f["count"][line]
    same_key = np.zeros(len(line), dtype=bool)
    same_key[1:] = key[1:] == key[:-1]
    starts_group = number == 1
    follows = np.zeros(len(line), dtype=bool)
    follows[1:] = (number[1:] == number[:-1] + 1) & (total[1:] == total[:-1])
    follows &= same_key
    if not np.all(starts_group | follows):
        return None
    prev_complete = np.ones(len(line), dtype=bool)
    prev_complete[1:] = number[:-1] == total[:-1]
    if np.any(starts_group & same_key & ~prev_complete):
        return None
    group_first = np.flatnonzero(starts_group)
    group_last = np.empty_like(group_first)
    group_last[:-1] = group_first[1:] - 1
    group_last[-1] = len(line) - 1
    complete = number[group_last] == total[group_last]
    first_line, last_line = line[group_first], line[group_last]
    if np.any(last_line[complete] - first_line[complete] > decoder.fragment_window):
        return None
    # A group left open must not expire while this batch runs: every later group start
    # sweeps expired groups away, so the last start must lie within the window of it.
    open_first = first_line[~complete]
    if len(open_first) and first_line.max() - open_first.min() > decoder.fragment_window:
        return None
    # Groups waiting when each group starts: started before it and not completed before it.
    started = np.sort(first_line)
    closed = np.sort(last_line[complete])
    waiting = np.searchsorted(started, first_line) - np.searchsorted(closed, first_line)
    if np.any(waiting >= decoder.max_pending):
        return None
    # Payload of each complete group: its fragments' spans, gathered in order.
    member = np.repeat(complete, group_last - group_first + 1)
    chosen = line[member]
    span_start, span_len = f["payload_start"][chosen], f["payload_len"][chosen]
    total_len = int(span_len.sum())
    offsets = np.zeros(len(chosen), dtype=np.int64)
    np.cumsum(span_len[:-1], out=offsets[1:])
    gather = np.repeat(span_start - offsets, span_len) + np.arange(total_len)
    six_values = _SIX_BIT[arr[gather]]
    sizes = group_last[complete] - group_first[complete] + 1
    group_starts = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(sizes[:-1], out=group_starts[1:])
    lengths = np.add.reduceat(span_len, group_starts) if len(sizes) else span_len[:0]
    ends = last_line[complete]
    order_out = np.argsort(ends, kind="stable")
    # Reorder payloads by completing line so tables come out in stream order.
    payload_pos = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=payload_pos[1:])
    lengths_sorted = lengths[order_out]
    regather = np.repeat(
        payload_pos[order_out] - np.concatenate(([0], np.cumsum(lengths_sorted)[:-1])),
        lengths_sorted,
    ) + np.arange(total_len)
    open_lines = np.sort(line[~member])
    return (
        six_values[regather],
        lengths_sorted,
        f["fill"][ends[order_out]],
        ends[order_out],
        open_lines,
    )


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
        idx = idx[np.argsort(line_no[idx], kind="stable")]  # rows in stream order
        matrix = _matrix(six, pos[idx], -(-layout.required_bits // 6))
        tables[layout.name] = Table(layout.name, _columns(layout, matrix), line_no[idx], times[idx])
    return tables, sorted(scalar)


def _matrix(six: _Array, pos: _Array, chars: int) -> _Array:
    """Rows of *chars* six-bit values starting at each of *pos* (rows of a sliding view)."""
    if len(six) < chars:
        six = np.concatenate([six, np.zeros(chars - len(six), dtype=six.dtype)])
    rows: _Array = sliding_window_view(six, chars)[pos]
    return rows


__all__ = ["Batch", "Table", "decode_lines"]
