"""Replication between nodes: per-peer outbox loops, the receiver's checks, relay, cosigning.

Sender: one thread per linked peer walks the item sequence from that peer's durable cursor.
Each item is offered only when ``Policy.decide(item, holder=this nation, destination=the
peer's nation, at=now, consents)`` allows it; every decision, allow or deny, becomes an
audit leaf. Items denied for want of consent wait in the pending table and are decided
again whenever a consent arrives. A batch is pushed in one signed request; the cursor, the
delivered ids, the pending rows and the leaves are committed together only after the
receiver acknowledged it (commit before ack on the other side); one batch is decided while the
previous one is on the wire, and they commit in order. A crash on either side
resends at most two batches, which the receiver recognises and does not store twice.

Receiver: authenticates the request (``auth.check_request``), checks each envelope's
originator signature with the originator's pinned key (the relay keeps it end to end),
re-runs ``decide`` for (holder = sender's nation, destination = this nation) with the
consents it knows plus the signed consent items the relay attached as evidence, and stores
what passes with its relay path, refusing and auditing the rest.

Recall: a recall item follows every copy of its target: it goes to each peer the target
was delivered to, whatever the current decision would be, and tombstones the copy there.

Cosigning: each link periodically fetches the peer's signed checkpoint with a consistency
proof from the last one seen, verifies both, cosigns and keeps it; a fork or a rewritten
log is recorded as an alert (``status()``) and logged.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from trilat.core import _crypto, audit
from trilat.core.agreements import parse_classification
from trilat.core.canonical import canonical_json
from trilat.core.clock import Clock, SystemClock, format_time
from trilat.core.errors import (
    AuditError,
    DecodeError,
    LabelError,
    PeerError,
    PolicyError,
    SignatureError,
    StoreError,
    TrilatError,
)
from trilat.core.items import Envelope, envelope_from_document, signing_bytes, verify
from trilat.core.labels import format_banner, parse_label
from trilat.core.policy import Consent, Decision, Policy, Releasable, Subject
from trilat.federation.auth import (
    MAX_SKEW,
    RequestRefused,
    SenderKey,
    check_request,
    sign_request,
)
from trilat.federation.cards import NodeCard, key_id_of, make_card, pinned_tls
from trilat.federation.transport import HttpTransport, Outbound, TlsRefused, Transport
from trilat.store import AuditEntry, ItemFilter, Store, StoredItem
from trilat.store.auditlog import audit_entry, from_stored_subtrees, root_at
from trilat.store.federation import (
    Alert,
    FederationTables,
    PeerCheckpoint,
    PeerRow,
    Pending,
    Received,
)
from trilat.store.records import document_text, item_row

_log = logging.getLogger(__name__)

API: Final = "/api/v1/federation"
MAX_PATH: Final = 8  # hops an item may have travelled
MAX_EVIDENCE: Final = 32  # consent items attached to one relayed item


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of the replication protocol (sender and receiver side)."""

    batch_items: int = 500  # items per push request
    batch_bytes: int = 768 * 1024  # body bytes per push request (under the API body limit)
    timeout: float = 10.0  # seconds per request to a peer
    idle_poll: float = 0.05  # seconds between looks at the store when nothing woke a link
    retry_max: float = 2.0  # longest back-off after a failure
    checkpoint_interval: float = 10.0  # seconds between checkpoint fetches per peer
    peer_refresh: float = 1.0  # seconds between looks at the pinned peers
    read_timeout: float = 10.0  # seconds the receiver waits for a request body


@dataclass
class LinkStatus:
    """What one outbound link has done; shown by ``status()``."""

    pushed: int = 0
    refused: int = 0
    denied: int = 0
    last_ok: str | None = None
    last_error: str | None = None
    checkpoint_size: int | None = None
    checkpoint_seen: str | None = None
    cosignature_returned: int | None = None  # size of its checkpoint we last cosigned for it
    tls_refused: int = 0  # requests not sent: TLS pin mismatch, missing pin, plain http


@dataclass
class _Consents:
    """Consents the node knows: from its own consent items and from relay evidence."""

    items: dict[str, tuple[Consent, str]] = field(default_factory=dict)  # id → (consent, doc)
    by_item: dict[str, tuple[tuple[Consent, str, str], ...]] = field(default_factory=dict)
    standing: tuple[tuple[Consent, str, str], ...] = ()
    cursor: int = 0
    generation: int = 0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def consent_of(envelope: Envelope) -> Consent | None:
    """The policy ``Consent`` a signed consent item grants (None if it grants nothing)."""
    if envelope.kind != "consent":
        return None
    body = envelope.body
    try:
        ceiling = body.get("ceiling")
        destinations = body.get("to")
        if not isinstance(destinations, list | tuple):
            return None
        return Consent(
            originator=envelope.originator.nation,
            destinations=frozenset(str(d) for d in destinations),
            item_id=body.get("item"),
            topic=body.get("topic"),
            ceiling=parse_classification(ceiling) if isinstance(ceiling, str) else None,
            kind=body.get("kind", "consent"),
        )
    except (PolicyError, ValueError, TypeError):
        return None


def _summary(decision: Decision) -> str:
    reason = decision.reasons[0] if decision.reasons else decision.rule
    return f"{decision.decision}: {reason}"[:300]


_Verdict = tuple[str, tuple[str, str, str, str, str]]
"""(item id, (decision summary, rule, agreement, route, label)) of one release decision."""

_Answer = tuple[list[str], list[dict[str, str]]]
"""A push's answer: acknowledged ids and refusals."""


@dataclass
class _Batch:
    """One decided batch of a link: last cursor, decision time, wire entries, verdicts."""

    last: int
    now: datetime
    entries: list[bytes] = field(default_factory=list)
    verdicts: list[_Verdict] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    offered: set[str] = field(default_factory=set)


StoredHook = Callable[[int, Envelope, str], None]
"""Called after an arrival committed: its cursor, envelope and document text."""


class Federation:
    """One node's side of federation: links to pinned peers and the receiving end."""

    def __init__(
        self,
        *,
        store: Store,
        policy: Policy,
        nation: str,
        node_id: str,
        private_key: bytes,
        clock: Clock | None = None,
        wall: Clock | None = None,
        transport_factory: Callable[[], Transport] | None = None,
        limits: Limits | None = None,
        checkpoint_text: Callable[[], str] | None = None,
        on_stored: StoredHook | None = None,
        write_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.store = store
        self.tables = FederationTables(store)
        self.policy = policy
        self.nation = nation
        self.node_id = node_id
        self._private_key = private_key
        self.public_key = _crypto.public_key_of(private_key)
        self.key_id = key_id_of(self.public_key)
        self.clock: Clock = clock or SystemClock()
        self.wall: Clock = wall or SystemClock()
        self.transport_factory = transport_factory  # None: HttpTransport per peer card
        self.outbound = Outbound()  # rules for peers without a TLS pin (set by `serve`)
        self.tls_sha256: str | None = None  # this node's TLS pin, when it serves https
        self.limits = limits or Limits()
        self.checkpoint_text = checkpoint_text
        self.on_stored = on_stored
        self._write_lock: AbstractContextManager[Any] = write_lock or nullcontext()
        self._consents = _Consents()
        self._consent_lock = threading.Lock()
        self._keys: dict[str, tuple[SenderKey, str]] = {}  # node → (key, nation)
        self._keys_at = 0.0
        self._stop = threading.Event()
        self._wakes: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._status: dict[str, LinkStatus] = {}
        self._supervisor: threading.Thread | None = None
        self._refresh_consents()

    # ----- identity ---------------------------------------------------------------------
    def card(self, url: str) -> NodeCard:
        return make_card(
            nation=self.nation,
            node=self.node_id,
            url=url,
            private_key=self._private_key,
            issued=self.wall.now(),
            tls_sha256=self.tls_sha256 if url.startswith("https://") else None,
        )

    def _transport(self, peer: PeerRow) -> Transport:
        """A transport to *peer*: TLS pinned by its card, under the node's outbound rules."""
        if self.transport_factory is not None:
            return self.transport_factory()
        return HttpTransport(pin=pinned_tls(peer.card), outbound=self.outbound)

    def _peer_keys(self) -> dict[str, tuple[SenderKey, str]]:
        now = time.monotonic()
        if now - self._keys_at > self.limits.peer_refresh or not self._keys:
            keys = {
                self.node_id: (SenderKey(self.node_id, self.key_id, self.public_key), self.nation)
            }
            for peer in self.tables.peers():
                try:
                    public = base64.b64decode(peer.public_key)
                except ValueError:
                    continue
                keys[peer.node_id] = (SenderKey(peer.node_id, peer.key_id, public), peer.nation)
            self._keys, self._keys_at = keys, now
        return self._keys

    def forget_keys(self) -> None:
        """Re-read the pinned peers on next use (after ``trilat peer add``)."""
        self._keys_at = 0.0

    # ----- consents ---------------------------------------------------------------------
    def _refresh_consents(self) -> None:
        with self._consent_lock:
            state = self._consents
            added = False
            if state.cursor == 0:
                for document in self.tables.evidence():
                    added |= self._remember_consent(state, document)
            while True:
                batch = self.store.read_after(state.cursor, 1000, ItemFilter(kind="consent"))
                for stored in batch:
                    state.cursor = stored.seq
                    if stored.document is not None:
                        added |= self._remember_consent(state, stored.document)
                if len(batch) < 1000:
                    break
            if added:
                state.generation += 1

    @staticmethod
    def _remember_consent(state: _Consents, document: str) -> bool:
        try:
            envelope = envelope_from_document(json.loads(document))
        except (DecodeError, LabelError, ValueError):
            return False
        consent = consent_of(envelope)
        if consent is None or envelope.id in state.items:
            return False
        state.items[envelope.id] = (consent, document)
        known = (consent, envelope.id, document)
        if consent.item_id is None:
            state.standing = (*state.standing, known)
        else:
            state.by_item[consent.item_id] = (*state.by_item.get(consent.item_id, ()), known)
        return True

    def consents_for(self, envelope: Releasable, holder: str) -> list[tuple[Consent, str, str]]:
        """(consent, consent item id, its document) that may bear on *envelope* at *holder*."""
        owner = envelope.label.owner
        state = self._consents
        return [
            known
            for known in (*state.by_item.get(envelope.id or "", ()), *state.standing)
            if known[0].originator == owner
            or (known[0].kind == "disclosure" and known[0].originator == holder)
        ]

    # ----- decisions --------------------------------------------------------------------
    def decide(
        self,
        envelope: Releasable,
        holder: str,
        destination: str,
        at: datetime,
        extra: Iterable[Consent] = (),
    ) -> tuple[Decision, list[tuple[Consent, str, str]]]:
        known = self.consents_for(envelope, holder)
        consents = [c for c, _, _ in known]
        consents.extend(extra)
        return self.policy.decide(envelope, holder, destination, at, consents), known

    # ----- running ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the outbound links (one thread per linked peer) and their supervisor."""
        if self._supervisor is not None:
            return
        self._stop.clear()
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"federation-{self.node_id}", daemon=True
        )
        self._supervisor.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every link and wait for it (bounded by *timeout* seconds in all)."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + timeout
        threads = list(self._threads.values())
        if self._supervisor is not None:
            threads.append(self._supervisor)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        self._supervisor = None

    def wake(self) -> None:
        """Tell the links that something new may be ready to send."""
        for event in list(self._wakes.values()):
            event.set()

    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                for peer in self.tables.peers():
                    if peer.link and peer.node_id not in self._threads:
                        thread = threading.Thread(
                            target=self._run_link,
                            args=(peer.node_id,),
                            name=f"federation-{self.node_id}-{peer.node_id}",
                            daemon=True,
                        )
                        self._threads[peer.node_id] = thread
                        self._status.setdefault(peer.node_id, LinkStatus())
                        thread.start()
            except StoreError as exc:
                _log.warning("federation.peers_unreadable error=%s", exc)
            self._stop.wait(self.limits.peer_refresh)

    def _peer(self, node_id: str) -> PeerRow | None:
        for peer in self.tables.peers():
            if peer.node_id == node_id:
                return peer
        return None

    def _run_link(self, node_id: str) -> None:
        transport: Transport | None = None
        transport_card = ""  # the pinned card the transport was made for
        status = self._status[node_id]
        wake = self._wakes.setdefault(node_id, threading.Event())
        backoff = 0.05
        pending_generation = -1
        next_checkpoint = 0.0
        next_peer_check = 0.0
        peer: PeerRow | None = None
        cursor: int | None = None
        prepared: int | None = None  # batches up to here are decided (>= the durable cursor)
        inflight: tuple[Future[_Answer], _Batch] | None = None
        pusher = ThreadPoolExecutor(1, thread_name_prefix=f"push-{self.node_id}-{node_id}")
        try:
            while not self._stop.is_set():
                try:
                    if peer is None or time.monotonic() >= next_peer_check:
                        peer = self._peer(node_id)
                        next_peer_check = time.monotonic() + self.limits.peer_refresh
                        if peer is None or not peer.link:
                            return
                    if transport is None or (transport_card != peer.card and inflight is None):
                        if transport is not None:  # a new card may pin a new TLS key
                            transport.close()
                        transport, transport_card = self._transport(peer), peer.card
                    if cursor is None:
                        cursor = self.tables.cursor(node_id)
                    worked = False
                    head = self.store.head()
                    if head > cursor:
                        self._refresh_consents()
                    if self._consents.generation != pending_generation:
                        pending_generation = self._consents.generation
                        self._drain_pending(peer, transport, status)
                    if prepared is None:
                        prepared = cursor
                    if head > prepared:
                        # Decide batch k+1 while batch k is on the wire; commit in order.
                        batch = self._prepare(
                            peer, status, prepared, inflight[1].offered if inflight else set()
                        )
                        if inflight is not None:
                            cursor = self._finish(peer, status, inflight[1], inflight[0].result())
                            inflight = None
                        if batch is not None:
                            future: Future[_Answer] = Future()
                            if batch.entries:
                                future = pusher.submit(self._push, peer, transport, batch.entries)
                            else:
                                future.set_result(([], []))
                            inflight, prepared = (future, batch), batch.last
                        worked = True
                    elif inflight is not None:
                        cursor = self._finish(peer, status, inflight[1], inflight[0].result())
                        inflight = None
                        worked = True
                    if self.checkpoint_text is not None and time.monotonic() >= next_checkpoint:
                        next_checkpoint = time.monotonic() + self.limits.checkpoint_interval
                        self._witness(peer, transport, status)
                    status.last_ok = format_time(self.wall.now())
                    backoff = 0.05
                    if not worked:
                        wake.wait(self.limits.idle_poll)
                        wake.clear()
                except (PeerError, StoreError) as exc:
                    # re-read the durable cursor: the batch may not have committed
                    cursor, prepared, inflight = None, None, None
                    status.last_error = f"{format_time(self.wall.now())} {exc}"[:300]
                    if isinstance(exc, TlsRefused):
                        status.tls_refused += 1
                        _log.error("federation.tls_refused peer=%s error=%s", node_id, exc)
                    else:
                        _log.warning("federation.link_failed peer=%s error=%s", node_id, exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self.limits.retry_max)
        finally:
            pusher.shutdown(wait=False, cancel_futures=True)
            if transport is not None:
                transport.close()

    # ----- sending ----------------------------------------------------------------------
    def _post(self, peer: PeerRow, transport: Transport, path: str, payload: bytes) -> Any:
        headers = sign_request(
            method="POST",
            target=path,
            body=payload,
            sender=self.node_id,
            receiver=peer.node_id,
            private_key=self._private_key,
            key_id=self.key_id,
            timestamp=int(self.wall.now().timestamp()),
        )
        headers["content-type"] = "application/json"
        response = transport.request(
            "POST", peer.url + path, headers=headers, body=payload, timeout=self.limits.timeout
        )
        if response.status != 200:
            raise PeerError(f"{peer.node_id} answered {response.status}: {response.body[:200]!r}")
        try:
            return json.loads(response.body)
        except ValueError as exc:
            raise PeerError(f"{peer.node_id} answered with malformed JSON") from exc

    def _get(self, peer: PeerRow, transport: Transport, target: str) -> Any:
        headers = sign_request(
            method="GET",
            target=target,
            body=b"",
            sender=self.node_id,
            receiver=peer.node_id,
            private_key=self._private_key,
            key_id=self.key_id,
            timestamp=int(self.wall.now().timestamp()),
        )
        response = transport.request(
            "GET", peer.url + target, headers=headers, body=b"", timeout=self.limits.timeout
        )
        if response.status != 200:
            raise PeerError(f"{peer.node_id} answered {response.status}: {response.body[:200]!r}")
        try:
            return json.loads(response.body)
        except ValueError as exc:
            raise PeerError(f"{peer.node_id} answered with malformed JSON") from exc

    def _offer(
        self,
        peer: PeerRow,
        stored: StoredItem,
        path: tuple[str, ...] | None,
        now: datetime,
        offered: frozenset[str] | set[str] = frozenset(),
    ) -> tuple[bytes | None, _Verdict | None, Pending | None]:
        """Decide one item for *peer*: (encoded wire entry or None, verdict, pending row).

        The stored document text (canonical JSON, as signed) goes on the wire unchanged.
        """
        if stored.document is None:
            return None, None, None  # recalled before it left: its recall stays home too
        try:
            document = json.loads(stored.document)
            origin = document["originator"]
            subject = Subject(
                parse_label(document["label"], owner=origin["nation"]),
                tuple(document["topics"]),
                tuple(document.get("recipients") or ()),
                stored.id,
            )
            origin_node = str(origin["node"])
        except (LabelError, KeyError, TypeError, ValueError):
            _log.error("federation.unreadable_item id=%s", stored.id)
            return None, None, None
        hops = path or (origin_node,)
        if peer.node_id in hops or origin_node == peer.node_id:
            return None, None, None  # the peer already holds it
        hops = (*hops, self.node_id) if hops[-1] != self.node_id else hops
        wire = (
            b'{"envelope":'
            + stored.document.encode("utf-8")
            + b',"path":'
            + json.dumps(list(hops)).encode("utf-8")
        )
        if document.get("kind") == "recall":
            body = document.get("body")
            target = body.get("item") if isinstance(body, dict) else None
            if isinstance(target, str) and (
                target in offered or self.tables.was_delivered(peer.node_id, target)
            ):
                verdict = (
                    stored.id,
                    (
                        "allow: a recall follows every copy of its target",
                        "recall",
                        "",
                        "",
                        document["label"],
                    ),
                )
                return wire + b"}", verdict, None
        decision, known = self.decide(subject, self.nation, peer.nation, now)
        entry = (
            stored.id,
            (
                _summary(decision),
                decision.rule,
                decision.agreement or "",
                " ".join(decision.route),
                document["label"],
            ),
        )
        if not decision.allowed:
            pending = (
                Pending(peer.node_id, stored.seq, stored.id, ",".join(decision.requires))
                if decision.requires
                else None
            )
            return None, entry, pending
        if subject.label.owner != self.nation and known:
            evidence = ",".join(text for _, _, text in known[:MAX_EVIDENCE])
            wire += b',"evidence":[' + evidence.encode("utf-8") + b"]"
        return wire + b"}", entry, None

    def _release_leaves(
        self, peer: str, now: datetime, verdicts: list[_Verdict]
    ) -> list[AuditEntry]:
        """One ``release`` leaf per distinct decision of a batch, naming its items in order.

        Every decision is recorded, allow and deny alike; grouping equal decisions keeps the
        log (and its hashing) proportional to what was decided rather than to batch size.
        """
        groups: dict[tuple[str, ...], list[str]] = {}
        for item_id, key in verdicts:
            groups.setdefault(key, []).append(item_id)
        leaves = []
        for (summary, rule, agreement, route, label), ids in groups.items():
            leaves.append(
                audit_entry(
                    "release",
                    at=now,
                    actor=self.node_id,
                    item_id=ids[0] if len(ids) == 1 else None,
                    peer=peer,
                    decision=summary,
                    rule=rule,
                    agreement=agreement or None,
                    route=tuple(route.split()),
                    label=label,
                    items=tuple(ids),
                )
            )
        return leaves

    def _push(self, peer: PeerRow, transport: Transport, entries: list[bytes]) -> _Answer:
        """Push *entries* in bounded requests; return the acknowledged ids and refusals."""
        acked: list[str] = []
        refused: list[dict[str, str]] = []
        chunk: list[bytes] = []
        size = 0

        def flush() -> None:
            nonlocal chunk, size
            if not chunk:
                return
            payload = b'{"items":[' + b",".join(chunk) + b"]}"
            answer = self._post(peer, transport, f"{API}/push", payload)
            acked.extend(str(i) for i in answer.get("acked", []))
            refused.extend(answer.get("refused", []))
            chunk, size = [], 0

        for encoded in entries:
            if chunk and (
                size + len(encoded) > self.limits.batch_bytes
                or len(chunk) >= self.limits.batch_items
            ):
                flush()
            chunk.append(encoded)
            size += len(encoded) + 1
        flush()
        return acked, refused

    def _prepare(
        self,
        peer: PeerRow,
        status: LinkStatus,
        cursor: int,
        offered: frozenset[str] | set[str] = frozenset(),
    ) -> _Batch | None:
        """Decide the next batch after *cursor* for *peer* (nothing is written yet).

        *offered* are ids on their way to the peer in a batch not yet acknowledged: a recall
        of one of them follows it.
        """
        rows = self.store.read_after(cursor, self.limits.batch_items, include_recalled=True)
        if not rows:
            return None
        batch = _Batch(rows[-1].seq, self.clock.now())
        paths = self.tables.paths([row.id for row in rows])
        for stored in rows:
            wire, verdict, wait = self._offer(
                peer, stored, paths.get(stored.id), batch.now, batch.offered | offered
            )
            if verdict is not None:
                batch.verdicts.append(verdict)
            if wait is not None:
                batch.pending.append(wait)
            if wire is not None:
                batch.entries.append(wire)
                batch.offered.add(stored.id)
            elif verdict is not None:
                status.denied += 1
        return batch

    def _finish(self, peer: PeerRow, status: LinkStatus, batch: _Batch, answer: _Answer) -> int:
        """Commit what an acknowledged batch decided; return the new durable cursor."""
        acked, refused = answer
        self._note_refusals(peer, refused, status)
        self.tables.advance(
            peer.node_id,
            batch.last,
            delivered=acked,
            pending=batch.pending,
            audit=self._release_leaves(peer.node_id, batch.now, batch.verdicts),
        )
        status.pushed += len(acked)
        return batch.last

    def _send_next(
        self, peer: PeerRow, transport: Transport, status: LinkStatus, cursor: int
    ) -> int:
        """Decide, push and commit the next batch after *cursor*; return the new cursor."""
        batch = self._prepare(peer, status, cursor)
        if batch is None:
            return cursor
        answer = self._push(peer, transport, batch.entries) if batch.entries else ([], [])
        return self._finish(peer, status, batch, answer)

    def _drain_pending(self, peer: PeerRow, transport: Transport, status: LinkStatus) -> None:
        """Decide again the items that waited for a consent; send those now allowed."""
        waiting = self.tables.pending(peer.node_id)
        if not waiting:
            return
        now = self.clock.now()
        entries: list[bytes] = []
        leaves: list[_Verdict] = []
        resolved: list[int] = []
        paths = self.tables.paths([w.item_id for w in waiting])
        for wait in waiting:
            stored = self.store.get_item(wait.item_id)
            if stored is None or stored.document is None:
                resolved.append(wait.seq)
                continue
            wire, leaf, still = self._offer(peer, stored, paths.get(stored.id), now)
            if wire is not None:
                entries.append(wire)
                if leaf is not None:
                    leaves.append(leaf)
                resolved.append(wait.seq)
            elif still is None:
                resolved.append(wait.seq)
        if not entries and not resolved:
            return
        acked, refused = self._push(peer, transport, entries) if entries else ([], [])
        self._note_refusals(peer, refused, status)
        self.tables.advance(
            peer.node_id,
            self.tables.cursor(peer.node_id),
            delivered=acked,
            resolved=resolved,
            audit=self._release_leaves(peer.node_id, now, leaves),
        )
        status.pushed += len(acked)

    def _note_refusals(
        self, peer: PeerRow, refused: list[dict[str, str]], status: LinkStatus
    ) -> None:
        for refusal in refused:
            status.refused += 1
            _log.warning(
                "federation.refused_by_peer peer=%s item=%s reason=%s",
                peer.node_id,
                str(refusal.get("id"))[:40],
                str(refusal.get("reason"))[:200],
            )

    # ----- receiving --------------------------------------------------------------------
    def authenticate(
        self, headers: Mapping[str, str], method: str, target: str, body: bytes
    ) -> tuple[SenderKey, str]:
        """The sender of a federation request and its nation; refusals are audited."""
        keys = self._peer_keys()
        try:
            key = check_request(
                headers,
                method=method,
                target=target,
                body=body,
                receiver=self.node_id,
                key_of=lambda node: (
                    keys[node][0] if node in keys and node != self.node_id else None
                ),
                use_nonce=self._use_nonce,
                now=int(self.wall.now().timestamp()),
            )
        except RequestRefused as exc:
            self.tables.audit(
                [
                    audit_entry(
                        "refuse",
                        at=self.clock.now(),
                        actor=self.node_id,
                        peer=(exc.sender or "unknown")[:64],
                        decision=f"deny: {exc.detail}",
                        rule=f"request-{exc.slug}",
                        target=target[:200],
                    )
                ]
            )
            _log.warning(
                "federation.request_refused peer=%s reason=%s",
                (exc.sender or "unknown")[:64],
                exc.slug,
            )
            raise
        return key, keys[key.node][1]

    def _use_nonce(self, sender: str, nonce: str, timestamp: int) -> bool:
        now = int(self.wall.now().timestamp())
        return self.tables.use_nonce(sender, nonce, max(now, timestamp), now - 600)

    def _evidence(self, raw: object, keys: Mapping[str, tuple[SenderKey, str]]) -> dict[str, Any]:
        """Signed consent items attached by a relay: verified, as {id: (consent, doc)}."""
        found: dict[str, Any] = {}
        if not isinstance(raw, list):
            return found
        for document in raw[:MAX_EVIDENCE]:
            try:
                envelope = envelope_from_document(document)
                key = keys.get(envelope.originator.node)
                if key is None or key[1] != envelope.originator.nation:
                    continue
                verify(envelope, key[0].public_key)
            except (DecodeError, LabelError, SignatureError, TypeError, ValueError):
                continue
            consent = consent_of(envelope)
            if consent is not None:
                found[envelope.id] = (consent, canonical_json(document).decode("utf-8"))
        return found

    def receive(self, sender: SenderKey, sender_nation: str, body: bytes) -> dict[str, Any]:
        """Check and store a pushed batch; answer which ids are acknowledged or refused."""
        try:
            payload = json.loads(body)
            items = payload["items"]
            if not isinstance(items, list):
                raise TypeError
        except (ValueError, KeyError, TypeError) as exc:
            raise DecodeError('push body must be {"items": [...]}') from exc
        if len(items) > self.limits.batch_items * 2:
            raise DecodeError(f"push batch of {len(items)} items exceeds the limit")
        keys = self._peer_keys()
        now = self.clock.now()
        ids = [
            str(entry.get("envelope", {}).get("id", ""))
            for entry in items
            if isinstance(entry, dict) and isinstance(entry.get("envelope"), dict)
        ]
        held = self.tables.known(ids)
        acked: list[str] = []
        refused: list[dict[str, str]] = []
        refusals: list[AuditEntry] = []
        arrivals: list[tuple[Received, Envelope, str]] = []
        evidence_kept: dict[str, str] = {}
        seen: set[str] = set()

        def refuse(item_id: str, reason: str, rule: str) -> None:
            refused.append({"id": item_id, "reason": reason})
            refusals.append(
                audit_entry(
                    "refuse",
                    at=now,
                    actor=self.node_id,
                    item_id=item_id if len(item_id) == 36 else None,
                    peer=sender.node,
                    decision=f"deny: {reason}"[:300],
                    rule=rule,
                )
            )
            _log.warning(
                "federation.item_refused peer=%s item=%s rule=%s", sender.node, item_id[:40], rule
            )

        for entry in items:
            if not isinstance(entry, dict) or not isinstance(entry.get("envelope"), dict):
                refuse("", "entry is not {envelope, path}", "malformed")
                continue
            document = entry["envelope"]
            claimed = str(document.get("id", ""))[:64]
            try:
                envelope = envelope_from_document(document)
            except (DecodeError, LabelError, TypeError, ValueError) as exc:
                refuse(claimed, f"malformed envelope: {exc}"[:200], "malformed")
                continue
            if envelope.id in held or envelope.id in seen:
                acked.append(envelope.id)  # a duplicate: acknowledged, not stored again
                continue
            origin = keys.get(envelope.originator.node)
            if origin is None or origin[1] != envelope.originator.nation:
                refuse(envelope.id, "originator node is not pinned here", "unknown-originator")
                continue
            try:
                signed = signing_bytes(envelope)
                _crypto.verify_signature(origin[0].public_key, envelope.sig, signed)
            except (SignatureError, TypeError, ValueError):
                refuse(envelope.id, "originator signature did not verify", "signature")
                continue
            path = entry.get("path")
            if (
                not isinstance(path, list)
                or not path
                or len(path) > MAX_PATH
                or not all(isinstance(hop, str) and len(hop) <= 64 for hop in path)
                or path[0] != envelope.originator.node
                or path[-1] != sender.node
                or self.node_id in path
            ):
                refuse(
                    envelope.id,
                    "relay path does not lead from the originator to the sender",
                    "path",
                )
                continue
            recall_of: str | None = None
            target = envelope.body.get("item") if envelope.kind == "recall" else None
            if isinstance(target, str):
                target_row = self.store.get_item(target)
                if target_row is not None and target_row.originator_nation == (
                    envelope.originator.nation
                ):
                    recall_of = target if target_row.recalled_by is None else None
                    if target_row.recalled_by is not None:
                        acked.append(envelope.id)
                        continue
            if recall_of is None:
                extra = self._evidence(entry.get("evidence"), keys)
                decision, _ = self.decide(
                    envelope, sender_nation, self.nation, now, [c for c, _ in extra.values()]
                )
                if not decision.allowed:
                    refuse(envelope.id, _summary(decision), f"policy:{decision.rule}")
                    continue
                evidence_kept.update({k: d for k, (_, d) in extra.items()})
            text = document_text(envelope)  # spliced from the bytes just verified
            row = item_row(envelope, text)
            leaf = audit_entry(
                "recall" if recall_of is not None else "accept",
                at=now,
                actor=self.node_id,
                item_id=envelope.id,
                peer=sender.node,
                digest=row.digest,
                kind=envelope.kind,
                label=format_banner(envelope.label),
                path=(*path, self.node_id),
                target=recall_of,
            )
            arrivals.append(
                (Received(row, leaf, sender.node, (*path, self.node_id), recall_of), envelope, text)
            )
            seen.add(envelope.id)
        with self._write_lock:
            seqs = self.tables.receive([a[0] for a in arrivals], refusals)
            if self.on_stored is not None:
                for seq, (_, envelope, text) in zip(seqs, arrivals, strict=True):
                    if seq:
                        self.on_stored(seq, envelope, text)
        self.tables.put_evidence(evidence_kept)
        acked.extend(a[0].row.id for a in arrivals)
        if arrivals:
            if any(a[1].kind == "consent" for a in arrivals) or evidence_kept:
                self._refresh_consents()
                if evidence_kept:
                    with self._consent_lock:
                        for document in evidence_kept.values():
                            if self._remember_consent(self._consents, document):
                                self._consents.generation += 1
            self.wake()
        return {"acked": acked, "refused": refused}

    # ----- pull (catch-up by cursor) ----------------------------------------------------
    def serve_pull(self, peer_node: str, peer_nation: str, after: int, limit: int) -> bytes:
        """JSON ``{items, next}``: items after *after* this node may release to the peer.

        Every decision is audited, as for a push.
        """
        limit = max(1, min(limit, self.limits.batch_items))
        rows = self.store.read_after(after, limit)
        peer = PeerRow(peer_node, peer_nation, "", "", "", "", True)
        now = self.clock.now()
        paths = self.tables.paths([row.id for row in rows])
        entries: list[bytes] = []
        leaves: list[_Verdict] = []
        for stored in rows:
            wire, leaf, _ = self._offer(peer, stored, paths.get(stored.id), now)
            if leaf is not None:
                leaves.append(leaf)
            if wire is not None:
                entries.append(wire)
        self.tables.audit(self._release_leaves(peer_node, now, leaves))
        following = rows[-1].seq if rows else after
        return b'{"items":[' + b",".join(entries) + b'],"next":' + str(following).encode() + b"}"

    def pull(self, node_id: str, transport: Transport | None = None) -> int:
        """Fetch from *node_id* everything it may release here; return how many were new."""
        peer = self._peer(node_id)
        if peer is None:
            raise PeerError(f"no pinned peer {node_id}")
        own = transport or self._transport(peer)
        key = self._peer_keys()[peer.node_id][0]
        stored = 0
        try:
            cursor = self.tables.cursor(f"pull:{peer.node_id}")
            for _ in range(100_000):
                page = self._get(peer, own, f"{API}/pull?after={cursor}&limit=500")
                items = page.get("items", [])
                if items:
                    body = json.dumps({"items": items}).encode()
                    answer = self.receive(key, peer.nation, body)
                    stored += len(answer["acked"])
                following = int(page.get("next", cursor))
                if following <= cursor:
                    break
                cursor = following
                self.tables.advance(f"pull:{peer.node_id}", cursor)
        finally:
            if transport is None:
                own.close()
        return stored

    # ----- checkpoints ------------------------------------------------------------------
    def serve_checkpoint(self, since: int) -> dict[str, Any]:
        """This node's signed checkpoint and a consistency proof from size *since*."""
        if self.checkpoint_text is None:
            raise AuditError("this node does not sign checkpoints")
        text = self.checkpoint_text()
        size = audit.parse_checkpoint(text).checkpoint.size
        proof: list[bytes] = []
        if 0 < since < size:
            proof = from_stored_subtrees(
                self.store, lambda hashes: audit.consistency_proof(since, size, hashes)
            )
        return {"checkpoint": text, "from": since, "proof": [_b64(h) for h in proof]}

    def _witness(self, peer: PeerRow, transport: Transport, status: LinkStatus) -> None:
        """Fetch, verify, cosign and keep the peer's checkpoint; alert on a fork."""
        last = self.tables.last_checkpoint(peer.node_id)
        since = last.size if last is not None else 0
        answer = self._get(peer, transport, f"{API}/checkpoint?since={since}")
        now = self.wall.now()
        key = audit.VerifierKey(f"trilat/{peer.node_id}", base64.b64decode(peer.public_key))
        try:
            text = str(answer["checkpoint"])
            checkpoint = audit.verify_checkpoint(text, key, origin=f"trilat/{peer.node_id}")
            proof = [base64.b64decode(h) for h in answer.get("proof", [])]
            if last is not None:
                if checkpoint.size < last.size:
                    raise AuditError(
                        f"log shrank from {last.size} to {checkpoint.size} leaves (rollback)"
                    )
                audit.verify_consistency(
                    last.size, checkpoint.size, last.root, checkpoint.root, proof
                )
        except (TrilatError, KeyError, ValueError, TypeError) as exc:
            detail = f"checkpoint of {peer.node_id} rejected: {exc}"[:300]
            self.tables.add_alert(
                Alert(peer.node_id, format_time(now), "checkpoint-fork", detail),
                audit_entry(
                    "checkpoint",
                    at=self.clock.now(),
                    actor=self.node_id,
                    peer=peer.node_id,
                    decision=f"deny: {detail}"[:300],
                    rule="consistency",
                ),
            )
            _log.error("peer.checkpoint_mismatch peer=%s detail=%s", peer.node_id, detail)
            return
        status.checkpoint_size, status.checkpoint_seen = checkpoint.size, format_time(now)
        if last is None or checkpoint.size != last.size:
            cosigned = audit.cosign_checkpoint(
                text, name=f"trilat/{self.node_id}", private_key=self._private_key, at=now
            )
            last = PeerCheckpoint(
                peer.node_id, checkpoint.size, checkpoint.root, cosigned, format_time(now)
            )
            self.tables.put_checkpoint(
                last,
                audit_entry(
                    "cosign",
                    at=self.clock.now(),
                    actor=self.node_id,
                    peer=peer.node_id,
                    size=checkpoint.size,
                    root=_b64(checkpoint.root),
                ),
            )
        if status.cosignature_returned != last.size:
            # give the peer its cosignature, so that it can show its log witnessed; a peer
            # that cannot take it yet is asked again at the next round, replication goes on
            payload = json.dumps({"checkpoint": last.cosigned}).encode()
            try:
                self._post(peer, transport, f"{API}/cosignature", payload)
            except PeerError as exc:
                _log.warning("peer.cosignature_not_returned peer=%s error=%s", peer.node_id, exc)
                return
            status.cosignature_returned = last.size

    def receive_cosignature(self, sender: SenderKey, body: bytes) -> bool:
        """Keep a peer's cosignature of one of this node's checkpoints; False if it was
        already kept. The note must carry this node's signature over a checkpoint of its
        own log (same root at that size) and the sender's valid cosignature."""
        try:
            document = json.loads(body)
            note = str(document["checkpoint"])
        except (ValueError, TypeError, KeyError) as exc:
            raise DecodeError("a cosignature is {'checkpoint': NOTE}") from exc
        origin = f"trilat/{self.node_id}"
        checkpoint = audit.verify_checkpoint(
            note, audit.VerifierKey(origin, self.public_key), origin=origin
        )
        if checkpoint.size > self.store.audit_size() or (
            root_at(self.store, checkpoint.size) != checkpoint.root
        ):
            raise AuditError(f"checkpoint of size {checkpoint.size} is not this node's log")
        at = audit.verify_cosignature(
            note, audit.cosigner_key(f"trilat/{sender.node}", sender.public_key)
        )
        if at > self.wall.now() + timedelta(seconds=MAX_SKEW):
            raise AuditError("the cosignature is dated in the future")
        return self.tables.put_witnessed(checkpoint.size, sender.node, note, format_time(at))

    def witnessed(self) -> dict[str, Any] | None:
        """See :func:`witnessed`."""
        return witnessed(self.tables)

    # ----- status -----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        head = self.store.head()
        cursors = self.tables.cursors()
        peers = []
        for peer in self.tables.peers():
            link = self._status.get(peer.node_id, LinkStatus())
            last = self.tables.last_checkpoint(peer.node_id)
            peers.append(
                {
                    "node": peer.node_id,
                    "nation": peer.nation,
                    "url": peer.url,
                    "key_id": peer.key_id,
                    "link": peer.link,
                    "cursor": cursors.get(peer.node_id, 0),
                    "behind": max(0, head - cursors.get(peer.node_id, 0)) if peer.link else 0,
                    "pending_consent": self.tables.pending_count(peer.node_id),
                    "pushed": link.pushed,
                    "denied": link.denied,
                    "refused_by_peer": link.refused,
                    "last_ok": link.last_ok,
                    "last_error": link.last_error,
                    "tls_refused": link.tls_refused,
                    "checkpoint": (
                        {"size": last.size, "root": _b64(last.root), "seen": last.seen}
                        if last is not None
                        else None
                    ),
                }
            )
        return {
            "node": self.node_id,
            "nation": self.nation,
            "key_id": self.key_id,
            "head": head,
            "received": self.tables.received_count(),
            "peers": peers,
            "witnessed": self.witnessed(),
            "alerts": [
                {"peer": a.peer, "at": a.at, "kind": a.kind, "detail": a.detail}
                for a in self.tables.alerts()
            ],
        }


def witnessed(tables: FederationTables) -> dict[str, Any] | None:
    """A node's checkpoints as its peers cosigned them: the latest from each peer, and the
    newest of those as one note with every cosignature returned for it; None before any
    came back."""
    found = tables.witnessed()
    if not found:
        return None
    newest = max(size for _, size, _, _ in found)
    notes = [note for _, size, note, _ in found if size == newest]
    return {
        "size": newest,
        "cosigners": [peer for peer, size, _, _ in found if size == newest],
        "checkpoint": audit.merge_signatures(notes[0], *notes[1:]),
        "peers": [{"peer": peer, "size": size, "cosigned": at} for peer, size, _, at in found],
    }
