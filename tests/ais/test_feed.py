"""Ingest: files (plain, gzip, endless), a TCP feed with reconnects, UDP datagrams, tracks."""

from __future__ import annotations

import asyncio
import gzip
import io
import socket
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.ais.nmea import armour, checksum, messy_stream, sentence, split_sentences, with_type
from trilat.adapters.ais import Decoder
from trilat.adapters.ais_feed import (
    TcpFeedClient,
    UdpFeedListener,
    flag_state,
    position_to_track,
    read_file,
    read_stream,
)
from trilat.core.clock import FixedClock

NOON = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class Collect:
    """A sink that keeps what it is given and can tell a waiting test when enough arrived."""

    def __init__(self, expected: int = 0) -> None:
        self.items: list[tuple[dict[str, Any], datetime | None]] = []
        self.expected = expected
        self.done = asyncio.Event() if expected else None

    def __call__(self, message: dict[str, Any], received_at: datetime | None) -> None:
        self.items.append((message, received_at))
        if self.done is not None and len(self.items) >= self.expected:
            self.done.set()


def _positions(count: int, start: int = 0) -> list[str]:
    lines = []
    for index in range(start, start + count):
        mmsi = 431_000_000 + index
        payload, fill = armour(with_type(1, 168, mmsi << 130), 168)
        lines.append(sentence(payload, fill, channel="AB"[index % 2]))
    return lines


def test_a_file_is_decoded_in_order_with_its_bad_sentences_counted(tmp_path) -> None:
    lines = messy_stream(11, 2000)
    path = tmp_path / "feed.nmea"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    sink = Collect()
    stats = read_file(path, sink, batch_lines=128)
    reference = Decoder()
    expected = [(m.fields, m.received_at) for m in reference.feed_all(lines)]
    reference.flush()
    assert [fields for fields, _ in sink.items] == [fields for fields, _ in expected]
    assert [None if t is None else t.timestamp() for _, t in sink.items] == [t for _, t in expected]
    assert stats.messages == len(expected)
    assert stats.rejected == reference.stats.rejected
    assert stats.bad > 0


def test_a_gzip_file_decodes_like_the_plain_one(tmp_path) -> None:
    lines = [line.encode() for line in _positions(300)]
    plain, packed = tmp_path / "a.nmea", tmp_path / "a.nmea.gz"
    plain.write_bytes(b"\n".join(lines))
    packed.write_bytes(gzip.compress(b"\n".join(lines)))
    first, second = Collect(), Collect()
    read_file(plain, first)
    read_file(packed, second)
    assert len(first.items) == 300
    assert first.items == second.items


def test_received_times_are_utc_datetimes_from_the_lines(tmp_path) -> None:
    tag = "s:rx1,c:1709294400"
    path = tmp_path / "timed.nmea"
    path.write_text(f"\\{tag}*{checksum(tag)}\\{_positions(1)[0]}\n{_positions(1)[0]}\n")
    sink = Collect()
    read_file(path, sink)
    assert [t for _, t in sink.items] == [NOON, None]


class EndlessFeed(io.RawIOBase):
    """A never-ending NMEA source that remembers how much was read from it."""

    def __init__(self) -> None:
        self.served = 0
        self._chunk = ("\n".join(_positions(50)) + "\n").encode()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = min(len(buffer), len(self._chunk))
        buffer[:size] = self._chunk[:size]
        self._chunk = self._chunk[size:] + self._chunk[:size]
        self.served += size
        return size


def test_an_endless_stream_is_decoded_without_reading_it_all() -> None:
    source = EndlessFeed()
    seen = 0

    class Enough(Exception):
        pass

    def sink(message: dict[str, Any], received_at: datetime | None) -> None:
        nonlocal seen
        seen += 1
        if seen == 20_000:
            raise Enough

    with pytest.raises(Enough):
        read_stream(source, sink, batch_lines=1000)
    # 20,000 messages of about 50 bytes each: read as needed, a batch and a buffer ahead
    assert source.served < 20_000 * 50 + 200_000


def test_a_file_without_newlines_is_read_a_bounded_piece_at_a_time(tmp_path) -> None:
    path = tmp_path / "junk.bin"
    good = _positions(2)
    path.write_bytes(f"{good[0]}\n".encode() + b"X" * 3_000_000 + f"\n{good[1]}\n".encode())
    sink = Collect()
    Decoder().decode_batch([b""])  # imports numpy and the batch decoder before measuring
    tracemalloc.start()
    try:
        stats = read_file(path, sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [fields["mmsi"] for fields, _ in sink.items] == [431_000_000, 431_000_001]
    assert stats.rejected == {"malformed": 1}
    assert peak < 1_000_000  # not the 3 MB line


def _peak_memory_decoding(messages: int) -> tuple[int, int]:
    """(peak bytes allocated, bytes read) while decoding *messages* from an endless feed."""
    source = EndlessFeed()
    seen = 0

    class Enough(Exception):
        pass

    def sink(message: dict[str, Any], received_at: datetime | None) -> None:
        nonlocal seen
        seen += 1
        if seen == messages:
            raise Enough

    tracemalloc.start()
    try:
        with pytest.raises(Enough):
            read_stream(source, sink, batch_lines=500)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, source.served


def test_decoding_a_long_stream_keeps_memory_bounded_by_the_batch() -> None:
    Decoder().decode_batch([b""])  # imports numpy and the batch decoder before measuring
    short_peak, _ = _peak_memory_decoding(5_000)
    long_peak, served = _peak_memory_decoding(40_000)
    assert served > 1_900_000
    assert long_peak < short_peak + 250_000  # eight times the input, the same footprint
    assert long_peak < served / 2


def test_the_tcp_client_reconnects_and_delivers_every_message() -> None:
    first = _positions(30)
    type5 = split_sentences(with_type(5, 424, 432_000_001 << 386), 424, sequence="2")
    second = _positions(30, start=30)
    sessions = [
        # a line split across two writes, and a last line without its newline
        [
            "\n".join(first[:10]) + "\n" + first[10][:25],
            first[10][25:] + "\n" + "\n".join(first[11:]),
        ],
        ["\n".join([*type5, *second])],
    ]

    async def scenario() -> tuple[Collect, TcpFeedClient]:
        served = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for chunk in sessions.pop(0) if sessions else []:
                writer.write(chunk.encode())
                await writer.drain()
                await asyncio.sleep(0)
            if not sessions:
                served.set()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sink = Collect(expected=61)
        client = TcpFeedClient("127.0.0.1", port, sink, clock=FixedClock(NOON),
                               backoff_initial=0.01, backoff_max=0.05)  # fmt: skip
        task = asyncio.create_task(client.run())
        await asyncio.wait_for(sink.done.wait(), timeout=10)
        client.stop()
        await asyncio.wait_for(task, timeout=10)
        server.close()
        await server.wait_closed()
        return sink, client

    sink, client = asyncio.run(scenario())
    mmsis = [fields["mmsi"] for fields, _ in sink.items]
    assert mmsis == [431_000_000 + i for i in range(30)] + [432_000_001] + [
        431_000_000 + i for i in range(30, 60)
    ]
    assert all(received == NOON for _, received in sink.items)
    assert client.stats.connections >= 2
    assert client.stats.decode.bad == 0


def test_the_tcp_client_gives_up_after_its_attempts() -> None:
    with socket.socket() as bound:  # bound but not listening: every connection is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        client = TcpFeedClient("127.0.0.1", port, Collect(), backoff_initial=0.01,
                               backoff_max=0.02, max_attempts=3, connect_timeout=2)  # fmt: skip
        with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}: no data after 3 attempts"):
            asyncio.run(asyncio.wait_for(client.run(), timeout=10))
    assert client.stats.failed_connections == 3


def test_the_tcp_client_drops_an_oversized_line_and_keeps_going() -> None:
    payload = b"!" + b"X" * 5000 + b"\n" + "\n".join(_positions(3)).encode() + b"\n"

    async def scenario() -> tuple[Collect, TcpFeedClient]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(payload)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        sink = Collect(expected=3)
        client = TcpFeedClient("127.0.0.1", server.sockets[0].getsockname()[1], sink,
                               backoff_initial=0.01, max_line=1024)  # fmt: skip
        task = asyncio.create_task(client.run())
        await asyncio.wait_for(sink.done.wait(), timeout=10)
        client.stop()
        await asyncio.wait_for(task, timeout=10)
        server.close()
        await server.wait_closed()
        return sink, client

    sink, client = asyncio.run(scenario())
    assert len(sink.items) == 3
    assert client.stats.oversized_lines == 1


def test_the_udp_listener_decodes_every_datagram() -> None:
    lines = _positions(20)
    type5 = split_sentences(with_type(5, 424, 440_000_002 << 386), 424, sequence="7")
    datagrams = ["!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*00"]  # a bad checksum first
    datagrams += ["\n".join(lines[i : i + 4]) for i in range(0, 20, 4)] + ["\r\n".join(type5)]

    async def scenario() -> tuple[Collect, UdpFeedListener]:
        sink = Collect(expected=21)
        listener = UdpFeedListener(sink, clock=FixedClock(NOON))
        host, port = await listener.start()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for datagram in datagrams:
                sender.sendto(datagram.encode(), (host, port))
        await asyncio.wait_for(sink.done.wait(), timeout=10)  # loopback keeps datagram order
        listener.close()
        return sink, listener

    sink, listener = asyncio.run(asyncio.wait_for(scenario(), timeout=20))
    assert [fields["mmsi"] for fields, _ in sink.items] == [431_000_000 + i for i in range(20)] + [
        440_000_002
    ]
    assert listener.stats.decode.rejected == {"bad_checksum": 1}
    assert listener.stats.datagrams == len(datagrams)
    assert all(received == NOON for _, received in sink.items)


POSITION = {
    "msg_type": 1, "repeat": 0, "mmsi": 431234567, "status": 0, "turn": 0.0, "speed": 12.3,
    "accuracy": True, "lon": 135.5, "lat": 37.25, "course": 45.6, "heading": 44,
    "second": 10, "maneuver": 0, "raim": False, "radio": 0,
}  # fmt: skip


def test_a_position_report_becomes_a_track_body() -> None:
    assert position_to_track(POSITION, NOON) == {
        "uid": "mmsi-431234567",
        "type": "a-n-S",
        "point": {"lat": 37.25, "lon": 135.5},
        "time": "2024-03-01T12:00:00.000Z",
        "stale": "2024-03-01T12:10:00.000Z",
        "course": 45.6,
        "speed": 12.3,
        "heading": 44.0,
        "nation": "JPN",
    }


def test_the_track_body_is_a_valid_track_item_body() -> None:
    kinds = pytest.importorskip("trilat.kinds")
    body = position_to_track(POSITION, NOON, stale_after=timedelta(minutes=3))
    assert kinds.validate_body("track", body) == body


def test_not_available_values_are_left_out_of_the_track() -> None:
    report = {**POSITION, "course": 360.0, "speed": 102.3, "heading": 511, "mmsi": 111000000}
    body = position_to_track(report, NOON)
    assert body is not None
    assert not {"course", "speed", "heading", "nation"} & set(body)


def test_a_report_without_a_position_makes_no_track() -> None:
    assert position_to_track({**POSITION, "lat": 91.0}, NOON) is None
    assert position_to_track({**POSITION, "lon": 181.0}, NOON) is None
    assert position_to_track({**POSITION, "lat": None}, NOON) is None


def test_a_message_that_is_not_a_position_report_makes_no_track() -> None:
    assert position_to_track({"msg_type": 5, "mmsi": 431234567}, NOON) is None
    assert position_to_track({**POSITION, "msg_type": 4}, NOON) is None


def test_a_track_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        position_to_track(POSITION, datetime(2024, 3, 1, 12, 0))


def test_flag_states_come_from_the_mmsi_maritime_identification_digits() -> None:
    assert flag_state(431234567) == "JPN"
    assert flag_state(440123456) == "KOR"
    assert flag_state(445000001) == "PRK"
    assert flag_state(413000001) == "CHN"
    assert flag_state(273000001) == "RUS"
    assert flag_state(366000001) == "USA"
    assert flag_state(999000001) is None  # not a ship station
    assert flag_state(970000001) is None  # AIS-SART
