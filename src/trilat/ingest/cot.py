"""The node's CoT server: TAK clients in and out, every delivery decided by the node's policy.

**Who.** Each listener authenticates its clients as node users: with TLS and a client CA, by
the certificate subject's common name (CN = the trilat user name; the CA is the trust anchor);
with ``auth = "token"``, by a TAK ``<auth><cot username=… password=TOKEN/></auth>`` message
whose password is the user's bearer token (compared hashed). Anyone else is closed at once.

**What they see.** ``may_deliver(label, user)`` is ``Policy.may_view`` for that user on this
node, the rule the REST API applies. The relay caches a decision per (label, connection), but
the rule also depends on the item's topics and recipients, so the bridge keeps a decision
*context*: for an item the node publishes, its own topics and recipients (the cache is cleared
before and after); for events relayed between clients, every topic an inbound event may be
filed under (a decision over more topics is never looser). A DISPLAY ONLY or TLP-recipient view
(``audit-view``) is not pushed to a TAK client: it is shown only where the node can audit it.
Items the node publishes are not kept for late joiners (their decision was made in their own
context); a client that connects later sees each track at its next update.

**In.** Events from a client of this node's nation, cleared to the event's label, become items
through the node (sealed, stored, audited as ``cot:<user>``): ``a-…`` atoms are ``track`` items
(one chain per uid, rate-limited like AIS), GeoChat (``b-t-f``) ``chat`` items, anything else
with a position a ``report``. Events from foreign or insufficiently cleared users are relayed
as the relay allows but not stored (counted ``not_stored``).

**Out.** Every ``track`` item the node accepts from any source (API, AIS, federation) is sent to
the connected clients allowed to see it, unless it came from CoT itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final
from xml.etree.ElementTree import ParseError
from xml.sax.saxutils import escape, quoteattr

from trilat.adapters.cot import (
    CotEvent,
    decode_event,
    format_event,
    topic_for_type,
)
from trilat.adapters.cot_server import ConnectionInfo, CotServer, Listener, server_tls_context
from trilat.core.clock import Clock, format_time, parse_time
from trilat.core.errors import TrilatError
from trilat.core.items import Envelope, Item
from trilat.core.labels import Label
from trilat.core.policy import REQUIRES_AUDIT_VIEW, Subject
from trilat.ingest.port import NodePort, Person
from trilat.ingest.settings import CotInput

_log = logging.getLogger(__name__)

CHAT_TYPE: Final = "b-t-f"
INBOUND_TOPICS: Final = ("track", "air.track", "maritime.track", "cot.chat", "cot.report")
_RECENT: Final = 4096


class CotBridge:
    """A :class:`CotServer` wired to the node: users, policy, inbound items, outbound tracks."""

    def __init__(
        self,
        port: NodePort,
        inputs: tuple[CotInput, ...],
        *,
        clock: Clock,
        min_interval_s: float = 0.0,
        queue_size: int = 10_000,
    ) -> None:
        self.port = port
        self.inputs = inputs
        self.clock = clock
        self.min_interval_s = min_interval_s
        self.server: CotServer[Person] = CotServer(
            authenticate=self._authenticate,
            may_deliver=self._may_deliver,
            sink=self._sink,
            clock=clock,
            relay_name=f"trilat-{port.node_id}",
        )
        self._by_listener = {spec.name: spec for spec in inputs}
        self._default: tuple[tuple[str, ...], tuple[str, ...]] = (INBOUND_TOPICS, ())
        self._context = self._default
        self._inbox: asyncio.Queue[tuple[Item, str]] = asyncio.Queue(queue_size)
        self._chains: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        # (uid, time) of tracks made from CoT events: already relayed, never sent back out
        self._own: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self.bound: dict[str, tuple[str, int]] = {}
        self.counts = {
            "stored": 0,
            "refused": 0,
            "not_stored": 0,
            "rate_limited": 0,
            "dropped": 0,
            "published": 0,
            "audit_view_withheld": 0,
        }

    # ----- seams ----------------------------------------------------------------------
    def _authenticate(self, info: ConnectionInfo) -> Person | None:
        spec = self._by_listener.get(info.listener)
        if spec is None:
            return None
        if spec.auth == "certificate":
            name = info.certificate_subject.get("commonName")
            return self.port.person(name) if info.tls and name else None
        return self.port.person_by_token(info.token) if info.token else None

    def _may_deliver(self, label: Label, person: Person) -> bool:
        topics, recipients = self._context
        subject = Subject(label=label, topics=topics, recipients=recipients)
        decision = self.port.may_view(subject, person)
        if decision.allowed and REQUIRES_AUDIT_VIEW in decision.requires:
            self.counts["audit_view_withheld"] += 1
            return False
        return decision.allowed

    def _use(self, context: tuple[tuple[str, ...], tuple[str, ...]]) -> None:
        if context != self._context:
            self._context = context
            self.server.invalidate_decisions()

    # ----- inbound --------------------------------------------------------------------
    def _sink(self, event: CotEvent, person: Person) -> None:
        label = event.label
        if label is None:
            return
        if person.nation != self.port.nation or person.clearance < label.classification:
            self.counts["not_stored"] += 1
            return
        item = self._item(event, label)
        if item is None:
            return
        try:
            self._inbox.put_nowait((item, f"cot:{person.name}"))
        except asyncio.QueueFull:
            self.counts["dropped"] += 1
            return
        if item.kind == "track":
            self._own[(event.uid, str(item.body["time"]))] = None
            if len(self._own) > _RECENT:
                self._own.popitem(last=False)

    def _item(self, event: CotEvent, label: Label) -> Item | None:
        time = format_time(event.time)
        point: dict[str, Any] = {"lat": event.lat, "lon": event.lon}
        if event.hae < 9_999_999.0:
            point["alt_m"] = event.hae
        if event.ce < 9_999_999.0:
            point["error_radius_m"] = event.ce
        if event.type.startswith("a-"):
            at = event.time.timestamp()
            chain = self._chains.get(event.uid)
            if chain is not None and 0 <= at - chain[0] < self.min_interval_s:
                self.counts["rate_limited"] += 1
                return None
            self._chains[event.uid] = (at, chain[1] if chain else None)
            self._chains.move_to_end(event.uid)
            if len(self._chains) > 100_000:
                self._chains.popitem(last=False)
            body: dict[str, Any] = {
                "uid": event.uid,
                "type": event.type,
                "point": point,
                "time": time,
                "stale": format_time(event.stale),
            }
            if event.callsign:
                body["callsign"] = event.callsign
            topics = (topic_for_type(event.type),)
            return Item("track", label, topics, body, supersedes=chain[1] if chain else None)
        remarks = _remarks(event)
        if event.type.startswith(CHAT_TYPE):
            if not remarks:
                return None
            return Item("chat", label, ("cot.chat",), {"text": remarks})
        if event.type.startswith("t-"):
            return None
        text = remarks or f"CoT {event.type} from {event.callsign or event.uid} at {time}"
        geometry = {"type": "Point", "coordinates": [event.lon, event.lat]}
        return Item("report", label, ("cot.report",), {"text": text, "geometry": geometry})

    async def _store_inbox(self) -> None:
        while True:
            first = await self._inbox.get()
            batch = [first]
            while not self._inbox.empty() and len(batch) < 256:
                batch.append(self._inbox.get_nowait())
            by_actor: dict[str, list[Item]] = {}
            for item, actor in batch:
                by_actor.setdefault(actor, []).append(item)
            for actor, items in by_actor.items():
                results = await asyncio.to_thread(self.port.accept, items, actor)
                for item, result in zip(items, results, strict=True):
                    if isinstance(result, Exception):
                        self.counts["refused"] += 1
                        _log.warning("ingest.cot_refused actor=%s error=%s", actor, result)
                        continue
                    self.counts["stored"] += 1
                    if item.kind == "track":
                        uid = str(item.body["uid"])
                        known = self._chains.get(uid)
                        if known is not None:
                            self._chains[uid] = (known[0], result.id)

    # ----- outbound -------------------------------------------------------------------
    def publish(self, envelope: Envelope) -> int:
        """Send an accepted ``track`` item to the clients allowed to see it."""
        if envelope.kind != "track":
            return 0
        if (str(envelope.body.get("uid")), str(envelope.body.get("time"))) in self._own:
            return 0  # made from a CoT event, which the relay has already delivered
        event = _event_of(envelope)
        if event is None:
            return 0
        self._use((tuple(envelope.topics), tuple(envelope.recipients)))
        try:
            sent = self.server.publish(event, envelope.label)
        finally:
            self._use(self._default)
        self._forget_stored(event.uid)
        self.counts["published"] += sent
        return sent

    def _forget_stored(self, uid: str) -> None:
        # a late joiner would be judged in the relay context, not this item's: not kept
        stored = getattr(self.server, "_stored", None)
        if isinstance(stored, dict):
            stored.pop(uid, None)

    # ----- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        for spec in self.inputs:
            tls = None
            if spec.tls_cert is not None and spec.tls_key is not None:
                tls = server_tls_context(
                    str(spec.tls_cert),
                    str(spec.tls_key),
                    str(spec.tls_ca) if spec.tls_ca is not None else None,
                )
            listener = Listener(
                spec.host,
                spec.port,
                spec.label,
                name=spec.name,
                ssl=tls,
                auth="message" if spec.auth == "token" else "none",
            )
            self.bound[spec.name] = await self.server.listen(listener)
        self._task = asyncio.create_task(self._store_inbox(), name="ingest-cot-inbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.server.close()

    def health(self) -> dict[str, Any]:
        stats = self.server.snapshot_stats()
        return {
            "listening": {name: f"{host}:{port}" for name, (host, port) in self.bound.items()},
            "clients": stats.connections,
            "accepted": stats.accepted,
            "delivered": stats.delivered,
            "withheld": stats.withheld,
            "unauthenticated": stats.unauthenticated,
            "bad_label": stats.bad_label,
            "rejected": sum(stats.rejected.values()),
            **self.counts,
        }


def _remarks(event: CotEvent) -> str | None:
    try:
        found = event.detail().find("remarks")
    except (ParseError, ValueError):  # a detail that does not parse has no remarks
        return None
    if found is None or not (found.text or "").strip():
        return None
    return (found.text or "").strip()[:4000]


def _event_of(envelope: Envelope) -> CotEvent | None:
    body = envelope.body
    point = body.get("point")
    if not isinstance(point, Mapping):
        return None
    try:
        time = parse_time(str(body["time"]))
        stale = parse_time(str(body["stale"]))
    except (KeyError, ValueError):
        return None
    detail = b""
    callsign = body.get("callsign") or body.get("name")
    if isinstance(callsign, str) and callsign:
        detail += b"<contact callsign=" + quoteattr(callsign).encode() + b"/>"
    course, speed = body.get("course"), body.get("speed")
    if isinstance(course, int | float) or isinstance(speed, int | float):
        attrs = []
        if isinstance(course, int | float):
            attrs.append(f'course="{float(course)!r}"')
        if isinstance(speed, int | float):
            attrs.append(f'speed="{float(speed) * 0.514444:.3f}"')  # CoT speed is m/s
        detail += f"<track {' '.join(attrs)}/>".encode()
    detail += f"<remarks>{escape('trilat ' + envelope.id)}</remarks>".encode()
    try:
        xml = format_event(
            uid=str(body.get("uid")),
            type=str(body.get("type")),
            time=time,
            stale=max(stale, time + timedelta(seconds=1)),
            how="m-g",
            lat=float(point["lat"]),
            lon=float(point["lon"]),
            hae=float(point.get("alt_m") or 9_999_999.0),
            ce=float(point.get("error_radius_m") or 9_999_999.0),
            detail=detail,
        )
        return decode_event(xml)
    except (TrilatError, KeyError, TypeError, ValueError) as exc:
        _log.warning("ingest.cot_unrenderable id=%s error=%s", envelope.id, exc)
        return None
