"""A Cursor-on-Target relay: TCP and TLS listeners, outbound links, every delivery label-checked.

The relay behaves like a TAK server's broadcast: an event from one connection goes to every
other connection allowed to see it, or, when it carries ``<marti><dest …/></marti>``, only to
the named recipients. It knows nothing about users, stores or policy; it is handed three seams:

* ``authenticate(info) -> viewer | None`` decides who is on a new connection (``None`` closes
  it). ``info`` carries the listener, the peer address, a TLS client certificate's subject and
  fingerprint, and a token from a TAK ``<auth><cot username=… password=…/></auth>`` message when
  the listener asks for one. It runs on the event loop: it must answer from memory.
* ``may_deliver(label, viewer) -> bool`` says whether an event of that label may be written to
  that viewer's connection (the node passes a function that calls ``Policy.may_view``). Answers
  are cached per (label, connection) for ``decision_ttl`` seconds and dropped by
  :meth:`CotServer.invalidate_decisions`; an exception counts as "no".
* ``sink(event, viewer)`` receives every accepted inbound event *after* it has been fanned out.

Inbound label: each listener (or outbound link) declares the label its data carries; an event's
own ``<__trilat label="…"/>`` mark can only make it stricter (the two are rolled up). A mark that
does not parse refuses the event. Outbound, every event carries its label in ``access`` and in
``<__trilat label="…"/>``.

Directed delivery cannot be hijacked: the first callsign and uid an authenticated connection
(TLS client certificate or ``<auth>`` token) claims in its SA are bound to its identity (its
viewer). Another authenticated identity, a default-viewer client or a link that claims a bound
callsign or uid has that event dropped and counted (``claim_refused``); callsigns claimed only
by unauthenticated clients stay unbound.

Every event written out carries this relay's name in ``<_flow-tags_>``; an event that comes
back with it (two relays linked both ways, or a ring of links) is dropped and counted. An event
that has been through another relay and arrives a second time (by two paths: two relays linked
both ways send each other everything twice) is recognised by its uid, type and time and
dropped as a duplicate.

Hot path (the GIL trap): one parse per event, one rendering of its outbound bytes, a cached
decision per recipient, and one write per recipient per read. Each connection has a bounded
backlog used only while its socket is not draining; past ``max_queue_bytes`` the oldest events
are dropped and counted (or, with ``slow_client="disconnect"``, the connection is closed), so a
slow reader never stalls the others. With ``idle_timeout`` set, a client that sends nothing
(TAK clients send SA or ``t-x-c-t`` pings as keep-alives) for that long is closed.

Wiring, as a node does it::

    server = CotServer(
        authenticate=lambda info: users.by_certificate(info.certificate_sha256),
        may_deliver=lambda label, user: policy.may_view(
            Subject(label=label, topics=("maritime.track",)), user.nation, user.clearance,
            node_nation, clock.now()).allowed,
        sink=lambda event, user: inbox.put_nowait((event, user)),  # store after fan-out
    )
    await server.listen(Listener("0.0.0.0", 8089, parse_label("SECRET//REL TO USA, JPN, KOR",
                                 owner=node_nation), ssl=server_tls_context(cert, key, ca)))
    server.publish(decode_event(format_event(...)), item.label)  # node-originated tracks out
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import socket
import ssl
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, Literal, TypeVar
from xml.sax.saxutils import quoteattr

from defusedxml.ElementTree import fromstring as _defused_fromstring

from trilat.adapters.cot import (
    DELETE_TYPE,
    PING_TYPE,
    PONG_TYPE,
    CotEvent,
    CotLimits,
    CotStreamDecoder,
    LabelMarks,
    flow_tag_attribute,
    format_cot_time,
    format_event,
    label_marks,
    render_event,
)
from trilat.core.clock import Clock, SystemClock
from trilat.core.errors import LabelError, TrilatError
from trilat.core.labels import Classification, Label, parse_label, roll_up

__all__ = [
    "ClientStatus",
    "ConnectionInfo",
    "CotServer",
    "CotStats",
    "Listener",
    "OutboundLink",
    "Viewer",
    "client_tls_context",
    "server_tls_context",
]

_log = logging.getLogger(__name__)

V = TypeVar("V")

_AUTH_CLOSE = b"</auth>"
_MAX_AUTH_BYTES = 16 * 1024
_STORE_SWEEP_SECONDS = 1.0
_LABEL_CACHE_SIZE = 256
_MAX_REACHABLE = 4096
_MAX_CLAIMS = 65_536  # callsigns and uids bound to authenticated identities
_SLICE_BYTES = 64 * 1024  # a large read is relayed in slices of this size
_CLOSE_GRACE = 1.0  # seconds a closing relay waits for connections to flush
_RELAYED_KEPT = 65_536  # relayed events remembered to drop a second copy
_MAX_LABELS = 4096  # distinct labels interned before the table is started again
_LOG_EVERY = 5.0  # seconds between two refusal warnings for one connection


@dataclass(frozen=True, slots=True)
class Viewer:
    """A person (or partner system) on the other end of a CoT connection."""

    name: str
    nation: str
    clearance: Classification


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """What is known about a new connection when it is authenticated."""

    listener: str
    peer: tuple[str, int]
    tls: bool = False
    certificate_subject: Mapping[str, str] = field(default_factory=dict)
    certificate_sha256: str | None = None
    username: str | None = None
    token: str | None = field(default=None, repr=False)
    outbound: bool = False


@dataclass(frozen=True, slots=True)
class Listener:
    """One listening socket and the label of the data its clients send.

    ``auth="message"`` makes every client send a TAK ``<auth>`` message first; its password
    reaches ``authenticate`` as ``ConnectionInfo.token``. With ``ssl`` set, clients connect with
    TLS and (if the context requires it) a client certificate.
    """

    host: str
    port: int
    label: Label
    name: str = "cot"
    ssl: ssl.SSLContext | None = None
    auth: Literal["none", "message"] = "none"
    auth_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class ClientStatus(Generic[V]):
    """One admitted connection as a status display sees it."""

    listener: str
    peer: tuple[str, int]
    viewer: V | None
    outbound: bool
    callsign: str | None
    uid: str | None
    dropped: int
    backlog_bytes: int


@dataclass(slots=True)
class CotStats:
    """Counters of one relay since it started."""

    connections: int = 0
    accepted: int = 0
    delivered: int = 0
    withheld: int = 0
    stale: int = 0
    pings: int = 0
    deletes: int = 0
    directed: int = 0
    dropped_slow: int = 0
    disconnected_slow: int = 0
    unauthenticated: int = 0
    bad_label: int = 0
    looped: int = 0
    duplicates: int = 0
    claim_refused: int = 0
    refused_full: int = 0
    idle_closed: int = 0
    sink_errors: int = 0
    garbage_bytes: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            name: getattr(self, name) for name in self.__slots__ if name != "rejected"
        }
        out["rejected"] = dict(self.rejected)
        return out


@dataclass(slots=True)
class _LabelEntry:
    number: int
    label: Label
    marks: LabelMarks


@dataclass(slots=True)
class _Stored:
    data: bytes
    entry: _LabelEntry
    stale_at: datetime
    origin: object | None  # the connection it came from, so it is not echoed back


class _Connection(asyncio.Protocol, Generic[V]):
    """One CoT socket, inbound or outbound."""

    def __init__(
        self,
        server: CotServer[V],
        *,
        listener: str,
        label: Label,
        auth: Literal["none", "message"] = "none",
        auth_timeout: float = 10.0,
        viewer: V | None = None,
        outbound: bool = False,
        tls: bool = False,
        on_lost: Callable[[], None] | None = None,
        greeting: bytes = b"",
    ) -> None:
        self.server = server
        self.greeting = greeting
        self.listener = listener
        self.outbound = outbound
        self.tls = tls
        self.auth = auth
        self.auth_timeout = auth_timeout
        self.viewer: V | None = viewer
        self.label_entry = server._intern(label)
        self.owner = label.owner
        self.decoder = CotStreamDecoder(server.limits)
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.admitted = False
        self.closed = False
        self.paused = False
        self.pending: list[bytes] = []
        self.backlog: deque[bytes] = deque()
        self.backlog_bytes = 0
        self.allowed: dict[int, bool] = {}
        self.label_cache: dict[str, _LabelEntry | None] = {}
        self.callsign: str | None = None
        # callsigns and uids whose SA came in on this connection: one for a client, many for
        # a link to another server; directed events go where their destination was seen
        self.reachable: set[str] = set()
        self.uid: str | None = None
        # set when the connection authenticated itself (TLS client certificate or <auth>):
        # the key its callsign and uid claims are bound to; None for a default viewer or link
        self.identity: object | None = None
        self.dropped = 0
        self.last_received = time.monotonic()
        self._auth_buffer = b""
        self._auth_timer: asyncio.TimerHandle | None = None
        self._seen_rejected = 0
        self._logged_at = -_LOG_EVERY
        self._claim_logged_at = -_LOG_EVERY
        self._on_lost = on_lost

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):  # pragma: no cover - streams only
            raise TypeError("CoT connections need a stream transport")
        self.transport = transport
        self.server._open.add(self)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = (str(peer[0]), int(peer[1]))
        transport.set_write_buffer_limits(high=self.server.transport_buffer_bytes)
        if self.server.socket_send_buffer is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.server.socket_send_buffer)
        if self.viewer is not None:  # an outbound link: the partner is configured
            if self.greeting:
                transport.write(self.greeting)
            self.server._admit(self)
        elif self.auth == "message":
            loop = asyncio.get_running_loop()
            self._auth_timer = loop.call_later(self.auth_timeout, self._auth_expired)
        else:
            self._authenticate(None, None)

    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        if self.admitted:
            self.server._ingest(self, data)
        elif not self.closed:
            self._read_auth(data)

    def eof_received(self) -> bool | None:
        return None

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.backlog and self.transport is not None and not self.closed:
            data = b"".join(self.backlog)
            self.backlog.clear()
            self.backlog_bytes = 0
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server._open.discard(self)
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self.server._remove(self)
        if self._on_lost is not None:
            self._on_lost()

    # -- authentication --------------------------------------------------------------------

    def _certificate(self) -> tuple[dict[str, str], str | None]:
        if self.transport is None:
            return {}, None
        subject: dict[str, str] = {}
        peercert = self.transport.get_extra_info("peercert")
        if isinstance(peercert, dict):
            for rdn in peercert.get("subject", ()):
                for key, value in rdn:
                    subject[str(key)] = str(value)
        fingerprint = None
        ssl_object = self.transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            if der:
                fingerprint = hashlib.sha256(der).hexdigest()
        return subject, fingerprint

    def _authenticate(self, username: str | None, token: str | None) -> None:
        subject, fingerprint = self._certificate()
        info = ConnectionInfo(
            listener=self.listener,
            peer=self.peer,
            tls=self.tls,
            certificate_subject=subject,
            certificate_sha256=fingerprint,
            username=username,
            token=token,
            outbound=self.outbound,
        )
        try:
            viewer = self.server.authenticate(info)
        except Exception:
            _log.exception("cot.authenticate_failed listener=%s peer=%s", self.listener, self.peer)
            viewer = None
        if viewer is None:
            self.server.stats.unauthenticated += 1
            _log.warning("cot.unauthenticated listener=%s peer=%s", self.listener, self.peer)
            self.close()
            return
        self.viewer = viewer
        if fingerprint is not None or token is not None:
            self.identity = _identity(viewer, fingerprint, username, token)
        self.server._admit(self)

    def _read_auth(self, data: bytes) -> None:
        buffer = self._auth_buffer + data
        end = buffer.find(_AUTH_CLOSE)
        if end < 0:
            if len(buffer) > _MAX_AUTH_BYTES or b"<event" in buffer:
                self._refuse_auth("no <auth> message before other data")
                return
            self._auth_buffer = buffer
            return
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        start = buffer.find(b"<auth")
        message, rest = buffer[start : end + len(_AUTH_CLOSE)], buffer[end + len(_AUTH_CLOSE) :]
        self._auth_buffer = b""
        if start < 0 or b"<event" in buffer[:start]:
            self._refuse_auth("no <auth> message before other data")
            return
        try:
            root = _defused_fromstring(message, forbid_dtd=True)
        except Exception:  # malformed or forbidden XML: refuse, whatever it was
            self._refuse_auth("malformed <auth> message")
            return
        cot = root.find("cot")
        if root.tag != "auth" or cot is None:
            self._refuse_auth("<auth> message without <cot>")
            return
        self._authenticate(cot.get("username"), cot.get("password"))
        if self.admitted and rest:
            self.server._ingest(self, rest)

    def _refuse_auth(self, reason: str) -> None:
        self.server.stats.unauthenticated += 1
        _log.warning(
            "cot.auth_refused listener=%s peer=%s reason=%s", self.listener, self.peer, reason
        )
        self.close()

    def _auth_expired(self) -> None:
        self._auth_timer = None
        if not self.admitted and not self.closed:
            self._refuse_auth("no <auth> message in time")

    # -- output ----------------------------------------------------------------------------

    def flush(self) -> None:
        data = self.pending
        self.pending = []
        if self.closed or self.transport is None:
            return
        if not self.paused:
            self.transport.write(b"".join(data) if len(data) > 1 else data[0])
            return
        backlog = self.backlog
        for item in data:
            backlog.append(item)
            self.backlog_bytes += len(item)
        limit = self.server.max_queue_bytes
        if self.backlog_bytes <= limit:
            return
        if self.server.slow_client == "disconnect":
            self.server.stats.disconnected_slow += 1
            _log.warning(
                "cot.slow_client_disconnected listener=%s peer=%s backlog=%d",
                self.listener,
                self.peer,
                self.backlog_bytes,
            )
            self.abort()
            return
        dropped = 0
        while self.backlog_bytes > limit and backlog:
            self.backlog_bytes -= len(backlog.popleft())
            dropped += 1
        self.dropped += dropped
        self.server.stats.dropped_slow += dropped

    def send_now(self, data: bytes) -> None:
        self.pending.append(data)
        self.flush()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self.closed = True
        self.backlog.clear()
        self.backlog_bytes = 0


class OutboundLink(Generic[V]):
    """A connection this relay keeps open to another TAK server, reconnecting with backoff."""

    def __init__(
        self,
        server: CotServer[V],
        host: str,
        port: int,
        *,
        label: Label,
        viewer: V,
        name: str,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None,
        reconnect: bool,
        max_backoff: float,
        greeting: bytes = b"",
    ) -> None:
        self.host, self.port, self.name = host, port, name
        self._greeting = greeting
        self._server = server
        self._label = label
        self._viewer = viewer
        self._ssl = ssl_context
        self._server_hostname = server_hostname
        self._reconnect = reconnect
        self._max_backoff = max_backoff
        self._lost = asyncio.Event()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.connection: _Connection[V] | None = None
        self.attempts = 0

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._lost.clear()

        def protocol() -> _Connection[V]:
            self.connection = _Connection(
                self._server,
                listener=self.name,
                label=self._label,
                viewer=self._viewer,
                outbound=True,
                tls=self._ssl is not None,
                on_lost=self._lost.set,
                greeting=self._greeting,
            )
            return self.connection

        await loop.create_connection(
            protocol,
            self.host,
            self.port,
            ssl=self._ssl,
            server_hostname=self._server_hostname if self._ssl is not None else None,
        )

    async def run_first(self) -> None:
        """Connect once (raising on failure), then keep the link up in the background."""
        self.attempts += 1
        await self._open()
        self._connected.set()
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def _supervise(self) -> None:
        backoff = 0.25
        while not self._stopping:
            await self._lost.wait()
            self._connected.clear()
            if self._stopping or not self._reconnect:
                return
            while not self._stopping:
                await asyncio.sleep(backoff)
                self.attempts += 1
                try:
                    await self._open()
                except (OSError, ssl.SSLError) as exc:
                    _log.warning("cot.link_retry link=%s error=%s", self.name, type(exc).__name__)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                backoff = 0.25
                self._connected.set()
                _log.info("cot.link_up link=%s peer=%s:%d", self.name, self.host, self.port)
                break

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def close(self) -> None:
        self._stopping = True
        self._lost.set()
        if self.connection is not None:
            self.connection.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class CotServer(Generic[V]):
    """The relay; see the module docstring for its seams and guarantees."""

    def __init__(
        self,
        *,
        authenticate: Callable[[ConnectionInfo], V | None],
        may_deliver: Callable[[Label, V], bool],
        sink: Callable[[CotEvent, V], None] | None = None,
        clock: Clock | None = None,
        limits: CotLimits | None = None,
        max_queue_bytes: int = 16 * 1024 * 1024,
        transport_buffer_bytes: int = 1024 * 1024,
        slow_client: Literal["drop-oldest", "disconnect"] = "drop-oldest",
        max_stored: int = 10_000,
        decision_ttl: float = 5.0,
        socket_send_buffer: int | None = None,
        relay_name: str | None = None,
        max_connections: int = 1000,
        idle_timeout: float | None = None,
    ) -> None:
        if slow_client not in ("drop-oldest", "disconnect"):
            raise ValueError(f"unknown slow-client policy {slow_client!r}")
        self.authenticate = authenticate
        self.may_deliver = may_deliver
        self.sink = sink
        self.clock: Clock = clock or SystemClock()
        self.limits = limits or CotLimits()
        self.max_queue_bytes = max_queue_bytes
        self.transport_buffer_bytes = transport_buffer_bytes
        self.slow_client = slow_client
        self.max_stored = max_stored
        self.decision_ttl = decision_ttl
        self.socket_send_buffer = socket_send_buffer
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.relay_name = relay_name or f"trilat-{secrets.token_hex(4)}"
        flow_tag_attribute(self.relay_name, datetime.now(UTC))  # refuses a bad name early
        self._flow_head = f" {self.relay_name}=".encode()
        self.stats = CotStats()
        self._connections: list[_Connection[V]] = []
        self._labels: dict[Label, _LabelEntry] = {}
        self._label_numbers = 0
        self._stored: dict[str, _Stored] = {}
        self._servers: list[asyncio.Server] = []
        self._links: list[OutboundLink[V]] = []
        self._housekeeping: asyncio.Task[None] | None = None
        self._closed_rejected: Counter[str] = Counter()
        self._closed_garbage = 0
        self._claims: dict[str, object] = {}
        self._relayed: dict[tuple[str, str, datetime], None] = {}  # recent relayed events
        self._open: set[_Connection[V]] = set()  # every connection not yet lost

    # -- lifecycle -------------------------------------------------------------------------

    async def listen(self, listener: Listener) -> tuple[str, int]:
        """Open *listener*; returns the bound address (port 0 picks a free port)."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _Connection(
                self,
                listener=listener.name,
                label=listener.label,
                auth=listener.auth,
                auth_timeout=listener.auth_timeout,
                tls=listener.ssl is not None,
            ),
            listener.host,
            listener.port,
            ssl=listener.ssl,
            reuse_address=True,
        )
        self._servers.append(server)
        self._start_housekeeping()
        address = server.sockets[0].getsockname()
        _log.info(
            "cot.listening listener=%s address=%s:%d tls=%s",
            listener.name,
            address[0],
            address[1],
            listener.ssl is not None,
        )
        return str(address[0]), int(address[1])

    async def connect(
        self,
        host: str,
        port: int,
        *,
        label: Label,
        viewer: V,
        name: str = "link",
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        reconnect: bool = True,
        max_backoff: float = 30.0,
        username: str | None = None,
        token: str | None = None,
    ) -> OutboundLink[V]:
        """Client mode: open a link to another TAK server and relay both ways through it.

        *viewer* stands for everyone behind that server (what may be written to it is decided
        as for any connection); *label* is the label of what it sends. The first connection
        attempt raises on failure; later drops are retried with exponential backoff. With
        *token*, every connection opens with a TAK ``<auth>`` message carrying *username* and
        the token as its password.
        """
        greeting = b""
        if token is not None:
            greeting = (
                f"<auth><cot username={quoteattr(username or name)} "
                f"password={quoteattr(token)} uid={quoteattr(self.relay_name)}/></auth>"
            ).encode()
        link = OutboundLink(
            self,
            host,
            port,
            label=label,
            viewer=viewer,
            name=name,
            ssl_context=ssl_context,
            server_hostname=server_hostname,
            reconnect=reconnect,
            max_backoff=max_backoff,
            greeting=greeting,
        )
        await link.run_first()
        self._links.append(link)
        self._start_housekeeping()
        return link

    async def close(self) -> None:
        """Stop listening, close every link and connection."""
        for link in self._links:
            await link.close()
        self._links.clear()
        for server in self._servers:
            server.close()
        for connection in list(self._open):  # admitted or still authenticating
            connection.close()
        # a connection closes once its queued output is written: give slow readers a moment,
        # then drop what they have not taken, so that no socket outlives the relay
        deadline = time.monotonic() + _CLOSE_GRACE
        while self._open and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self._open):
            connection.abort()
        for _ in range(3):  # the transports close their sockets on the next loop iterations
            if not self._open:
                break
            await asyncio.sleep(0)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None

    def _start_housekeeping(self) -> None:
        if self._housekeeping is None:
            self._housekeeping = asyncio.get_running_loop().create_task(self._housekeep())

    async def _housekeep(self) -> None:
        last_flush = time.monotonic()
        while True:
            await asyncio.sleep(_STORE_SWEEP_SECONDS)
            self.expire_stored()
            if self.idle_timeout is not None:
                self._close_idle(time.monotonic() - self.idle_timeout)
            if time.monotonic() - last_flush >= self.decision_ttl:
                self.invalidate_decisions()
                last_flush = time.monotonic()

    # -- public operations -----------------------------------------------------------------

    @property
    def clients(self) -> list[ClientStatus[V]]:
        """The admitted connections, for status displays and tests."""
        return [
            ClientStatus(
                listener=c.listener,
                peer=c.peer,
                viewer=c.viewer,
                outbound=c.outbound,
                callsign=c.callsign,
                uid=c.uid,
                dropped=c.dropped,
                backlog_bytes=c.backlog_bytes,
            )
            for c in self._connections
        ]

    def invalidate_decisions(self) -> None:
        """Forget cached delivery decisions (call when users, clearances or agreements change)."""
        for connection in self._connections:
            connection.allowed.clear()

    def expire_stored(self) -> int:
        """Drop stored events whose stale time has passed; returns how many."""
        now = self.clock.now()
        expired = [uid for uid, stored in self._stored.items() if stored.stale_at <= now]
        for uid in expired:
            del self._stored[uid]
        return len(expired)

    @property
    def stored_uids(self) -> list[str]:
        return list(self._stored)

    def publish(self, event: CotEvent, label: Label) -> int:
        """Send a locally originated event to every connection allowed to see *label*.

        Returns the number of connections written to. The event is stored for late joiners
        like any other (unless directed or already stale).
        """
        if event.stale <= self.clock.now():
            self.stats.stale += 1
            return 0
        entry = self._intern(label)
        event.label = entry.label
        flow = self._flow_tag(self.clock.now())
        return self._fan_out(None, event, entry, render_event(event, entry.marks, flow))

    def snapshot_stats(self) -> CotStats:
        """Counters, with the parse refusals of live connections included."""
        stats = CotStats(**{name: getattr(self.stats, name) for name in CotStats.__slots__})
        stats.rejected = Counter(self._closed_rejected)
        stats.garbage_bytes = self._closed_garbage
        for connection in self._connections:
            stats.rejected.update(connection.decoder.rejected)
            stats.garbage_bytes += connection.decoder.garbage_bytes
        stats.connections = len(self._connections)
        return stats

    # -- internals -------------------------------------------------------------------------

    def _flow_tag(self, now: datetime) -> bytes:
        """This relay's ``_flow-tags_`` attribute for *now* (the name was checked once)."""
        return self._flow_head + b'"' + format_cot_time(now).encode() + b'"'

    def _intern(self, label: Label) -> _LabelEntry:
        """One entry per distinct label. Numbers are never reused: cached decisions are keyed
        by them, and an entry may outlive the table (stored events and connections keep it)."""
        entry = self._labels.get(label)
        if entry is None:
            if len(self._labels) >= _MAX_LABELS:  # many distinct marks: start the table afresh
                self._labels.clear()
                for connection in self._connections:
                    connection.label_cache.clear()
            self._label_numbers += 1
            entry = _LabelEntry(self._label_numbers, label, label_marks(label))
            self._labels[label] = entry
        return entry

    def _event_label(self, connection: _Connection[V], text: str) -> _LabelEntry | None:
        cache = connection.label_cache
        if text in cache:
            return cache[text]
        try:
            claimed = parse_label(text, owner=connection.owner)
            entry: _LabelEntry | None = self._intern(
                roll_up([connection.label_entry.label, claimed])
            )
        except LabelError as exc:
            _log.warning(
                "cot.bad_label listener=%s peer=%s reason=%s",
                connection.listener,
                connection.peer,
                exc.reason,
            )
            entry = None
        if len(cache) >= _LABEL_CACHE_SIZE:
            cache.clear()
        cache[text] = entry
        return entry

    def _close_idle(self, silent_since: float) -> None:
        """Close client connections that sent nothing (not even a ping) since *silent_since*."""
        for connection in list(self._connections):
            if not connection.outbound and connection.last_received < silent_since:
                self.stats.idle_closed += 1
                _log.info(
                    "cot.idle_closed listener=%s peer=%s", connection.listener, connection.peer
                )
                connection.close()

    def _learn(self, connection: _Connection[V], callsign: str, uid: str) -> None:
        """Remember that *callsign* (and *uid*) is reached through *connection*, and only it."""
        for other in self._connections:
            if other is not connection and callsign in other.reachable:
                other.reachable.discard(callsign)
                other.reachable.discard(uid)
        if len(connection.reachable) >= _MAX_REACHABLE:
            connection.reachable.clear()
        connection.reachable.add(callsign)
        connection.reachable.add(uid)

    def _claim(self, connection: _Connection[V], callsign: str, uid: str) -> bool:
        """Whether *connection* may be reached as *callsign* and *uid*; binds them on first claim.

        A callsign or uid first claimed by an authenticated identity stays bound to it: another
        authenticated identity, a default-viewer client or a link claiming it is refused (its
        event is dropped and counted), so directed traffic cannot be diverted by a spoofed SA.
        """
        claims = self._claims
        identity = connection.identity
        callsign_owner = claims.get(callsign)
        uid_owner = claims.get(uid)
        if (callsign_owner is not None and callsign_owner != identity) or (
            uid_owner is not None and uid_owner != identity
        ):
            self.stats.claim_refused += 1
            now = time.monotonic()
            if now - connection._claim_logged_at >= _LOG_EVERY:
                connection._claim_logged_at = now
                _log.warning(
                    "cot.claim_refused listener=%s peer=%s callsign=%s",
                    connection.listener,
                    connection.peer,
                    callsign,
                )
            return False
        if identity is not None and (callsign_owner is None or uid_owner is None):
            if len(claims) >= _MAX_CLAIMS:  # the longest-held bindings make room
                for key in list(claims)[: _MAX_CLAIMS // 16]:
                    del claims[key]
            claims[callsign] = identity
            claims[uid] = identity
        return True

    def _decide(self, connection: _Connection[V], entry: _LabelEntry) -> bool:
        viewer = connection.viewer
        if viewer is None:
            return False
        try:
            allowed = self.may_deliver(entry.label, viewer) is True
        except TrilatError as exc:
            _log.warning("cot.decision_failed listener=%s error=%s", connection.listener, exc)
            allowed = False
        except Exception:
            _log.exception("cot.decision_failed listener=%s", connection.listener)
            allowed = False
        if len(connection.allowed) >= _MAX_LABELS:
            connection.allowed.clear()
        connection.allowed[entry.number] = allowed
        return allowed

    def _admit(self, connection: _Connection[V]) -> None:
        if len(self._connections) >= self.max_connections and not connection.outbound:
            self.stats.refused_full += 1
            _log.warning("cot.full listener=%s peer=%s", connection.listener, connection.peer)
            connection.close()
            return
        connection.admitted = True
        self._connections.append(connection)
        self.stats.connections = len(self._connections)
        _log.info(
            "cot.connected listener=%s peer=%s outbound=%s",
            connection.listener,
            connection.peer,
            connection.outbound,
        )
        now = self.clock.now()
        for stored in self._stored.values():
            if stored.stale_at <= now or stored.origin is connection:
                continue
            allowed = connection.allowed.get(stored.entry.number)
            if allowed is None:
                allowed = self._decide(connection, stored.entry)
            if allowed:
                connection.pending.append(stored.data)
        if connection.pending:
            connection.flush()

    def _remove(self, connection: _Connection[V]) -> None:
        if connection in self._connections:
            self._connections.remove(connection)
        self._closed_rejected.update(connection.decoder.rejected)
        self._closed_garbage += connection.decoder.garbage_bytes
        self.stats.connections = len(self._connections)
        for stored in self._stored.values():
            if stored.origin is connection:
                stored.origin = None
        if connection.admitted:
            _log.info(
                "cot.disconnected listener=%s peer=%s dropped=%d",
                connection.listener,
                connection.peer,
                connection.dropped,
            )

    def _note_refusals(self, connection: _Connection[V]) -> None:
        decoder = connection.decoder
        total = decoder.rejected.total()
        now = time.monotonic()
        if total != connection._seen_rejected and now - connection._logged_at >= _LOG_EVERY:
            connection._seen_rejected = total
            connection._logged_at = now  # a flood of garbage is logged every few seconds
            _log.warning(
                "cot.refused listener=%s peer=%s total=%d last=%s",
                connection.listener,
                connection.peer,
                total,
                decoder.last_error,
            )

    def _ingest(self, source: _Connection[V], data: bytes) -> None:
        """Relay what one read brought, a slice at a time: the first events are on their way
        to the recipients while the rest of a large read is still being parsed."""
        if len(data) <= _SLICE_BYTES:
            self._relay(source, data)
            return
        for offset in range(0, len(data), _SLICE_BYTES):
            self._relay(source, data[offset : offset + _SLICE_BYTES])

    def _relay(self, source: _Connection[V], data: bytes) -> None:
        events = source.decoder.feed(data)
        if source.decoder.rejected:
            self._note_refusals(source)
        if not events:
            return
        now = self.clock.now()
        flow = self._flow_tag(now)
        relay_name = self.relay_name
        accepted: list[CotEvent] = []
        connections = self._connections
        stored = self._stored
        stale = delivered = withheld = 0
        for event in events:
            if event.stale <= now:
                stale += 1
                continue
            if event.flow_tags:  # it has been through other relays
                if relay_name in event.flow_tags:
                    self.stats.looped += 1  # and through this one already
                    continue
                if self._seen_relayed(event):
                    self.stats.duplicates += 1
                    continue
            cot_type = event.type
            if cot_type == PING_TYPE:
                self.stats.pings += 1
                source.pending.append(_pong(now))
                continue
            text = event.trilat_label
            if text is None:
                entry = source.label_entry
            else:
                found = self._event_label(source, text)
                if found is None:
                    self.stats.bad_label += 1
                    continue
                entry = found
            event.label = entry.label
            if event.callsign is not None and cot_type.startswith("a-"):
                if event.callsign not in source.reachable:
                    if not self._claim(source, event.callsign, event.uid):
                        continue
                    self._learn(source, event.callsign, event.uid)
                source.callsign = event.callsign
                source.uid = event.uid
            data = render_event(event, entry.marks, flow)
            accepted.append(event)
            if event.dest_callsigns or event.dest_uids:  # directed
                self._fan_out(source, event, entry, data, flush=False)
                continue
            # broadcast, inlined: this loop is the relay's hot path
            known = stored.get(event.uid)
            if known is not None and cot_type[0] == "a":  # an SA or position update, in place
                known.data = data
                known.entry = entry
                known.stale_at = event.stale
                known.origin = source
            else:
                self._store(source, event, entry, data)
            number = entry.number
            for connection in connections:
                if connection is source:
                    continue
                allowed = connection.allowed.get(number)
                if allowed is None:
                    allowed = self._decide(connection, entry)
                if allowed:
                    connection.pending.append(data)
                    delivered += 1
                else:
                    withheld += 1
        stats = self.stats
        stats.stale += stale
        stats.accepted += len(accepted)
        stats.delivered += delivered
        stats.withheld += withheld
        for connection in connections:
            if connection.pending:
                connection.flush()
        sink = self.sink
        viewer = source.viewer
        if sink is not None and viewer is not None:
            for event in accepted:
                try:
                    sink(event, viewer)
                except Exception:
                    self.stats.sink_errors += 1
                    _log.exception("cot.sink_failed uid=%s", event.uid)

    def _seen_relayed(self, event: CotEvent) -> bool:
        """Whether this relayed event already came in (by another path); remembers it."""
        key = (event.uid, event.type, event.time)
        relayed = self._relayed
        if key in relayed:
            return True
        if len(relayed) >= _RELAYED_KEPT:
            del relayed[next(iter(relayed))]
        relayed[key] = None
        return False

    def _fan_out(
        self,
        source: _Connection[V] | None,
        event: CotEvent,
        entry: _LabelEntry,
        data: bytes,
        *,
        flush: bool = True,
    ) -> int:
        number = entry.number
        delivered = withheld = 0
        if event.directed:
            self.stats.directed += 1
            wanted = set(event.dest_callsigns) | set(event.dest_uids)
            targets: Iterable[_Connection[V]] = [
                c for c in self._connections if not wanted.isdisjoint(c.reachable)
            ]
        else:
            targets = self._connections
            self._store(source, event, entry, data)
        for connection in targets:
            if connection is source:
                continue
            allowed = connection.allowed.get(number)
            if allowed is None:
                allowed = self._decide(connection, entry)
            if allowed:
                connection.pending.append(data)
                delivered += 1
            else:
                withheld += 1
        self.stats.delivered += delivered
        self.stats.withheld += withheld
        if flush:
            for connection in self._connections:
                if connection.pending:
                    connection.flush()
        return delivered

    def _store(
        self, source: _Connection[V] | None, event: CotEvent, entry: _LabelEntry, data: bytes
    ) -> None:
        cot_type = event.type
        stored = self._stored
        if cot_type == DELETE_TYPE:
            self.stats.deletes += 1
            for uid in event.link_uids:
                stored.pop(uid, None)
            return
        if cot_type.startswith("t-"):
            return
        uid = event.uid
        known = stored.get(uid)
        if known is not None:  # an update (SA keep-alive, new position): rewrite in place
            known.data = data
            known.entry = entry
            known.stale_at = event.stale
            known.origin = source
            return
        if len(stored) >= self.max_stored:
            del stored[next(iter(stored))]  # the longest-known uid makes room
        stored[uid] = _Stored(data, entry, event.stale, source)


def _identity(
    viewer: object, fingerprint: str | None, username: str | None, token: str | None
) -> object:
    """The key an authenticated connection's claims are bound to: its viewer (one per user, as
    ``authenticate`` returns it) when hashable, otherwise what authenticated it."""
    try:
        hash(viewer)
    except TypeError:
        if fingerprint is not None:
            return ("certificate", fingerprint)
        digest = hashlib.sha256((token or "").encode()).hexdigest()
        return ("token", username or "", digest)
    return viewer


_PONG_LABEL = Label(Classification.UNCLASSIFIED)


def _pong(now: datetime) -> bytes:
    """The answer to a client's ``t-x-c-t`` ping: content-free, marked UNCLASSIFIED."""
    return format_event(
        uid="takPong",
        type=PONG_TYPE,
        time=now,
        stale=now + timedelta(seconds=20),
        how="h-g-i-g-o",
        label=_PONG_LABEL,
    )


def server_tls_context(
    certificate: str, key: str, client_ca: str | None, *, require_client_certificate: bool = True
) -> ssl.SSLContext:
    """A TLS 1.2+ server context; with *client_ca*, clients must present a certificate it signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, key)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_certificate else ssl.CERT_OPTIONAL
    return context


def client_tls_context(
    ca: str, certificate: str | None = None, key: str | None = None
) -> ssl.SSLContext:
    """A TLS 1.2+ client context that verifies the server against *ca* (hostname checked)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=ca)
    if certificate is not None:
        context.load_cert_chain(certificate, key)
    return context
