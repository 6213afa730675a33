"""AIS decoding: NMEA 0183 ``!AIVDM``/``!AIVDO`` sentences to messages with pyais's field names.

Three ways in, one result:

- :func:`decode_sentence` / :func:`decode_message` are strict: one message, or
  :class:`~trilat.core.errors.DecodeError` naming the problem and where it is;
- :class:`Decoder` is for streams: :meth:`Decoder.feed` takes one line at a time, reassembles
  multi-sentence messages, and never raises on bad input; it counts it in :class:`DecodeStats`;
- :meth:`Decoder.decode_batch` (and :func:`decode_batch`) decodes a list of lines at once
  into columns (numpy arrays per message layout), sharing the stream's reassembly state.

Supported: types 1, 2, 3 (class A position), 4 (base station), 5 (static and voyage),
18 (class B position), 19 (extended class B), 21 (aid to navigation), 24 parts A and B
(static data) and 27 (long-range). A message is a plain ``dict`` equal to pyais's
``asdict()`` of the same message (enumerations as plain ints). NMEA 4.10 tag blocks
(``\\s:rcv,c:1671533231*hh\\!AIVDM…``) and a trailing unix time after the checksum
(``…*hh,1671533231``) give a message its reception time, in POSIX seconds; when the line
carries none, the ``received_at`` the caller passes is used.

Fragments of a multi-sentence message are kept per (talker, sequential message id,
channel), in a bounded buffer: a fragment group is dropped when it has not completed within
``fragment_window`` sentences or ``fragment_timeout`` seconds of reception time, or when
``max_pending`` groups are waiting. Time is always an argument; the decoder never reads a
clock. No IO.
"""

from __future__ import annotations

from binascii import a2b_base64
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from trilat.adapters._ais_layouts import (
    ARMOUR_CHARACTERS,
    ARMOUR_TO_BASE64,
    POSITION_TYPES,
    SUPPORTED_TYPES,
    decode_168,
    decode_value,
    first_bad_character,
    payload_bits,
)
from trilat.core.errors import DecodeError

if TYPE_CHECKING:
    from trilat.adapters._ais_batch import Batch, Table

__all__ = [
    "POSITION_TYPES",
    "REASONS",
    "SUPPORTED_TYPES",
    "Batch",
    "DecodeStats",
    "Decoder",
    "Message",
    "Table",
    "decode_batch",
    "decode_message",
    "decode_sentence",
]

REASONS: Final[dict[str, str]] = {
    "malformed": "not an NMEA sentence: fields missing or misplaced, no '*hh' checksum",
    "not_ais": "an NMEA sentence, but not VDM/VDO",
    "bad_checksum": "the checksum does not match the sentence",
    "bad_character": "a byte that is not ASCII, or not six-bit armour in the payload",
    "bad_fill_bits": "fill bits not a digit 0-5",
    "bad_fragment": "fragment count or number out of range (1-9, number <= count)",
    "bad_tag_block": "an NMEA 4.10 tag block that is unterminated or fails its checksum",
    "orphan_fragment": "a continuation fragment with no first fragment waiting",
    "out_of_order_fragment": "a fragment that is not the next one of its message",
    "fragment_count_mismatch": "a fragment whose count differs from its message's first",
    "incomplete_message": "a partial message dropped: a new first fragment replaced it, or "
    "the stream ended",
    "expired_message": "a partial message dropped: not completed within the window",
    "evicted_message": "a partial message dropped: too many messages were waiting",
    "empty_payload": "a sentence with no payload",
    "unsupported_type": "a message type trilat does not decode",
    "unknown_part_number": "a type 24 message with part number 2 or 3",
}
"""Why a sentence or partial message was refused, by the counter name in DecodeStats."""

_MAX_LINE: Final = 512  # IEC 61162-1 caps a sentence at 82 characters; tag blocks add some
_MAX_PAYLOAD: Final = 200
_HEX: Final[dict[bytes, int]] = {
    **{f"{v:02X}".encode(): v for v in range(256)},
    **{f"{v:02x}".encode(): v for v in range(256)},
}
_DIGIT: Final[dict[bytes, int]] = {str(d).encode(): d for d in range(10)}
_CHANNELS: Final[dict[bytes, str]] = {
    b"": "",
    **{bytes([c]): chr(c) for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"},
}
_M512: Final = (1 << 512) - 1
_M256: Final = (1 << 256) - 1
_M128: Final = (1 << 128) - 1
_M64: Final = (1 << 64) - 1


def _xor(data: bytes) -> int:
    """NMEA checksum: the XOR of every byte, folded in halves over one big integer.

    Folds start at the smallest power of two that holds *data*, so a 28-character payload
    costs five folds, not seven.
    """
    size = len(data)
    if size > 128:
        value = 0
        for byte in data:
            value ^= byte
        return value
    v = int.from_bytes(data, "little")
    if size > 64:
        v = (v >> 512) ^ (v & _M512)
    if size > 32:
        v = (v >> 256) ^ (v & _M256)
    if size > 16:
        v = (v >> 128) ^ (v & _M128)
    v = (v >> 64) ^ (v & _M64)
    v = (v >> 32) ^ (v & 0xFFFFFFFF)
    v = (v >> 16) ^ (v & 0xFFFF)
    return (v >> 8) ^ (v & 0xFF)


class Message(NamedTuple):
    """A decoded message: pyais's fields, and its reception time in POSIX seconds if known."""

    fields: dict[str, Any]
    received_at: float | None


_new_message: Final = tuple.__new__  # Message(...) without NamedTuple's keyword handling


@dataclass
class DecodeStats:
    """What a decoder has seen: sentences in, messages out, refusals by reason (see REASONS).

    Sentence-level reasons count sentences; ``incomplete_message``, ``expired_message`` and
    ``evicted_message`` count partial messages dropped with all their fragments.
    """

    sentences: int = 0
    messages: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def bad(self) -> int:
        """Sentences and partial messages refused, all reasons together."""
        return sum(self.rejected.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "sentences": self.sentences,
            "messages": self.messages,
            "rejected": dict(sorted(self.rejected.items())),
        }

    def summary(self) -> str:
        """One line for humans: ``1000 sentences, 990 messages, 3 bad checksum, …``."""
        parts = [f"{self.sentences} sentences", f"{self.messages} messages"]
        parts += [f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(self.rejected.items())]
        return ", ".join(parts)


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class Sentence(NamedTuple):
    """One parsed VDM/VDO sentence (internal)."""

    talker: bytes  # e.g. b"AIVDM"
    total: int  # fragments in the message
    number: int
    sequence: bytes  # b"" or one digit
    channel: str
    payload: bytes
    fill: int
    received_at: float | None


def _show(line: bytes) -> str:
    text = line.decode("ascii", "backslashreplace")
    return repr(text if len(text) <= 100 else text[:97] + "...")


def _parse_time(token: bytes) -> float:
    value = float(token)
    if value > 1e11:  # milliseconds, as some receivers write
        value /= 1000.0
    return value


def _parse_tag_block(block: bytes, line: bytes) -> float | None:
    star = block.rfind(b"*")
    if star < 0 or _HEX.get(block[star + 1 :]) != _xor(block[:star]):
        raise _Reject(
            "bad_tag_block", f"tag block {_show(block)} fails its checksum in {_show(line)}"
        )
    received: float | None = None
    for item in block[:star].split(b","):
        code, _, value = item.partition(b":")
        if code == b"c":
            try:
                received = _parse_time(value)
            except ValueError:
                raise _Reject(
                    "bad_tag_block", f"receiver time {value!r} is not a number in {_show(line)}"
                ) from None
    return received


def parse_sentence(line: bytes) -> Sentence:
    """Parse and check one sentence; raises _Reject with a reason from REASONS."""
    text = line.strip()
    if not text:
        raise _Reject("malformed", "empty line")
    if len(text) > _MAX_LINE:
        raise _Reject("malformed", f"line of {len(text)} bytes exceeds {_MAX_LINE}")
    if not text.isascii():
        offset = next(i for i, b in enumerate(text) if b > 127)
        raise _Reject("bad_character", f"non-ASCII byte at offset {offset} in {_show(text)}")
    received: float | None = None
    if text[0] == 92:  # backslash: NMEA 4.10 tag block
        end = text.find(b"\\", 1)
        if end < 0:
            raise _Reject("bad_tag_block", f"unterminated tag block in {_show(text)}")
        received = _parse_tag_block(text[1:end], text)
        text = text[end + 1 :]
    star = text.rfind(b"*")
    head = text.split(b",", 1)[0]
    if not head or head[0] not in b"!$":
        raise _Reject("malformed", f"no '!' or '$' sentence start in {_show(text)}")
    if len(head) != 6 or head[3:] not in (b"VDM", b"VDO"):
        raise _Reject("not_ais", f"sentence {head.decode()!r} is not VDM/VDO")
    if star < 0 or len(text) < star + 3 or text[star + 1 : star + 3] not in _HEX:
        raise _Reject("malformed", f"no '*hh' checksum (truncated?) in {_show(text)}")
    trailer = text[star + 3 :]
    if trailer:
        try:
            if trailer[0] != 44:
                raise ValueError
            stamp = _parse_time(trailer[1:])
        except ValueError:
            raise _Reject(
                "malformed", f"unexpected {_show(trailer)} after the checksum in {_show(text)}"
            ) from None
        if received is None:
            received = stamp
    expected = _HEX[text[star + 1 : star + 3]]
    computed = _xor(text[1:star])
    if computed != expected:
        raise _Reject(
            "bad_checksum",
            f"checksum '*{expected:02X}' at offset {star} does not match the computed "
            f"{computed:02X} in {_show(text)}",
        )
    fields = text[:star].split(b",")
    if len(fields) != 7:
        raise _Reject("malformed", f"{len(fields)} fields where VDM/VDO has 7 in {_show(text)}")
    _, count_field, number_field, sequence, channel_field, payload, fill_field = fields
    count, number = _DIGIT.get(count_field, 0), _DIGIT.get(number_field, 0)
    if not 1 <= number <= count:
        raise _Reject(
            "bad_fragment",
            f"fragment {number_field.decode()!r} of {count_field.decode()!r} in {_show(text)}",
        )
    if sequence and sequence not in _DIGIT:
        raise _Reject(
            "bad_fragment", f"sequential message id {sequence.decode()!r} in {_show(text)}"
        )
    channel = _CHANNELS.get(channel_field)
    if channel is None:
        raise _Reject("malformed", f"radio channel {channel_field.decode()!r} in {_show(text)}")
    if len(payload) > _MAX_PAYLOAD:
        raise _Reject("malformed", f"payload of {len(payload)} characters in {_show(text)}")
    bad = first_bad_character(payload)
    if bad >= 0:
        offset = text.find(payload) + bad
        raise _Reject(
            "bad_character",
            f"{chr(payload[bad])!r} is not six-bit armour, at offset {offset} in {_show(text)}",
        )
    fill = _DIGIT.get(fill_field, 9)
    if fill > 5:
        raise _Reject("bad_fill_bits", f"fill bits {fill_field.decode()!r} in {_show(text)}")
    return Sentence(head[1:], count, number, sequence, channel, payload, fill, received)


class _Pending:
    __slots__ = ("count", "line", "parts", "received_at")

    def __init__(self, count: int, line: int, part: bytes, received_at: float | None) -> None:
        self.count, self.line, self.parts, self.received_at = count, line, [part], received_at


_Header = tuple[bytes, int, int, bytes, str, int]  # talker, total, number, id, channel, XOR
_HEADERS: dict[bytes, _Header | None] = {}
_UNSEEN: Final[Any] = object()
_MAX_HEADERS: Final = 4096


def _header(prefix: bytes) -> _Header | None:
    """The fields before the payload (``!AIVDM,2,1,7,A``) if valid, memoised in a bounded table.

    Only what ``parse_sentence`` accepts is valid here, so the fast path never accepts a line
    that the full parser would refuse. The XOR is that of the prefix without its '!'.
    """
    header: _Header | None = None
    fields = prefix.split(b",")
    if len(fields) == 5:
        head, count, number, sequence, channel = fields
        total, index, chan = _DIGIT.get(count, 0), _DIGIT.get(number, 0), _CHANNELS.get(channel)
        if (
            len(head) == 6
            and head[0] == 33
            and head[3:] in (b"VDM", b"VDO")
            and head[1:3].isalnum()
            and 1 <= index <= total
            and (sequence == b"" or sequence in _DIGIT)
            and chan is not None
        ):
            header = (head[1:], total, index, sequence, chan, _xor(prefix[1:]))
    if len(_HEADERS) >= _MAX_HEADERS:
        _HEADERS.clear()
    _HEADERS[prefix] = header
    return header


class Decoder:
    """Stateful stream decoder: feed it lines, get messages; bad input is counted, never raised.

    ``fragment_window`` (sentences) and ``fragment_timeout`` (seconds of reception time,
    applied when both ends of a group carry a time) bound how long a partial message waits;
    ``max_pending`` bounds how many may wait at once. Call :meth:`flush` at the end of a
    stream to count what never completed.
    """

    def __init__(
        self,
        *,
        fragment_window: int = 1000,
        fragment_timeout: float = 60.0,
        max_pending: int = 1024,
    ) -> None:
        if fragment_window < 1 or fragment_timeout <= 0 or max_pending < 1:
            raise ValueError("fragment_window, fragment_timeout and max_pending must be positive")
        self.fragment_window = fragment_window
        self.fragment_timeout = fragment_timeout
        self.max_pending = max_pending
        self.stats = DecodeStats()
        self._pending: dict[tuple[bytes, bytes, str], _Pending] = {}
        self._line = 0

    @property
    def pending(self) -> int:
        """Partial messages waiting for more fragments."""
        return len(self._pending)

    def feed(
        self, line: bytes | bytearray | memoryview | str, received_at: float | None = None
    ) -> Message | None:
        """Take one sentence; return the message it completes, if any.

        *received_at* (POSIX seconds) is used when the line carries no time of its own.
        """
        stats = self.stats
        stats.sentences += 1
        self._line += 1
        if not isinstance(line, bytes):
            try:
                line = line.encode("ascii") if isinstance(line, str) else bytes(line)
            except UnicodeEncodeError:
                stats.rejected["bad_character"] += 1
                return None
            except TypeError:  # not text or bytes at all
                stats.rejected["malformed"] += 1
                return None
        # Fast path: a plain single- or multi-sentence line, every field as expected. Anything
        # else goes to parse_sentence, which also names the reason for a refusal.
        star = len(line) - 3
        if star > 0 and line[star] == 42:
            parts = line.rsplit(b",", 2)
            if len(parts) == 3:
                prefix, payload, tail = parts
                header = _HEADERS.get(prefix, _UNSEEN)
                if header is _UNSEEN:
                    header = _header(prefix)
                if (
                    header is not None
                    and len(tail) == 4
                    and 48 <= tail[0] <= 53
                    and payload
                    and len(payload) <= _MAX_PAYLOAD
                    # the XOR of the whole sentence, the header's part computed once
                    and _HEX.get(line[star + 1 :]) == header[5] ^ _xor(payload) ^ tail[0]
                ):
                    fill = tail[0] - 48
                    talker, total, index, sequence, chan, _ = header
                    if total == 1:
                        if fill == 0 and len(payload) == 28:  # 168 bits: most positions
                            try:
                                raw = a2b_base64(payload.translate(ARMOUR_TO_BASE64))
                            except ValueError:  # binascii.Error: not armour
                                raw = b""
                            if len(raw) == 21:
                                decoded_168 = decode_168(raw)
                                if decoded_168 is not None:
                                    stats.messages += 1
                                    return _new_message(Message, (decoded_168, received_at))
                        bits = payload_bits(payload, fill)
                        if bits is not None:
                            decoded = decode_value(*bits)
                            if isinstance(decoded, dict):
                                stats.messages += 1
                                return _new_message(Message, (decoded, received_at))
                            stats.rejected[decoded] += 1
                            return None
                    elif not payload.translate(None, ARMOUR_CHARACTERS):
                        whole = self._fragment(
                            Sentence(talker, total, index, sequence, chan, payload, fill, None),
                            received_at,
                        )
                        return None if whole is None else self._complete(*whole)
        if not line.strip():  # a blank line is no sentence at all
            stats.sentences -= 1
            return None
        try:
            sentence = parse_sentence(line)
        except _Reject as refusal:
            stats.rejected[refusal.reason] += 1
            return None
        if sentence.received_at is not None:
            received_at = sentence.received_at
        if sentence.total == 1:
            return self._complete(sentence.payload, sentence.fill, received_at)
        whole = self._fragment(sentence, received_at)
        return None if whole is None else self._complete(*whole)

    def _complete(self, payload: bytes, fill: int, received_at: float | None) -> Message | None:
        stats = self.stats
        if not payload:
            stats.rejected["empty_payload"] += 1
            return None
        bits = payload_bits(payload, fill)
        if bits is None:
            stats.rejected["bad_character"] += 1
            return None
        decoded = decode_value(*bits)
        if isinstance(decoded, str):
            stats.rejected[decoded] += 1
            return None
        stats.messages += 1
        return _new_message(Message, (decoded, received_at))

    def _expired(self, pending: _Pending, received_at: float | None) -> bool:
        if self._line - pending.line > self.fragment_window:
            return True
        started = pending.received_at
        return (
            received_at is not None
            and started is not None
            and abs(received_at - started) > self.fragment_timeout
        )

    def _fragment(
        self, sentence: Sentence, received_at: float | None
    ) -> tuple[bytes, int, float | None] | None:
        """Add one fragment to its group; when that completes it, the whole payload."""
        key = (sentence.talker, sentence.sequence, sentence.channel)
        pending_groups = self._pending
        rejected = self.stats.rejected
        pending = pending_groups.get(key)
        if sentence.number == 1:
            if pending is not None:
                del pending_groups[key]
                rejected["incomplete_message"] += 1
            while pending_groups:  # the oldest group is first: drop expired ones from the front
                oldest_key = next(iter(pending_groups))
                if not self._expired(pending_groups[oldest_key], received_at):
                    break
                del pending_groups[oldest_key]
                rejected["expired_message"] += 1
            if len(pending_groups) >= self.max_pending:
                del pending_groups[next(iter(pending_groups))]
                rejected["evicted_message"] += 1
            pending_groups[key] = _Pending(
                sentence.total, self._line, sentence.payload, received_at
            )
            return None
        if pending is None:
            rejected["orphan_fragment"] += 1
            return None
        if self._expired(pending, received_at):
            del pending_groups[key]
            rejected["expired_message"] += 1
            rejected["orphan_fragment"] += 1
            return None
        if pending.count != sentence.total:
            del pending_groups[key]
            rejected["incomplete_message"] += 1
            rejected["fragment_count_mismatch"] += 1
            return None
        if sentence.number != len(pending.parts) + 1:
            del pending_groups[key]
            rejected["incomplete_message"] += 1
            rejected["out_of_order_fragment"] += 1
            return None
        pending.parts.append(sentence.payload)
        if sentence.number < sentence.total:
            return None
        del pending_groups[key]
        started = pending.received_at
        return b"".join(pending.parts), sentence.fill, received_at if started is None else started

    def flush(self) -> int:
        """End of stream: drop and count every partial message still waiting; returns how many."""
        dropped = len(self._pending)
        if dropped:
            self.stats.rejected["incomplete_message"] += dropped
            self._pending.clear()
        return dropped

    def feed_all(
        self, lines: Iterable[bytes | str], received_at: float | None = None
    ) -> Iterator[Message]:
        """Every message completed by *lines*, in order (does not flush)."""
        feed = self.feed
        for line in lines:
            message = feed(line, received_at)
            if message is not None:
                yield message

    def decode_batch(self, lines: Sequence[bytes], received_at: float | None = None) -> Batch:
        """Decode many lines at once into columns; same results and counters as :meth:`feed`.

        Lines are decoded in order and fragments are reassembled across calls, so a stream
        can be decoded batch by batch. Needs numpy.
        """
        from trilat.adapters._ais_batch import decode_lines

        return decode_lines(self, lines, received_at)


def _strict(line: bytes | str) -> Sentence:
    raw = line.encode("ascii", "backslashreplace") if isinstance(line, str) else line
    try:
        return parse_sentence(raw)
    except _Reject as refusal:
        raise DecodeError(f"{refusal.reason.replace('_', ' ')}: {refusal.detail}") from None


def _strict_decode(payload: bytes, fill: int, where: str) -> dict[str, Any]:
    if not payload:
        raise DecodeError(f"empty payload: no message in {where}")
    bits = payload_bits(payload, fill)
    if bits is None:
        raise DecodeError(f"payload is not six-bit armour in {where}")
    decoded = decode_value(*bits)
    if isinstance(decoded, str):
        msg_type = bits[0] >> (bits[1] - 6) if bits[1] >= 6 else bits[0]
        raise DecodeError(f"{decoded.replace('_', ' ')}: message type {msg_type} in {where}")
    return decoded


def decode_sentence(line: bytes | str) -> dict[str, Any]:
    """Decode one single-sentence message strictly.

    Raises DecodeError naming the problem (bad checksum, bad character, a fragment of a
    multi-sentence message, an unsupported type, …) and where it is.
    """
    sentence = _strict(line)
    where = _show(line.encode("ascii", "backslashreplace") if isinstance(line, str) else line)
    if sentence.total != 1:
        raise DecodeError(
            f"fragment {sentence.number} of {sentence.total}: a multi-sentence message, "
            f"decode it with decode_message, in {where}"
        )
    return _strict_decode(sentence.payload, sentence.fill, where)


def decode_message(*lines: bytes | str) -> dict[str, Any]:
    """Decode one message from all its sentences, in order; raises DecodeError if any is wrong."""
    if not lines:
        raise DecodeError("no sentences given")
    sentences = [_strict(line) for line in lines]
    first = sentences[0]
    if len(sentences) != first.total:
        raise DecodeError(f"{len(sentences)} sentences given for a {first.total}-fragment message")
    for expected, sentence in enumerate(sentences, start=1):
        key = (sentence.talker, sentence.sequence, sentence.channel, sentence.total)
        if key != (first.talker, first.sequence, first.channel, first.total):
            raise DecodeError(f"sentence {expected} belongs to another message than sentence 1")
        if sentence.number != expected:
            raise DecodeError(f"sentence {expected} is fragment {sentence.number}: out of order")
    payload = b"".join(s.payload for s in sentences)
    return _strict_decode(payload, sentences[-1].fill, f"the {len(sentences)}-sentence message")


def decode_batch(lines: Sequence[bytes], received_at: float | None = None) -> Batch:
    """Decode a list of lines into columns with a fresh :class:`Decoder`; flushes at the end."""
    decoder = Decoder()
    batch = decoder.decode_batch(lines, received_at)
    decoder.flush()
    return batch


def __getattr__(name: str) -> Any:
    if name in ("Batch", "Table"):  # numpy is imported on first use
        from trilat.adapters import _ais_batch

        return getattr(_ais_batch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
