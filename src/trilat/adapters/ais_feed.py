"""AIS ingest: NMEA from a file, a TCP feed or UDP datagrams, decoded and handed to a sink.

Every reader decodes with a :class:`~trilat.adapters.ais.Decoder` and calls
``sink(message, received_at)`` once per message, in arrival order: ``message`` is the
decoded dict (pyais field names), ``received_at`` an aware UTC ``datetime``: the time the
sentence carries (NMEA 4.10 tag block or trailing unix time), else, for the network readers,
the injected clock's time of arrival, else (a file without times) ``None``. Bad sentences
are counted in the decoder's :class:`~trilat.adapters.ais.DecodeStats`, never raised.

Memory is bounded on an endless stream: files are read line by line (gzip too), network
lines longer than ``max_line`` bytes are dropped, and the decoder bounds its fragment
buffer. :func:`position_to_track` turns a position report into the body of a ``track``
item (SPEC §5); it is pure.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final, Protocol

from trilat.adapters.ais import Decoder, DecodeStats, Message
from trilat.core.clock import Clock, SystemClock, format_time

__all__ = [
    "FeedStats",
    "Sink",
    "TcpFeedClient",
    "UdpFeedListener",
    "flag_state",
    "iter_lines",
    "position_to_track",
    "read_file",
    "read_stream",
]

_log = logging.getLogger(__name__)

_GZIP_MAGIC: Final = b"\x1f\x8b"
_BATCH_LINES: Final = 4096
_MAX_FILE_LINE: Final = 4096


class Sink(Protocol):
    """Receives each decoded message and its reception time (UTC, or None if unknown)."""

    def __call__(self, message: dict[str, Any], received_at: datetime | None, /) -> None: ...


@dataclass
class FeedStats:
    """Counters of a network reader, beside its decoder's."""

    decode: DecodeStats
    connections: int = 0
    failed_connections: int = 0
    datagrams: int = 0
    oversized_lines: int = 0
    bytes_received: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "failed_connections": self.failed_connections,
            "datagrams": self.datagrams,
            "oversized_lines": self.oversized_lines,
            "bytes_received": self.bytes_received,
            "decode": self.decode.as_dict(),
        }


def _utc(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _deliver(messages: Iterator[Message] | list[Message], sink: Sink) -> int:
    delivered = 0
    for fields, received_at in messages:
        sink(fields, _utc(received_at))
        delivered += 1
    return delivered


def iter_lines(source: IO[bytes], *, max_line: int = _MAX_FILE_LINE) -> Iterator[bytes]:
    """Lines of a binary stream, stripped, one at a time (gzip is recognised by its magic).

    A line longer than *max_line* bytes is cut there and the rest of it skipped, so that a
    file without newlines cannot make the reader hold it whole; the decoder then refuses
    the cut line as malformed.
    """
    buffered: IO[bytes] = source
    if not isinstance(source, io.BufferedReader):
        buffered = io.BufferedReader(source)  # type: ignore[type-var]
    if buffered.peek(2)[:2] == _GZIP_MAGIC:  # type: ignore[attr-defined]
        buffered = gzip.GzipFile(fileobj=buffered)  # type: ignore[assignment]
    readline = buffered.readline
    while line := readline(max_line + 1):
        if len(line) > max_line and not line.endswith(b"\n"):
            while (rest := readline(max_line + 1)) and not rest.endswith(b"\n"):
                pass  # skip the remainder of an over-long line, a bounded piece at a time
        stripped = line.strip()
        if stripped:
            yield stripped


def read_stream(
    source: IO[bytes],
    sink: Sink,
    *,
    decoder: Decoder | None = None,
    batch_lines: int = _BATCH_LINES,
) -> DecodeStats:
    """Decode every sentence of a binary stream into *sink*; returns the decoder's counters.

    Reads *batch_lines* lines at a time and decodes each batch in columns, so memory stays
    bounded whatever the size of the stream; flushes partial messages at the end.
    """
    if batch_lines < 1:
        raise ValueError("batch_lines must be positive")
    decoder = decoder or Decoder()
    batch: list[bytes] = []
    for line in iter_lines(source):
        batch.append(line)
        if len(batch) >= batch_lines:
            _deliver(decoder.decode_batch(batch).messages(), sink)
            batch = []
    if batch:
        _deliver(decoder.decode_batch(batch).messages(), sink)
    decoder.flush()
    return decoder.stats


def read_file(
    path: str | Path,
    sink: Sink,
    *,
    decoder: Decoder | None = None,
    batch_lines: int = _BATCH_LINES,
) -> DecodeStats:
    """Decode a file of NMEA sentences (plain or gzip) into *sink*, streaming."""
    with open(path, "rb") as source:
        return read_stream(source, sink, decoder=decoder, batch_lines=batch_lines)


class _LineSplitter:
    """Splits a byte stream into lines, dropping (and counting) any longer than *limit*."""

    def __init__(self, limit: int, stats: FeedStats) -> None:
        self._buffer = bytearray()
        self._discarding = False
        self._limit = limit
        self._stats = stats

    def push(self, data: bytes) -> list[bytes]:
        self._stats.bytes_received += len(data)
        self._buffer += data
        lines: list[bytes] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self._limit:
                    if not self._discarding:
                        self._stats.oversized_lines += 1
                    self._discarding = True
                    self._buffer.clear()
                return lines
            line = bytes(self._buffer[:end]).strip()
            del self._buffer[: end + 1]
            if self._discarding:
                self._discarding = False
                continue
            if len(line) > self._limit:
                self._stats.oversized_lines += 1
            elif line:
                lines.append(line)


class _Receiver:
    """Decode lines as they arrive and deliver with the line's time or the clock's."""

    def __init__(self, sink: Sink, decoder: Decoder, clock: Clock) -> None:
        self._sink, self._decoder, self._clock = sink, decoder, clock

    def lines(self, lines: list[bytes]) -> None:
        if not lines:
            return
        now = self._clock.now().timestamp()
        feed, sink = self._decoder.feed, self._sink
        for line in lines:
            message = feed(line, now)
            if message is not None:
                sink(message.fields, _utc(message.received_at))


class TcpFeedClient:
    """Connects to a TCP NMEA feed (an AIS receiver or aggregator) and follows it.

    On a closed or failed connection it reconnects after an exponential backoff from
    *backoff_initial* up to *backoff_max* seconds, reset by a connection that delivered
    data; after *max_attempts* consecutive failed attempts (None: never) ``run`` raises
    ``ConnectionError``. ``stop()`` ends ``run`` promptly, also during a backoff.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sink: Sink,
        *,
        decoder: Decoder | None = None,
        clock: Clock | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_attempts: int | None = None,
        connect_timeout: float = 10.0,
        max_line: int = 1024,
    ) -> None:
        if backoff_initial <= 0 or backoff_max < backoff_initial:
            raise ValueError("backoff must satisfy 0 < backoff_initial <= backoff_max")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be positive (or None for no limit)")
        self.host, self.port = host, port
        self.decoder = decoder or Decoder()
        self.stats = FeedStats(self.decoder.stats)
        self._receiver = _Receiver(sink, self.decoder, clock or SystemClock())
        self._backoff = (backoff_initial, backoff_max)
        self._max_attempts = max_attempts
        self._connect_timeout = connect_timeout
        self._max_line = max_line
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask ``run`` to return (safe to call from the event loop's thread)."""
        self._stop.set()

    async def run(self) -> FeedStats:
        """Follow the feed until ``stop()``; raises ConnectionError after max_attempts."""
        delay, failures = self._backoff[0], 0
        while not self._stop.is_set():
            delivered = await self._session()
            if self._stop.is_set():
                break
            if delivered:
                delay, failures = self._backoff[0], 0
            else:
                failures += 1
                if self._max_attempts is not None and failures >= self._max_attempts:
                    raise ConnectionError(
                        f"AIS feed {self.host}:{self.port}: no data after {failures} attempts"
                    )
            _log.info("ais_feed.reconnect host=%s port=%d delay=%.2f", self.host, self.port, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            delay = min(self._backoff[1], delay * 2)
        self.decoder.flush()
        return self.stats

    async def _session(self) -> int:
        """One connection: returns how many bytes it delivered (0 if it never connected)."""
        try:
            # asyncio.timeout, not wait_for: a cancellation that meets a completed connect
            # must not drop the connection unclosed
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError) as exc:
            self.stats.failed_connections += 1
            _log.warning(
                "ais_feed.connect_failed host=%s port=%d error=%s", self.host, self.port, exc
            )
            return 0
        self.stats.connections += 1
        _log.info("ais_feed.connected host=%s port=%d", self.host, self.port)
        splitter = _LineSplitter(self._max_line, self.stats)
        received = 0
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            while True:
                reading = asyncio.ensure_future(reader.read(65536))
                done, _ = await asyncio.wait(
                    {reading, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                if reading not in done:
                    reading.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reading
                    break
                try:
                    data = reading.result()
                except OSError as exc:
                    _log.warning("ais_feed.read_failed host=%s error=%s", self.host, exc)
                    break
                if not data:
                    break
                received += len(data)
                self._receiver.lines(splitter.push(data))
            self._receiver.lines(splitter.push(b"\n"))  # a last line without its newline
        finally:
            stopping.cancel()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return received


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, listener: UdpFeedListener) -> None:
        self._listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._listener._datagram(data)


class UdpFeedListener:
    """Listens for NMEA sentences in UDP datagrams (one or more lines each).

    A datagram is self-contained: a line is never continued in the next one.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        decoder: Decoder | None = None,
        clock: Clock | None = None,
        max_line: int = 1024,
    ) -> None:
        self.host, self.port = host, port
        self.decoder = decoder or Decoder()
        self.stats = FeedStats(self.decoder.stats)
        self._receiver = _Receiver(sink, self.decoder, clock or SystemClock())
        self._max_line = max_line
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> tuple[str, int]:
        """Bind and start receiving; returns the bound (host, port)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(self.host, self.port)
        )
        self._transport = transport
        address = transport.get_extra_info("sockname")
        _log.info("ais_feed.udp_listening host=%s port=%d", address[0], address[1])
        return address[0], address[1]

    def _datagram(self, data: bytes) -> None:
        self.stats.datagrams += 1
        splitter = _LineSplitter(self._max_line, self.stats)
        self._receiver.lines(splitter.push(data + b"\n"))

    def close(self) -> FeedStats:
        """Stop listening; partial messages still waiting are counted as incomplete."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self.decoder.flush()
        return self.stats


# Maritime identification digits (ITU-R M.585, MID table) of the region and the flags most
# seen there, to ISO 3166-1 alpha-3. A track's nation is the flag state its MMSI claims.
_MID_NATION: Final[dict[int, str]] = {
    **dict.fromkeys((431, 432), "JPN"),
    **dict.fromkeys((440, 441), "KOR"),
    445: "PRK",
    **dict.fromkeys((412, 413, 414), "CHN"),
    416: "TWN",
    477: "HKG",
    453: "MAC",
    273: "RUS",
    457: "MNG",
    **dict.fromkeys((338, 366, 367, 368, 369), "USA"),
    **dict.fromkeys((351, 352, 353, 354, 355, 356, 357, 370, 371, 372, 373, 374), "PAN"),
    **dict.fromkeys((636, 637), "LBR"),
    **dict.fromkeys((538,), "MHL"),
    **dict.fromkeys((563, 564, 565, 566), "SGP"),
    **dict.fromkeys((215, 229, 248, 249, 256), "MLT"),
    **dict.fromkeys((308, 309, 311), "BHS"),
    **dict.fromkeys((209, 210, 212), "CYP"),
    **dict.fromkeys((237, 239, 240, 241), "GRC"),
    **dict.fromkeys((232, 233, 234, 235), "GBR"),
    **dict.fromkeys((503,), "AUS"),
    **dict.fromkeys((316,), "CAN"),
    **dict.fromkeys((548,), "PHL"),
    **dict.fromkeys((574,), "VNM"),
    **dict.fromkeys((525,), "IDN"),
    **dict.fromkeys((533,), "MYS"),
    **dict.fromkeys((567,), "THA"),
    **dict.fromkeys((514, 515), "KHM"),
    **dict.fromkeys((667,), "SLE"),
    **dict.fromkeys((671,), "TGO"),
    **dict.fromkeys((572,), "TUV"),
    **dict.fromkeys((511,), "PLW"),
    **dict.fromkeys((576, 577), "VUT"),
    **dict.fromkeys((518,), "COK"),
    **dict.fromkeys((312,), "BLZ"),
    **dict.fromkeys((341,), "KNA"),
    **dict.fromkeys((375, 376, 377), "VCT"),
    **dict.fromkeys((613,), "CMR"),
    **dict.fromkeys((620,), "COM"),
    **dict.fromkeys((674, 677), "TZA"),
    **dict.fromkeys((419,), "IND"),
    **dict.fromkeys((211, 218), "DEU"),
    **dict.fromkeys((226, 227, 228), "FRA"),
    **dict.fromkeys((244, 245, 246), "NLD"),
    **dict.fromkeys((257, 258, 259), "NOR"),
    **dict.fromkeys((219, 220), "DNK"),
    **dict.fromkeys((247,), "ITA"),
    **dict.fromkeys((271,), "TUR"),
}


def flag_state(mmsi: int) -> str | None:
    """ISO 3166-1 alpha-3 flag of a ship-station MMSI (MIDxxxxxx), if its MID is known."""
    if 200_000_000 <= mmsi <= 799_999_999:
        return _MID_NATION.get(mmsi // 1_000_000)
    return None


_POSITION_REPORTS: Final = frozenset({1, 2, 3, 18, 19, 27})


def position_to_track(
    message: Mapping[str, Any],
    received_at: datetime,
    *,
    stale_after: timedelta = timedelta(minutes=10),
    vessel_type: str = "a-n-S",
) -> dict[str, Any] | None:
    """The body of a ``track`` item for a position report, or None if it has no position.

    ``uid`` is ``mmsi-<MMSI>`` so that each report supersedes the vessel's previous track;
    ``type`` is the CoT type given (a neutral surface track by default: AIS says nothing of
    affiliation); ``point`` is the reported position; ``course`` and ``heading`` (degrees
    true) and ``speed`` (knots) are omitted when the report says "not available"; ``nation`` is the
    flag state of the MMSI's MID when known. Accepts types 1, 2, 3, 18, 19 and 27.
    """
    if message.get("msg_type") not in _POSITION_REPORTS:
        return None
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware (UTC)")
    lat, lon = message.get("lat"), message.get("lon")
    mmsi = message.get("mmsi")
    if lat is None or lon is None or mmsi is None:
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):  # 91 / 181: not available
        return None
    long_range = message.get("msg_type") == 27
    body: dict[str, Any] = {
        "uid": f"mmsi-{mmsi}",
        "type": vessel_type,
        "point": {"lat": lat, "lon": lon},
        "time": format_time(received_at),
        "stale": format_time(received_at + stale_after),
    }
    course, speed = message.get("course"), message.get("speed")
    if course is not None and course < (511 if long_range else 360):
        body["course"] = float(course)
    if speed is not None and speed < (63 if long_range else 102.3):
        body["speed"] = float(speed)
    heading = message.get("heading")
    if heading is not None and heading < 360:  # 511: not available
        body["heading"] = float(heading)
    nation = flag_state(int(mmsi))
    if nation is not None:
        body["nation"] = nation
    return body
