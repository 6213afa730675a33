"""The stream decoder: reassembly, bounded fragment buffer, reception times, batch = stream."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ais.nmea import (
    checksum,
    clean_stream,
    messy_stream,
    position_sentence,
    sentence,
    split_sentences,
    with_type,
)
from trilat.adapters.ais import REASONS, Decoder

TYPE5 = split_sentences(with_type(5, 424, 440123456 << 386), 424, sequence="4")  # MMSI bits 8-37
TYPE5_B = split_sentences(with_type(5, 424, 441999888 << 386), 424, sequence="4", channel="B")


def _messages(decoder: Decoder, lines: list[str]) -> list[dict]:
    return [message.fields for message in decoder.feed_all(lines)]


def test_fragments_of_two_messages_interleaved_on_both_channels_reassemble() -> None:
    decoder = Decoder()
    lines = [TYPE5[0], TYPE5_B[0], position_sentence(1), TYPE5[1], TYPE5_B[1]]
    decoded = _messages(decoder, lines)
    assert [d["msg_type"] for d in decoded] == [1, 5, 5]
    assert [d["mmsi"] for d in decoded[1:]] == [440123456, 441999888]
    assert decoder.pending == 0
    assert decoder.stats.bad == 0


def test_a_continuation_without_its_first_fragment_is_an_orphan() -> None:
    decoder = Decoder()
    assert _messages(decoder, [TYPE5[1]]) == []
    assert decoder.stats.rejected == {"orphan_fragment": 1}


def test_fragments_out_of_order_drop_their_message() -> None:
    decoder = Decoder()
    assert _messages(decoder, [TYPE5[1], TYPE5[0], TYPE5[0], TYPE5[1]]) != []
    three = split_sentences(with_type(5, 424, 99), 424, sequence="2", per_sentence=30)
    decoder = Decoder()
    assert _messages(decoder, [three[0], three[2], three[1]]) == []
    assert decoder.stats.rejected == {
        "out_of_order_fragment": 1,
        "incomplete_message": 1,
        "orphan_fragment": 1,
    }


def test_a_fragment_whose_count_differs_from_its_first_is_refused() -> None:
    body = TYPE5[1].split("*")[0][1:].replace("AIVDM,2,2,", "AIVDM,3,2,")
    decoder = Decoder()
    assert _messages(decoder, [TYPE5[0], f"!{body}*{checksum(body)}"]) == []
    assert decoder.stats.rejected == {"fragment_count_mismatch": 1, "incomplete_message": 1}


def test_a_new_first_fragment_replaces_an_incomplete_message() -> None:
    decoder = Decoder()
    decoded = _messages(decoder, [TYPE5[0], TYPE5[0], TYPE5[1]])
    assert len(decoded) == 1
    assert decoder.stats.rejected == {"incomplete_message": 1}


def test_a_partial_message_expires_after_the_sentence_window() -> None:
    decoder = Decoder(fragment_window=5)
    lines = [TYPE5[0], *(position_sentence(i) for i in range(5)), TYPE5[1]]
    assert [d["msg_type"] for d in _messages(decoder, lines)] == [1] * 5
    assert decoder.stats.rejected == {"expired_message": 1, "orphan_fragment": 1}


def test_a_partial_message_within_the_window_completes() -> None:
    decoder = Decoder(fragment_window=5)
    lines = [TYPE5[0], *(position_sentence(i) for i in range(4)), TYPE5[1]]
    assert [d["msg_type"] for d in _messages(decoder, lines)] == [1] * 4 + [5]


def test_a_partial_message_expires_after_the_reception_timeout() -> None:
    decoder = Decoder(fragment_timeout=2.0)
    assert decoder.feed(TYPE5[0], received_at=1000.0) is None
    assert decoder.feed(TYPE5[1], received_at=1002.5) is None
    assert decoder.stats.rejected == {"expired_message": 1, "orphan_fragment": 1}
    assert decoder.feed(TYPE5[0], received_at=1003.0) is None
    message = decoder.feed(TYPE5[1], received_at=1004.0)
    assert message is not None
    assert message.received_at == 1003.0  # the time of the first fragment


def test_flush_counts_what_never_completed() -> None:
    decoder = Decoder()
    _messages(decoder, [TYPE5[0], TYPE5_B[0]])
    assert decoder.pending == 2
    assert decoder.flush() == 2
    assert decoder.pending == 0
    assert decoder.stats.rejected == {"incomplete_message": 2}


def _endless_first_fragments() -> Iterator[str]:
    for index in itertools.count():
        channel = "AB"[index % 2]
        sequence = str(index % 10)
        talker = ("AIVDM", "BSVDM", "ABVDM")[index % 3]
        yield sentence("55?MbV02;H", count=2, number=1, sequence=sequence, channel=channel,
                       talker=talker)  # fmt: skip
        if index % 3 == 0:
            yield position_sentence(index)


def test_the_fragment_buffer_stays_bounded_on_an_endless_stream() -> None:
    decoder = Decoder(max_pending=16, fragment_window=10**9)
    most = 0
    for line in itertools.islice(_endless_first_fragments(), 50_000):
        decoder.feed(line)
        most = max(most, decoder.pending)
    assert most == 16
    assert decoder.stats.rejected["evicted_message"] > 0
    assert decoder.stats.messages > 10_000


def test_the_fragment_window_alone_bounds_the_buffer() -> None:
    decoder = Decoder(fragment_window=50)
    most = 0
    for line in itertools.islice(_endless_first_fragments(), 20_000):
        decoder.feed(line)
        most = max(most, decoder.pending)
    assert most <= 60  # at most one group per key, and none older than the window
    assert decoder.stats.rejected["evicted_message"] == 0


def test_a_tag_block_gives_the_reception_time() -> None:
    tag = "s:2573535,c:1671533231"
    line = f"\\{tag}*{checksum(tag)}\\{position_sentence(3)}"
    message = Decoder().feed(line, received_at=5.0)
    assert message is not None
    assert message.received_at == 1671533231.0


def test_a_tag_block_time_in_milliseconds_is_read_as_such() -> None:
    tag = "c:1671533231500"
    message = Decoder().feed(f"\\{tag}*{checksum(tag)}\\{position_sentence(3)}")
    assert message is not None
    assert message.received_at == 1671533231.5


def test_a_trailing_unix_time_gives_the_reception_time() -> None:
    message = Decoder().feed(f"{position_sentence(3)},1426032000")
    assert message is not None
    assert message.received_at == 1426032000.0


def test_without_a_time_in_the_line_the_callers_time_is_used() -> None:
    message = Decoder().feed(position_sentence(3), received_at=1234.5)
    assert message is not None
    assert message.received_at == 1234.5


def test_a_tag_block_with_a_bad_checksum_is_refused() -> None:
    decoder = Decoder()
    assert decoder.feed(f"\\c:1671533231*00\\{position_sentence(3)}") is None
    assert decoder.stats.rejected == {"bad_tag_block": 1}


def test_junk_after_the_checksum_is_refused() -> None:
    decoder = Decoder()
    assert decoder.feed(f"{position_sentence(3)}XYZ") is None
    assert decoder.stats.rejected == {"malformed": 1}


def test_every_reason_counted_is_documented() -> None:
    decoder = Decoder()
    list(decoder.feed_all(messy_stream(7, 3000)))
    decoder.flush()
    assert set(decoder.stats.rejected) <= set(REASONS)
    assert len(decoder.stats.rejected) >= 10  # the messy stream exercises most of them


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.binary(max_size=120), max_size=40))
def test_feed_never_raises_whatever_the_bytes(lines: list[bytes]) -> None:
    decoder = Decoder()
    for line in lines:
        decoder.feed(line)
        decoder.feed(b"!AIVDM," + line)
    decoder.decode_batch(lines)
    blank = sum(1 for line in lines if not line.strip())  # blank lines are not sentences
    assert decoder.stats.sentences == 3 * len(lines) - 2 * blank


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), cuts=st.lists(st.integers(0, 600), max_size=6))
def test_batches_give_the_same_messages_times_and_counters_as_feeding_lines(
    seed: int, cuts: list[int]
) -> None:
    lines = messy_stream(seed, 600)
    streamed = Decoder(fragment_window=40)
    expected = [(m.fields, m.received_at) for m in streamed.feed_all(lines, received_at=99.0)]
    streamed.flush()
    batched = Decoder(fragment_window=40)
    got = []
    bounds = [0, *sorted(cuts), len(lines)]
    for start, end in itertools.pairwise(bounds):
        batch = batched.decode_batch(lines[start:end], received_at=99.0)
        got += [(m.fields, m.received_at) for m in batch.messages()]
    batched.flush()
    assert got == expected
    assert batched.stats == streamed.stats


def test_clean_two_sentence_messages_reassemble_in_columns_like_the_stream() -> None:
    lines: list[bytes] = []
    for index in range(400):
        lines.append(position_sentence(index).encode())
        channel = "AB"[index % 2]
        group = split_sentences(with_type(5, 424, index * 104729), 424,
                                sequence=str(index % 10), channel=channel)  # fmt: skip
        lines += [g.encode() for g in group]
    lines.append(TYPE5[0].encode())  # left open at the end of the batch
    streamed = Decoder()
    expected = [m.fields for m in streamed.feed_all(lines)]
    batched = Decoder()
    table = batched.decode_batch(lines)
    assert "static_voyage" in table.tables  # decoded in columns
    assert table.to_dicts() == expected
    assert batched.pending == streamed.pending == 1
    assert batched.stats == streamed.stats


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    cuts=st.lists(st.integers(0, 300), max_size=4),
    window=st.integers(2, 40),
    max_pending=st.integers(1, 8),
    noise=st.booleans(),
)
def test_columnar_reassembly_agrees_with_the_stream_at_any_window_and_bound(
    seed: int, cuts: list[int], window: int, max_pending: int, noise: bool
) -> None:
    lines = clean_stream(seed, 300, noise=noise)
    streamed = Decoder(fragment_window=window, max_pending=max_pending)
    expected = [m.fields for m in streamed.feed_all(lines)]
    streamed.flush()
    batched = Decoder(fragment_window=window, max_pending=max_pending)
    got: list[dict] = []
    for start, end in itertools.pairwise([0, *sorted(cuts), len(lines)]):
        got += batched.decode_batch(lines[start:end]).to_dicts()
    batched.flush()
    assert got == expected
    assert batched.stats == streamed.stats


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    position=st.integers(0, 60),
    byte=st.integers(0, 255),
    fix_checksum=st.booleans(),
)
def test_stream_and_strict_decoding_agree_on_every_mutated_sentence(
    seed: int, position: int, byte: int, fix_checksum: bool
) -> None:
    from trilat.adapters.ais import decode_sentence
    from trilat.core.errors import DecodeError

    line = bytearray(position_sentence(seed, "AB"[seed % 2]).encode())
    line[position % len(line)] = byte
    star = len(line) - 3
    if fix_checksum and line[star] == ord("*"):  # so that the mutation itself is judged
        line[star + 1 :] = checksum(line[1:star].decode("latin-1")).encode()
    decoder = Decoder()
    message = decoder.feed(bytes(line))
    try:
        expected, failure = decode_sentence(bytes(line)), ""
    except DecodeError as error:
        expected, failure = None, str(error)
    if expected is not None:
        assert message is not None
        assert message.fields == expected
    elif failure.startswith("fragment 1 of"):  # now the start of a longer message
        assert message is None
        assert decoder.pending == 1
    else:
        assert message is None
        (reason,) = decoder.stats.rejected
        assert failure.startswith(reason.replace("_", " ")), (failure, reason)


@pytest.mark.soak
def test_batches_agree_with_the_stream_over_thousands_of_random_streams(
    request: pytest.FixtureRequest,
) -> None:
    if "soak" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("a soak run (about a minute): make soak, or pytest -m soak")
    import random

    rnd = random.Random(20241128)
    for _ in range(3000):
        seed = rnd.randrange(10**6)
        lines = (messy_stream if rnd.random() < 0.5 else clean_stream)(seed, 600)
        window, bound = rnd.choice((5, 40, 1000)), rnd.choice((1, 3, 1024))
        cuts = sorted(rnd.randrange(600) for _ in range(rnd.randrange(7)))
        streamed = Decoder(fragment_window=window, max_pending=bound)
        expected = [(m.fields, m.received_at) for m in streamed.feed_all(lines, 99.0)]
        streamed.flush()
        batched = Decoder(fragment_window=window, max_pending=bound)
        got = []
        for start, end in itertools.pairwise([0, *cuts, len(lines)]):
            got += [(m.fields, m.received_at) for m in batched.decode_batch(lines[start:end], 99.0)]
        batched.flush()
        assert (got, batched.stats) == (expected, streamed.stats), (seed, window, bound, cuts)


def test_text_and_bytearray_lines_decode_like_bytes() -> None:
    lines = [position_sentence(1), *TYPE5, position_sentence(2, "B")]
    expected = Decoder().decode_batch([line.encode() for line in lines]).to_dicts()
    assert len(expected) == 3
    assert Decoder().decode_batch(lines).to_dicts() == expected  # type: ignore[arg-type]
    as_bytearrays = [bytearray(line.encode()) for line in lines]
    assert Decoder().decode_batch(as_bytearrays).to_dicts() == expected  # type: ignore[arg-type]
    decoder = Decoder()
    assert [m.fields for m in decoder.feed_all(as_bytearrays)] == expected


def test_something_that_is_not_a_line_is_counted_not_raised() -> None:
    decoder = Decoder()
    assert decoder.feed(None) is None  # type: ignore[arg-type]
    assert decoder.feed("!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sä,0*5C") is None
    assert decoder.stats.rejected == {"malformed": 1, "bad_character": 1}


@given(data=st.binary(max_size=300))
def test_the_checksum_is_the_xor_of_every_byte_at_any_length(data: bytes) -> None:
    from functools import reduce
    from operator import xor

    from trilat.adapters.ais import _xor

    assert _xor(data) == reduce(xor, data, 0)
