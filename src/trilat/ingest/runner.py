"""The ingest runner: every feed, the CoT server and the live analytics of one node process.

``IngestRunner(port, settings)`` is started and stopped with the server (the API's lifespan).
It runs the AIS inputs, the CoT bridge, and one follower task that reads every item the node
accepts (``NodePort.follow``, in commit order, caught up from the store after an overflow) and
hands it to the live engines: maritime and airspace analytics, missile fusion, and the CoT
bridge's outbound path. What an engine derives is originated through the node as
``ingest:analytics`` (sealed, stored, audited); derived items are never fed back to the engine
that made them (each engine reads only the kinds and topics of its inputs).

``health()`` is the ``ingest`` member of ``GET /api/v1/health``: counters per input (bad
sentences among them) and per engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Final

from trilat.analytics.eez import coast_index
from trilat.analytics.maritime.watchlist import Watchlist, WatchMonitor
from trilat.core.errors import TrilatError
from trilat.ingest.ais import AisIngest
from trilat.ingest.analytics import AirspaceLive, Derived, MaritimeLive
from trilat.ingest.cot import CotBridge
from trilat.ingest.missile import MissileLive
from trilat.ingest.port import Accepted, NodePort
from trilat.ingest.settings import IngestSettings

_log = logging.getLogger(__name__)

ANALYTICS_ACTOR: Final = "ingest:analytics"


def load_watchlist(path: Path) -> Watchlist:
    """A watchlist JSON file (``Watchlist.as_dict`` form)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrilatError(f"watchlist {path}: {exc}") from exc
    return Watchlist.from_dict(data)


class IngestRunner:
    """Starts, runs and stops a node's ingest; see the module docstring."""

    def __init__(self, port: NodePort, settings: IngestSettings) -> None:
        self.port = port
        self.settings = settings
        view = settings.view or port.nation
        self.ais = (
            AisIngest(
                port,
                settings.ais,
                clock=port.clock,
                max_vessels=settings.max_vessels,
                queue_size=settings.queue,
            )
            if settings.ais
            else None
        )
        self.cot = (
            CotBridge(port, settings.cot, clock=port.clock, min_interval_s=settings.min_interval_s)
            if settings.cot
            else None
        )
        watch = WatchMonitor(load_watchlist(settings.watchlist)) if settings.watchlist else None
        self.maritime = (
            MaritimeLive(watch=watch, max_vessels=settings.max_vessels)
            if settings.maritime
            else None
        )
        self.airspace = AirspaceLive(view) if settings.airspace else None
        self.missile = MissileLive(view) if settings.missile else None
        self._follower: asyncio.Task[None] | None = None
        self.derived = 0
        self.refused = 0
        self.followed = 0
        self.engine_errors = 0
        self.last_seq = 0

    async def start(self) -> None:
        """Start following accepted items, then the CoT listeners and AIS inputs."""
        if self.missile is not None:  # load the view's coasts now, not on the first warning
            await asyncio.to_thread(coast_index, self.missile.view)
        stream = self.port.follow()  # subscribed from here on: nothing accepted is missed
        self._follower = asyncio.create_task(self._follow(stream), name="ingest-follower")
        if self.cot is not None:
            await self.cot.start()
        if self.ais is not None:
            await self.ais.start()
        _log.info("ingest.started ais=%d cot=%d", len(self.settings.ais), len(self.settings.cot))

    async def stop(self) -> None:
        if self.ais is not None:
            await self.ais.stop()
        if self.cot is not None:
            await self.cot.stop()
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        _log.info("ingest.stopped derived=%d refused=%d", self.derived, self.refused)

    async def _follow(self, stream: AsyncIterator[Accepted]) -> None:
        async for accepted in stream:
            await self._take(accepted)

    async def _take(self, accepted: Accepted) -> None:
        self.followed += 1
        self.last_seq = accepted.seq
        envelope = accepted.envelope
        derived: list[tuple[Any, Derived]] = []
        for engine in (self.maritime, self.airspace, self.missile):
            if engine is None or not engine.wants(envelope):
                continue
            try:
                derived.extend((engine, d) for d in engine.take(envelope))
            except Exception:  # an engine bug must not stop the node's other engines
                self.engine_errors += 1
                _log.exception(
                    "ingest.engine_failed engine=%s id=%s", type(engine).__name__, envelope.id
                )
        if self.cot is not None and envelope.kind == "track":
            self.cot.publish(envelope)
        if derived:
            await self._originate(derived)

    async def _originate(self, derived: Sequence[tuple[Any, Derived]]) -> None:
        results = await asyncio.to_thread(
            self.port.accept, [d.item for _, d in derived], ANALYTICS_ACTOR
        )
        for (engine, made), result in zip(derived, results, strict=True):
            if isinstance(result, Exception):
                self.refused += 1
                _log.warning("ingest.derived_refused kind=%s error=%s", made.item.kind, result)
                continue
            self.derived += 1
            _log.info(
                "ingest.derived id=%s kind=%s topics=%s", result.id, result.kind, result.topics
            )
            stored = getattr(engine, "stored", None)
            if stored is not None:
                stored(made, result)

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "followed": self.followed,
            "derived": self.derived,
            "refused": self.refused,
            "engine_errors": self.engine_errors,
        }
        if self.ais is not None:
            out["ais"] = self.ais.health()
        if self.cot is not None:
            out["cot"] = self.cot.health()
        if self.maritime is not None:
            out["maritime"] = {
                "positions": self.maritime.positions,
                "results": self.maritime.results,
            }
        if self.airspace is not None:
            out["airspace"] = {"fixes": self.airspace.fixes}
        if self.missile is not None:
            out["missile"] = {"reports": self.missile.reports, "refused": self.missile.refused}
        return out
