"""The running node: accept, seal, store and audit items; decide who sees what.

Every read path (list, single read, SSE) asks ``Node.view`` which calls
``Policy.may_view``; a view that the decision marks ``audit-view`` (DISPLAY ONLY to a
liaison officer's nation) is written to the audit log before the item is returned.
Writes go through one lock so that live events are published in commit order.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from trilat.api.auth import CONSENTING_ROLES, ORIGINATING_ROLES, RECALLING_ROLES
from trilat.api.cursor import Cursors
from trilat.api.problems import Problem, not_found
from trilat.api.sse import Broadcaster, Published
from trilat.core import audit
from trilat.core._crypto import public_key_of
from trilat.core.audit import Checkpoint, VerifierKey
from trilat.core.clock import Clock, SystemClock
from trilat.core.errors import AuditError, DecodeError, LabelError, PolicyError, StoreError
from trilat.core.items import (
    Envelope,
    Item,
    Originator,
    envelope_from_document,
    seal,
)
from trilat.core.labels import (
    Classification,
    Label,
    format_banner,
    parse_label,
    render_national,
)
from trilat.core.policy import REQUIRES_AUDIT_VIEW, Consent, Decision, Policy
from trilat.kinds import parse_body
from trilat.store import AuditEntry, ItemFilter, ItemRow, Store, StoredCheckpoint, StoredItem, User
from trilat.store.auditlog import audit_entry, from_stored_subtrees, perfect_ranges
from trilat.store.records import document_text, item_row

_log = logging.getLogger(__name__)

CURSOR_KEY_META: Final = "cursor_key"
_CACHE_SIZE: Final = 4096
_ITEM_ID: Final = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_CEILINGS: Final = {
    "UNCLASSIFIED": Classification.UNCLASSIFIED,
    "CONFIDENTIAL": Classification.CONFIDENTIAL,
    "SECRET": Classification.SECRET,
    "TOP SECRET": Classification.TOP_SECRET,
}


@dataclass(frozen=True, slots=True)
class Visible:
    """An item a viewer may see: its cursor, envelope, document text and the decision."""

    seq: int
    envelope: Envelope
    document: str
    decision: Decision


@dataclass(frozen=True, slots=True)
class NewItem:
    """What a user asks the node to originate (already shape-checked by the API)."""

    kind: str
    label: str
    topics: tuple[str, ...]
    body: dict[str, Any]
    recipients: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    supersedes: str | None = None


def consent_from(envelope: Envelope) -> Consent | None:
    """The policy consent a signed ``consent`` item grants (None if it grants nothing)."""
    body = envelope.body
    try:
        ceiling = body.get("ceiling")
        return Consent(
            originator=envelope.originator.nation,
            destinations=frozenset(body.get("to", ())),
            item_id=body.get("item"),
            topic=body.get("topic"),
            ceiling=_CEILINGS[ceiling] if isinstance(ceiling, str) else None,
            kind=body.get("kind", "consent"),
        )
    except (PolicyError, KeyError, TypeError):
        return None


@dataclass(eq=False)
class _Pending:
    """A sealed item waiting for the group commit."""

    row: ItemRow
    entry: AuditEntry
    envelope: Envelope
    document: str
    recall_of: str | None
    seq: int = 0
    done: bool = False
    error: StoreError | None = None


class Node:
    """One nation's node over its store, policy, key and clock."""

    def __init__(
        self,
        *,
        nation: str,
        node_id: str,
        store: Store,
        policy: Policy,
        private_key: bytes,
        clock: Clock | None = None,
        sse_queue: int = 1024,
        page_limit: int = 500,
        body_limit: int = 1024 * 1024,
        document_limit: int = 64 * 1024 * 1024,
        keepalive: float = 15.0,
        checkpoint_interval: float = 60.0,
    ) -> None:
        self.nation = nation
        self.node_id = node_id
        self.store = store
        self.policy = policy
        self.clock: Clock = clock or SystemClock()
        self.originator = Originator(node=node_id, nation=nation)
        self._private_key = private_key
        self.public_key = public_key_of(private_key)
        self.verifier = VerifierKey(self.log_origin, self.public_key)
        self.page_limit = page_limit
        self.body_limit = body_limit
        self.document_limit = document_limit
        self.keepalive = keepalive
        self.checkpoint_interval = checkpoint_interval
        self.broadcaster = Broadcaster(sse_queue)
        self._write_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        # the highest cursor announced to live subscribers; rows above it came from elsewhere
        self.published_head = store.head()
        self._cache: OrderedDict[str, Envelope] = OrderedDict()
        self._cache_lock = threading.Lock()
        key = store.get_meta(CURSOR_KEY_META)
        if key is None:
            key = secrets.token_hex(32)
            store.set_meta(CURSOR_KEY_META, key)
        self.cursors = Cursors(bytes.fromhex(key))
        self._consents: list[Consent] = self._load_consents()

    @property
    def log_origin(self) -> str:
        """The checkpoint origin line (and signing key name) of this node's audit log."""
        return f"trilat/{self.node_id}"

    # ----- reading ----------------------------------------------------------------------
    def envelope_of(self, stored: StoredItem) -> Envelope | None:
        """The parsed envelope of a stored item (cached; None once recalled)."""
        if stored.document is None:
            return None
        with self._cache_lock:
            cached = self._cache.get(stored.id)
            if cached is not None:
                self._cache.move_to_end(stored.id)
                return cached
        envelope = envelope_from_document(json.loads(stored.document))
        with self._cache_lock:
            self._cache[stored.id] = envelope
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return envelope

    def _load_consents(self) -> list[Consent]:
        consents: list[Consent] = []
        cursor = 0
        while True:
            batch = self.store.read_after(cursor, 1000, ItemFilter(kind="consent"))
            for stored in batch:
                cursor = stored.seq
                envelope = self.envelope_of(stored)
                consent = consent_from(envelope) if envelope is not None else None
                if consent is not None:
                    consents.append(consent)
            if len(batch) < 1000:
                return consents

    def consents_for(self, envelope: Envelope) -> tuple[Consent, ...]:
        owner = envelope.label.owner
        return tuple(
            c
            for c in self._consents
            if c.originator == owner and (c.item_id is None or c.item_id == envelope.id)
        )

    def view(self, envelope: Envelope, user: User, at: datetime) -> Decision:
        """``Policy.may_view`` for *user* on this node."""
        return self.policy.may_view(
            envelope,
            user.nationality,
            Classification(user.clearance),
            self.nation,
            at,
            self.consents_for(envelope),
        )

    def view_entry(
        self, envelope: Envelope, user: User, decision: Decision, at: datetime
    ) -> AuditEntry:
        """The ``view`` leaf of a DISPLAY ONLY view by a liaison officer."""
        return audit_entry(
            "view",
            at=at,
            actor=user.name,
            item_id=envelope.id,
            decision=f"allow: {decision.reasons[0]}" if decision.reasons else "allow",
            nation=user.nationality,
            rule=decision.rule,
        )

    def label_national(self, envelope: Envelope, nation: str) -> str | None:
        """*envelope*'s banner in *nation*'s terms (SPEC §2), or None without a table.

        The table is the ``[markings.<nation>]`` of an agreement in force now whose parties
        include the label owner and *nation* and which names the label's level; among
        several, the one matching the item's topics most specifically, then the lowest id.
        """
        label = envelope.label
        owner = label.owner or envelope.originator.nation
        now = self.clock.now()
        best: tuple[int, str] | None = None
        chosen: dict[Classification, str] | None = None
        for agreement in self.policy.agreements:
            if not {owner, nation} <= agreement.parties or not agreement.in_force(now):
                continue
            table = agreement.marking_table(nation)
            if label.classification not in table:
                continue
            rank = (-agreement.specificity(envelope.topics), agreement.id)
            if best is None or rank < best:
                best, chosen = rank, table
        if chosen is None:
            return None
        try:
            return render_national(label, chosen)
        except LabelError:
            return None

    def visible(self, items: Iterable[StoredItem], user: User) -> list[Visible]:
        """The items *user* may see, in order; DISPLAY ONLY views are audited first."""
        now = self.clock.now()
        shown: list[Visible] = []
        views = []
        for stored in items:
            try:
                envelope = self.envelope_of(stored)
            except (DecodeError, LabelError, ValueError) as exc:  # fail closed: never shown
                _log.warning("item.unreadable id=%s error=%s", stored.id, type(exc).__name__)
                continue
            if envelope is None or stored.document is None:
                continue
            decision = self.view(envelope, user, now)
            if not decision.allowed:
                continue
            if REQUIRES_AUDIT_VIEW in decision.requires:
                views.append(self.view_entry(envelope, user, decision, now))
            shown.append(Visible(stored.seq, envelope, stored.document, decision))
        if views:
            self.store.append_audit(views)
        return shown

    def read(self, item_id: str, user: User) -> Visible:
        """One item, or 404 when it is absent, recalled or not visible to *user*."""
        stored = self.store.get_item(item_id) if _ITEM_ID.match(item_id) else None
        if stored is None:
            raise not_found()
        found = self.visible([stored], user)
        if not found:
            raise not_found()
        return found[0]

    def page(
        self, after: int, limit: int, where: ItemFilter, user: User
    ) -> tuple[list[Visible], int]:
        """Up to *limit* visible items after cursor *after*, and the cursor to go on from.

        Scans at most a bounded number of rows per call, so hidden items cost time but never
        show up as a count; the returned cursor is the last row scanned.
        """
        shown: list[Visible] = []
        cursor = after
        budget = max(limit * 8, 1000)
        while len(shown) < limit and budget > 0:
            want = min(budget, max(limit - len(shown), 50))
            batch = self.store.read_after(cursor, want, where)
            if not batch:
                break
            budget -= len(batch)
            for visible in self.visible(batch, user):
                shown.append(visible)
                if len(shown) == limit:
                    cursor = visible.seq
                    break
            else:
                cursor = batch[-1].seq
                if len(batch) < want:
                    break
                continue
            break
        return shown, cursor

    # ----- writing ----------------------------------------------------------------------
    def _check_originator(self, user: User, label: Label, roles: frozenset[str]) -> None:
        if not set(user.roles) & roles:
            raise Problem(403, "forbidden", f"role {'/'.join(user.roles)} may not do this")
        if user.nationality != self.nation:
            raise Problem(
                403, "forbidden", f"only {self.nation} nationals originate items on this node"
            )
        if user.clearance < label.classification:
            raise Problem(403, "forbidden", f"not cleared to originate {format_banner(label)}")

    def _visible_target(self, item_id: str, user: User, member: str) -> Envelope:
        stored = self.store.get_item(item_id) if _ITEM_ID.match(item_id) else None
        envelope = self.envelope_of(stored) if stored is not None else None
        if envelope is None or not self.view(envelope, user, self.clock.now()).allowed:
            raise Problem(
                422, "reference-unknown", f"{member} names no item you can see", member=member
            )
        return envelope

    def originate(self, new: NewItem, user: User) -> Visible:
        """Validate, seal, store and audit an item from *user*; returns it as stored."""
        label = parse_label(new.label, owner=self.nation)
        kind_roles = ORIGINATING_ROLES
        if new.kind == "consent":
            kind_roles = CONSENTING_ROLES
        elif new.kind == "recall":
            kind_roles = RECALLING_ROLES
        self._check_originator(user, label, kind_roles)
        body = parse_body(new.kind, new.body)
        if new.supersedes is not None:
            replaced = self._visible_target(new.supersedes, user, "supersedes")
            if replaced.originator.nation != self.nation:
                raise Problem(
                    403, "forbidden", "an item is superseded only by its originator nation"
                )
        target: Envelope | None = None
        if new.kind in ("recall", "consent", "ack") and getattr(body, "item", None):
            target = self._visible_target(body.item, user, "body.item")
            if new.kind != "ack" and target.originator.nation != self.nation:
                raise Problem(
                    403, "forbidden", f"only the originator nation may {new.kind} an item"
                )
        if new.kind == "document" and self.store.get_blob(body.sha256) is None:
            raise Problem(
                422,
                "reference-unknown",
                "body.sha256 names no uploaded document",
                member="body.sha256",
            )
        item = Item(
            kind=new.kind,
            label=label,
            topics=new.topics,
            body=new.body,
            recipients=new.recipients,
            refs=new.refs,
            supersedes=new.supersedes,
        )
        return self._commit(item, user, target)

    def originate_many(
        self, items: Sequence[Item], user: User, *, via: str | None = None
    ) -> list[Visible]:
        """Seal *items* from *user* and commit them, each with its ``accept`` audit leaf, in
        one transaction: all of them or none (StoreError). For bulk feeds (TAXII adds).

        Plain items only: a recall, consent or ack names a target and a superseding item
        replaces one, so those go through ``originate``. Each label must be this node's
        nation's, within the user's clearance, and each body valid for its kind; *via* is
        recorded in the audit leaves. Live events go out in commit order.
        """
        for item in items:
            if item.kind in ("recall", "consent", "ack") or item.supersedes is not None:
                raise Problem(
                    422,
                    "invalid-item",
                    f"a {item.kind} item that names a target is originated alone",
                )
            if item.label.owner != self.nation:
                raise Problem(
                    403, "forbidden", f"only labels owned by {self.nation} are originated here"
                )
            self._check_originator(user, item.label, ORIGINATING_ROLES)
            parse_body(item.kind, item.body)
        now = self.clock.now()
        sealed: list[tuple[Envelope, str, ItemRow, AuditEntry]] = []
        for item in items:
            envelope = seal(item, originator=self.originator, private_key=self._private_key, at=now)
            document = document_text(envelope)
            row = item_row(envelope, document)
            entry = audit_entry(
                "accept",
                at=now,
                actor=user.name,
                item_id=envelope.id,
                digest=row.digest,
                kind=envelope.kind,
                label=format_banner(envelope.label),
                via=via,
            )
            sealed.append((envelope, document, row, entry))
        if not sealed:
            return []
        with self._write_lock:
            seqs = self.store.append_items([(row, entry) for _, _, row, entry in sealed])
            for (envelope, document, _, _), seq in zip(sealed, seqs, strict=True):
                self.announce(seq, envelope, document)
        allow = Decision.allow("originated here", rule="origin")
        for envelope, _, _, _ in sealed:
            _log.info(
                "item.accepted id=%s kind=%s label=%r by=%s via=%s",
                envelope.id,
                envelope.kind,
                format_banner(envelope.label),
                user.name,
                via,
            )
        return [
            Visible(seq, envelope, document, allow)
            for (envelope, document, _, _), seq in zip(sealed, seqs, strict=True)
        ]

    def consent(self, item_id: str, destinations: Sequence[str], user: User) -> Visible:
        """Sign the originator nation's consent to onward release of *item_id*."""
        stored = self.store.get_item(item_id) if _ITEM_ID.match(item_id) else None
        envelope = self.envelope_of(stored) if stored is not None else None
        if envelope is None or not self.view(envelope, user, self.clock.now()).allowed:
            raise not_found()
        if not set(user.roles) & CONSENTING_ROLES or user.nationality != self.nation:
            raise Problem(
                403, "forbidden", f"only a {self.nation} disclosure officer or admin consents"
            )
        if envelope.originator.nation != self.nation:
            raise Problem(403, "forbidden", "only the originator nation consents to release")
        item = Item(
            kind="consent",
            label=envelope.label,
            topics=envelope.topics,
            body={"to": list(destinations), "item": envelope.id, "kind": "consent"},
            refs=(envelope.id,),
        )
        parse_body("consent", item.body)
        return self._commit(item, user, envelope)

    def _commit(self, item: Item, user: User, target: Envelope | None) -> Visible:
        """Seal *item* and commit it with its audit leaf before returning (group commit).

        Concurrent callers queue their rows; whoever holds the writer lock commits every
        queued row in one transaction (one fsync), then publishes them in commit order.
        """
        now = self.clock.now()
        envelope = seal(item, originator=self.originator, private_key=self._private_key, at=now)
        document = document_text(envelope)
        row = item_row(envelope, document)
        event = {"recall": "recall", "consent": "consent"}.get(envelope.kind, "accept")
        entry = audit_entry(
            event,
            at=now,
            actor=user.name,
            item_id=envelope.id,
            digest=row.digest,
            kind=envelope.kind,
            label=format_banner(envelope.label),
            target=target.id if target is not None and event != "accept" else None,
        )
        recall_of = target.id if envelope.kind == "recall" and target is not None else None
        pending = _Pending(row, entry, envelope, document, recall_of)
        with self._queue_lock:
            self._queue.append(pending)
        with self._write_lock:
            if not pending.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit_batch(batch)
        if pending.error is not None:
            raise pending.error
        _log.info(
            "item.accepted id=%s kind=%s label=%r by=%s",
            envelope.id,
            envelope.kind,
            format_banner(envelope.label),
            user.name,
        )
        return Visible(
            pending.seq, envelope, document, Decision.allow("originated here", rule="origin")
        )

    def _commit_batch(self, batch: list[_Pending]) -> None:
        """Commit *batch* (writer lock held): plain items together, recalls one by one."""
        start = 0
        while start < len(batch):
            end = start
            while end < len(batch) and batch[end].recall_of is None:
                end += 1
            group = batch[start:end] if end > start else batch[start : start + 1]
            try:
                if group[0].recall_of is not None:
                    seqs = [
                        self.store.recall_item(group[0].recall_of, group[0].row, group[0].entry)
                    ]
                    with self._cache_lock:
                        self._cache.pop(group[0].recall_of, None)
                else:
                    seqs = self.store.append_items([(p.row, p.entry) for p in group])
            except StoreError as exc:
                for failed in group:
                    failed.error, failed.done = exc, True
            else:
                for pending, seq in zip(group, seqs, strict=True):
                    pending.seq, pending.done = seq, True
                    if pending.envelope.kind == "consent":
                        consent = consent_from(pending.envelope)
                        if consent is not None:
                            self._consents.append(consent)
                    self.announce(seq, pending.envelope, pending.document)
            start += len(group)

    def document(self, sha256: str, user: User) -> tuple[bytes, str]:
        """The bytes of a document blob and its file name, if *user* may see an item citing
        it; 404 otherwise (whether or not the blob exists)."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise not_found("document")
        shown = self.visible(self.store.items_citing(sha256), user)
        data = self.store.get_blob(sha256) if shown else None
        if data is None:
            raise not_found("document")
        return data, str(shown[0].envelope.body.get("name", sha256))

    def announce(self, seq: int, envelope: Envelope, document: str) -> None:
        """Publish a committed item to live subscribers (also the hook for arrivals that
        federation commits in this process). Call in commit order."""
        self.published_head = max(self.published_head, seq)
        self.broadcaster.publish_threadsafe(Published(seq, envelope, document))

    def put_document(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.store.put_blob(digest, data)
        return digest

    # ----- audit ------------------------------------------------------------------------
    def checkpoint(self) -> str:
        """A signed checkpoint of the audit log as it stands (stored when new)."""
        size, hashes = self.store.audit_state()
        latest = self.store.latest_checkpoint()
        if latest is not None and latest.size == size:
            return latest.text
        root = audit.CompactRange(size, hashes).root()
        text = audit.sign_checkpoint(
            Checkpoint(self.log_origin, size, root),
            name=self.log_origin,
            private_key=self._private_key,
        )
        try:
            self.store.save_checkpoint(StoredCheckpoint(size, root, text))
        except StoreError:
            _log.warning("audit.checkpoint_not_saved size=%d", size)
        return text

    def check_checkpoint(self, stored: StoredCheckpoint) -> None:
        """Raise unless *stored* is signed by this node's key and names its root."""
        checkpoint = audit.verify_checkpoint(stored.text, self.verifier, origin=self.log_origin)
        if checkpoint.size != stored.size or checkpoint.root != stored.root:
            raise AuditError("checkpoint text disagrees with its stored size or root")

    def inclusion(self, index: int, size: int | None) -> dict[str, Any]:
        """The RFC 9162 inclusion proof of leaf *index* in the tree of *size* leaves."""
        current = self.store.audit_size()
        size = current if size is None else size
        if not 0 < size <= current or not 0 <= index < size:
            raise Problem(
                404, "not-found", f"no leaf {index} in a tree of {size} (log has {current})"
            )

        def compute(hashes: audit.HashRange) -> tuple[list[bytes], bytes, bytes]:
            proof = audit.inclusion_proof(index, size, hashes)
            ranges = [hashes(start, end) for start, end in perfect_ranges(size)]
            return proof, hashes(index, index + 1), audit.CompactRange(size, ranges).root()

        proof, leaf, root = from_stored_subtrees(self.store, compute)
        return {
            "leaf_index": index,
            "tree_size": size,
            "leaf_hash": _b64(leaf),
            "root": _b64(root),
            "proof": [_b64(h) for h in proof],
        }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
