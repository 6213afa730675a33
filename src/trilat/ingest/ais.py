"""AIS feeds into the node: one ``track`` chain per vessel, rate-limited, enriched, labelled.

Each configured input (file, TCP client, UDP listener; ``trilat.adapters.ais_feed``) declares
the label and topics its data carries. A position report becomes a ``track`` item (body from
``position_to_track``) whose ``supersedes`` names the vessel's previous track item, so a
vessel is one chain. Per MMSI, a report less than ``min_interval_s`` after the last stored
one (by report time) is counted ``rate_limited`` and not stored. Static data (types 5, 19,
24) is remembered per vessel and written into every later track body (``name``,
``callsign``, ``imo``, ``ship_type``).

Threads: readers hand items to one bounded queue; one writer thread drains it in batches,
at most one item per vessel per batch (its ``supersedes`` must be committed first), and
commits each batch through the node (group commit). Network readers never block: when the
queue is full an item is dropped and counted ``dropped``. A file reader waits instead (a file
is finite and is meant to be read whole). Memory is bounded: the queue, the decoder's
fragment buffer and the vessel table (``max_vessels``, least recently heard forgotten).
Chain heads and last report times are saved in the node's store at a clean stop and read back
at start, so a chain (and its rate limit) goes on across restarts; after a crash a vessel's
next item starts a new chain.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from trilat.adapters.ais import Decoder
from trilat.adapters.ais_feed import (
    FeedStats,
    TcpFeedClient,
    UdpFeedListener,
    position_to_track,
    read_file,
)
from trilat.core.clock import Clock
from trilat.core.errors import TrilatError
from trilat.core.items import Item
from trilat.ingest.port import NodePort
from trilat.ingest.settings import AisInput

_log = logging.getLogger(__name__)

_STATIC_TYPES: Final = frozenset({5, 19, 24})
_BATCH: Final = 256
_STOP: Final = object()


@dataclass(slots=True)
class _Vessel:
    last_time: float | None = None  # report time (POSIX s) of the last item queued
    head: str | None = None  # id of the vessel's latest stored track item
    name: str | None = None
    callsign: str | None = None
    imo: int | None = None
    ship_type: int | None = None


@dataclass
class InputStats:
    """Counters of one AIS input (shown on ``/api/v1/health``)."""

    positions: int = 0
    rate_limited: int = 0
    static: int = 0
    queued: int = 0
    stored: int = 0
    refused: int = 0
    dropped: int = 0
    feed: FeedStats | None = None
    decoder: Decoder = field(default_factory=Decoder)

    def as_dict(self) -> dict[str, Any]:
        decode = self.decoder.stats
        out: dict[str, Any] = {
            "sentences": decode.sentences,
            "messages": decode.messages,
            "bad_sentences": decode.bad,
            "rejected": dict(sorted(decode.rejected.items())),
            "positions": self.positions,
            "rate_limited": self.rate_limited,
            "static": self.static,
            "stored": self.stored,
            "refused": self.refused,
            "dropped": self.dropped,
        }
        if self.feed is not None:
            out["connections"] = self.feed.connections
            out["failed_connections"] = self.feed.failed_connections
            out["oversized_lines"] = self.feed.oversized_lines
        return out


def _clean(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    cleaned = text.replace("@", " ").strip()
    return cleaned or None


class AisIngest:
    """Every AIS input of a node, its vessel chains and its writer thread."""

    def __init__(
        self,
        port: NodePort,
        inputs: tuple[AisInput, ...],
        *,
        clock: Clock,
        max_vessels: int = 200_000,
        queue_size: int = 10_000,
    ) -> None:
        self.port = port
        self.inputs = inputs
        self.clock = clock
        self.max_vessels = max_vessels
        self.stats: dict[str, InputStats] = {spec.name: InputStats() for spec in inputs}
        # per input: vessels are chains of that input's label and topics
        self._vessels: dict[str, OrderedDict[int, _Vessel]] = {
            s.name: OrderedDict() for s in inputs
        }
        self._lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue(queue_size)
        self._writer: threading.Thread | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._clients: list[TcpFeedClient] = []
        self._listeners: list[UdpFeedListener] = []
        self._files: list[threading.Thread] = []
        self.bound: dict[str, tuple[str, int]] = {}
        self.files_done = threading.Event()

    # ----- the sink -------------------------------------------------------------------
    def sink_for(self, spec: AisInput, *, block: bool) -> Callable[[dict[str, Any], Any], None]:
        """The ``Sink`` of one input: rate limit and enrichment, then the writer's queue."""
        stats = self.stats[spec.name]
        vessels = self._vessels[spec.name]
        interval = spec.min_interval_s

        def sink(message: dict[str, Any], received_at: datetime | None) -> None:
            mmsi = message.get("mmsi")
            msg_type = message.get("msg_type")
            if not isinstance(mmsi, int):
                return
            with self._lock:
                vessel = vessels.get(mmsi)
                if vessel is None:
                    vessel = vessels[mmsi] = _Vessel()
                    if len(vessels) > self.max_vessels:
                        vessels.popitem(last=False)
                else:
                    vessels.move_to_end(mmsi)
                if msg_type in _STATIC_TYPES:
                    stats.static += 1
                    self._learn(vessel, message)
                    if msg_type != 19:
                        return
                at = received_at or self.clock.now()
                body = position_to_track(message, at)
                if body is None:
                    return
                stats.positions += 1
                seconds = at.timestamp()
                if (
                    vessel.last_time is not None
                    and interval > 0
                    and 0 <= seconds - vessel.last_time < interval
                ):
                    stats.rate_limited += 1
                    return
                vessel.last_time = seconds
                for name in ("name", "callsign", "imo", "ship_type"):
                    value = getattr(vessel, name)
                    if value is not None:
                        body[name] = value
            entry = (spec, mmsi, body)
            if block:
                self._queue.put(entry)
            else:
                try:
                    self._queue.put_nowait(entry)
                except queue.Full:
                    stats.dropped += 1
                    return
            stats.queued += 1

        return sink

    @staticmethod
    def _learn(vessel: _Vessel, message: dict[str, Any]) -> None:
        name = _clean(message.get("shipname"))
        if name is not None:
            vessel.name = name
        callsign = _clean(message.get("callsign"))
        if callsign is not None:
            vessel.callsign = callsign
        imo = message.get("imo")
        if isinstance(imo, int) and 1_000_000 <= imo <= 9_999_999:
            vessel.imo = imo
        ship_type = message.get("ship_type")
        if isinstance(ship_type, int) and 0 < ship_type < 100:
            vessel.ship_type = ship_type

    # ----- the writer -----------------------------------------------------------------
    def _write(self) -> None:
        held: list[Any] = []
        stopping = False
        while not stopping or held:
            batch: dict[tuple[str, int], tuple[AisInput, int, dict[str, Any]]] = {}
            later: list[Any] = []
            for entry in held:
                key = (entry[0].name, entry[1])
                if key in batch:
                    later.append(entry)
                else:
                    batch[key] = entry
            held = later
            if not batch and not stopping:
                entry = self._queue.get()
                if entry is _STOP:
                    stopping = True
                else:
                    batch[(entry[0].name, entry[1])] = entry
            while len(batch) < _BATCH and not stopping:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry is _STOP:
                    stopping = True
                    break
                key = (entry[0].name, entry[1])
                if key in batch:
                    held.append(entry)
                else:
                    batch[key] = entry
            if batch:
                try:
                    self._commit(list(batch.values()))
                except Exception:  # the writer must outlive a failing batch
                    _log.exception("ingest.ais_batch_failed size=%d", len(batch))
                    for spec, _, _ in batch.values():
                        self.stats[spec.name].refused += 1

    def _commit(self, batch: list[tuple[AisInput, int, dict[str, Any]]]) -> None:
        by_input: dict[str, list[tuple[AisInput, int, dict[str, Any]]]] = {}
        for entry in batch:
            by_input.setdefault(entry[0].name, []).append(entry)
        for name, entries in by_input.items():
            spec = entries[0][0]
            vessels = self._vessels[name]
            stats = self.stats[name]
            items = []
            for _, mmsi, body in entries:
                vessel = vessels.get(mmsi)
                items.append(
                    Item(
                        kind="track",
                        label=spec.label,
                        topics=spec.topics,
                        body=body,
                        supersedes=vessel.head if vessel is not None else None,
                    )
                )
            results = self.port.accept(items, f"ingest:ais:{name}")
            for (_, mmsi, _), result in zip(entries, results, strict=True):
                if isinstance(result, Exception):
                    stats.refused += 1
                    _log.warning("ingest.ais_refused input=%s mmsi=%d error=%s", name, mmsi, result)
                    with self._lock:
                        vessel = vessels.get(mmsi)
                        if vessel is not None:
                            vessel.head = None  # start a fresh chain rather than fail again
                    continue
                stats.stored += 1
                with self._lock:
                    vessel = vessels.get(mmsi)
                    if vessel is not None:
                        vessel.head = result.id

    # ----- lifecycle ------------------------------------------------------------------
    def _restore(self) -> None:
        """Chain heads and last report times saved at the last clean stop: a vessel's chain
        (and its rate limit) goes on across restarts."""
        for spec in self.inputs:
            try:
                text = self.port.load_state(f"ais.{spec.name}.heads")
                saved = json.loads(text) if text else {}
            except (TrilatError, ValueError) as exc:
                _log.warning("ingest.ais_heads_unreadable input=%s error=%s", spec.name, exc)
                continue
            vessels = self._vessels[spec.name]
            for mmsi, (last_time, head) in list(saved.items())[-self.max_vessels :]:
                vessels[int(mmsi)] = _Vessel(last_time=last_time, head=head)

    def _save(self) -> None:
        for spec in self.inputs:
            with self._lock:
                heads = {
                    str(mmsi): [vessel.last_time, vessel.head]
                    for mmsi, vessel in self._vessels[spec.name].items()
                    if vessel.head is not None
                }
            try:
                self.port.save_state(f"ais.{spec.name}.heads", json.dumps(heads))
            except TrilatError as exc:
                _log.warning("ingest.ais_heads_not_saved input=%s error=%s", spec.name, exc)

    async def start(self) -> None:
        """Start the writer and every input (UDP listeners are bound when this returns)."""
        await asyncio.to_thread(self._restore)
        self._writer = threading.Thread(target=self._write, name="ingest-ais-writer", daemon=True)
        self._writer.start()
        for spec in self.inputs:
            stats = self.stats[spec.name]
            if spec.source == "file":
                thread = threading.Thread(
                    target=self._read_file,
                    args=(spec,),
                    name=f"ingest-ais-{spec.name}",
                    daemon=True,
                )
                self._files.append(thread)
                thread.start()
            elif spec.source == "tcp":
                client = TcpFeedClient(
                    spec.host,
                    spec.port,
                    self.sink_for(spec, block=False),
                    decoder=stats.decoder,
                    clock=self.clock,
                )
                stats.feed = client.stats
                self._clients.append(client)
                self._tasks.append(asyncio.create_task(client.run(), name=f"ais-{spec.name}"))
            else:
                listener = UdpFeedListener(
                    self.sink_for(spec, block=False),
                    host=spec.host,
                    port=spec.port,
                    decoder=stats.decoder,
                    clock=self.clock,
                )
                stats.feed = listener.stats
                self.bound[spec.name] = await listener.start()
                self._listeners.append(listener)
        if not self._files:
            self.files_done.set()
        self._tasks.append(asyncio.create_task(self._log_stats(), name="ais-stats"))

    async def _log_stats(self, every: float = 60.0) -> None:
        """One log line per input and minute while its counters move (bad sentences too)."""
        seen: dict[str, tuple[int, int]] = {}
        while True:
            await asyncio.sleep(every)
            for name, stats in self.stats.items():
                decode = stats.decoder.stats
                before = seen.get(name, (0, 0))
                if (decode.sentences, decode.bad) == before:
                    continue
                seen[name] = (decode.sentences, decode.bad)
                log = _log.warning if decode.bad > before[1] else _log.info
                log(
                    "ingest.ais_stats input=%s sentences=%d bad=%d stored=%d rate_limited=%d "
                    "dropped=%d refused=%d",
                    name,
                    decode.sentences,
                    decode.bad,
                    stats.stored,
                    stats.rate_limited,
                    stats.dropped,
                    stats.refused,
                )

    def _read_file(self, spec: AisInput) -> None:
        stats = self.stats[spec.name]
        try:
            if spec.path is None:
                raise OSError("no path")  # settings require one for a file input
            read_file(spec.path, self.sink_for(spec, block=True), decoder=stats.decoder)
        except OSError as exc:
            _log.error("ingest.ais_file_failed input=%s error=%s", spec.name, exc)
        else:
            _log.info("ingest.ais_file_read input=%s %s", spec.name, stats.decoder.stats.summary())
        if all(not t.is_alive() or t is threading.current_thread() for t in self._files):
            self.files_done.set()

    def drained(self) -> bool:
        """True when every queued item has been committed or refused."""
        return all(s.queued == s.stored + s.refused for s in self.stats.values())

    async def stop(self) -> None:
        """Stop the readers, then let the writer commit what is queued and end."""
        for client in self._clients:
            client.stop()
        for listener in self._listeners:
            listener.close()
        for task in self._tasks:
            if task.get_name() == "ais-stats":
                task.cancel()
            try:
                await asyncio.wait_for(task, 5)
            except (TimeoutError, ConnectionError, asyncio.CancelledError):
                task.cancel()
        if self._writer is not None:
            await asyncio.to_thread(self._queue.put, _STOP)
            await asyncio.to_thread(self._writer.join, 30)
            await asyncio.to_thread(self._save)
        for stats in self.stats.values():
            bad = stats.decoder.stats.bad
            if bad:
                _log.warning("ingest.ais_bad_sentences total=%d", bad)

    def health(self) -> dict[str, Any]:
        out = {name: stats.as_dict() for name, stats in self.stats.items()}
        for name, (host, port) in self.bound.items():
            out[name]["listening"] = f"{host}:{port}"
        return out
