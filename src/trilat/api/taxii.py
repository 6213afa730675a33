"""TAXII 2.1 server endpoint of the node (OASIS TAXII Version 2.1, CS01).

Discovery at ``/taxii2/``, one API root ``/taxii2/trilat/``, and one collection per topic
prefix (``cyber`` and the node's other topics): a collection holds the node's
``indicator`` items (STIX 2.1 bodies) with a topic under its prefix. Every object that
leaves goes through ``Node.visible`` and so through ``Policy.may_view`` for the requesting
user, on every endpoint: objects, one object, its versions and the manifest. A DISPLAY
ONLY view by a liaison officer is audited there, as on the REST API.

Writes (``POST objects``) fail closed: each object's label comes from its markings
(``adapters.stix.item_from_stix``); an object with no marking, or a marking trilat does not
understand, or a label owned by another nation, is refused with a per-object failure in
the status resource; never is a label guessed. The accepted objects of one request are
sealed and committed with their ``accept`` audit leaves in one transaction.

Pagination is keyset on the store's insertion sequence: ``next`` is the node's HMAC cursor
of the last row scanned plus a fingerprint of the query, so it is tamper-evident, stable
under concurrent inserts and costs the same on the millionth object as on the first.
``date_added`` is the item's sealing time (``created``); objects come in insertion order.

Errors are TAXII error messages (``title``, ``description``, ``http_status``...) in
``application/taxii+json;version=2.1``, never problem+json.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from trilat.adapters.stix import (
    LABEL_EXTENSION_ID,
    TLP1_MARKING_IDS,
    TLP_MARKING_IDS,
    TRILAT_IDENTITY_ID,
    label_extension_definition,
    label_markings,
    mark,
    marking_refs,
    tlp_marking,
    trilat_identity,
)
from trilat.api.auth import ORIGINATING_ROLES, same_hash, token_hash
from trilat.api.cursor import CursorError
from trilat.api.node import Node, Visible
from trilat.api.problems import BodyTooLarge
from trilat.api.taxii_add import Adder, Busy, StatusBook
from trilat.core.clock import format_time, parse_time
from trilat.core.errors import StoreError, TrilatError
from trilat.core.items import Envelope
from trilat.core.labels import Label
from trilat.store import ItemFilter, StoredItem, User

__all__ = [
    "API_ROOT",
    "DEFAULT_TOPICS",
    "PREFIX",
    "STIX_MEDIA_TYPE",
    "TAXII_MEDIA_TYPE",
    "Collection",
    "collection_for",
    "install_taxii",
]

_log = logging.getLogger(__name__)

TAXII_MEDIA_TYPE: Final = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE: Final = "application/stix+json;version=2.1"
PREFIX: Final = "/taxii2"
API_ROOT: Final = f"{PREFIX}/trilat/"
DEFAULT_TOPICS: Final = (
    "cyber",
    "dprk",
    "maritime",
    "air",
    "hadr",
    "logistics",
    "transport",
    "exercise",
    "public",
)
"""The topic prefixes that get a collection unless the node is given others."""

_COLLECTION_NAMESPACE: Final = uuid.UUID("5b0d3c1e-4f1a-4c61-9d5e-7a3f0c2b9e10")
_STATUS_DETAILS: Final = 200_000  # per-object entries kept across status resources
ANSWER_WITHIN: Final = 2.0
"""Seconds a POST waits for its add to complete before answering with a pending status."""
_SCAN_BATCH: Final = 500
_SCAN_PER_OBJECT: Final = 3
_SCAN_FLOOR: Final = 300


def _scan_budget(limit: int) -> int:
    """The stored rows one page may examine: a page of *limit* objects costs at most this
    much work, even when the user may see almost nothing of the collection."""
    return max(limit * _SCAN_PER_OBJECT, _SCAN_FLOOR)


_DEFINITION_IDS: Final = frozenset({TRILAT_IDENTITY_ID, LABEL_EXTENSION_ID})
_MATCH_KEYS: Final = frozenset({"type", "id", "spec_version", "version"})


# --- errors and responses --------------------------------------------------------------------


class TaxiiError(Exception):
    """A TAXII error message (TAXII 2.1 §3.6.1): answered as it is, whole request refused."""

    def __init__(
        self,
        status: int,
        title: str,
        description: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status, self.title, self.description = status, title, description
        self.code = code or title.lower().replace(" ", "-")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "error_id": str(uuid.uuid4()),
            "error_code": self.code,
            "http_status": str(self.status),
        }


def _unauthorised(description: str) -> TaxiiError:
    return TaxiiError(
        401,
        "Unauthorized",
        description,
        headers={"WWW-Authenticate": 'Basic realm="trilat TAXII", Bearer realm="trilat TAXII"'},
    )


def _response(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, media_type=TAXII_MEDIA_TYPE, headers=headers)


def _error_response(error: TaxiiError) -> Response:
    return _response(error.body(), error.status, error.headers)


# --- media types and authentication ----------------------------------------------------------


def _media_ranges(header: str) -> list[tuple[str, dict[str, str]]]:
    ranges = []
    for part in header.split(","):
        pieces = [piece.strip() for piece in part.split(";")]
        if not pieces[0]:
            continue
        parameters = {}
        for piece in pieces[1:]:
            name, _, value = piece.partition("=")
            parameters[name.strip().lower()] = value.strip().strip('"')
        ranges.append((pieces[0].lower(), parameters))
    return ranges


def _is_taxii(media: str, parameters: dict[str, str]) -> bool:
    return media == "application/taxii+json" and parameters.get("version", "2.1") == "2.1"


def _check_accept(request: Request) -> None:
    header = request.headers.get("accept", "*/*")
    for media, parameters in _media_ranges(header):
        if parameters.get("q") in ("0", "0.0", "0.00", "0.000"):
            continue
        if _is_taxii(media, parameters) or media in ("*/*", "application/*"):
            return
    raise TaxiiError(
        406,
        "Not Acceptable",
        f"this endpoint answers only {TAXII_MEDIA_TYPE}, not {header[:100]!r}",
    )


def _check_content_type(request: Request) -> None:
    header = request.headers.get("content-type", "")
    ranges = _media_ranges(header)
    if len(ranges) != 1 or not _is_taxii(*ranges[0]):
        raise TaxiiError(
            415,
            "Unsupported Media Type",
            f"POST a TAXII envelope as {TAXII_MEDIA_TYPE}, not {header[:100]!r}",
        )


def _authenticate(node: Node, request: Request) -> User:
    """The user behind a Bearer token or Basic credentials (user name, token as password)."""
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorised("credentials are required (Basic or Bearer)")
    scheme, _, value = header.partition(" ")
    name: str | None = None
    if scheme.lower() == "bearer":
        token = value.strip()
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise _unauthorised("Basic credentials are not base64 of name:token") from None
        name, colon, token = decoded.partition(":")
        if not colon:
            raise _unauthorised("Basic credentials are not base64 of name:token")
    else:
        raise _unauthorised(f"unsupported authorization scheme {scheme[:20]!r}")
    if not token:
        raise _unauthorised("empty token")
    presented = token_hash(token)
    user = node.store.user_by_token(presented)
    if user is None or not same_hash(user.token_hash, presented):
        raise _unauthorised("unknown credentials")
    if name is not None and name != user.name:
        raise _unauthorised("unknown credentials")
    return user


def _may_write(node: Node, user: User) -> bool:
    return user.nationality == node.nation and bool(set(user.roles) & ORIGINATING_ROLES)


# --- collections -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Collection:
    """A TAXII collection: the indicator items with a topic under ``topic``."""

    id: str
    topic: str
    title: str
    description: str

    def holds(self, envelope: Envelope) -> bool:
        return envelope.kind == "indicator" and any(
            topic == self.topic or topic.startswith(self.topic + ".") for topic in envelope.topics
        )

    def resource(self, *, can_write: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "can_read": True,
            "can_write": can_write,
            "media_types": [STIX_MEDIA_TYPE],
        }


def collection_for(topic: str) -> Collection:
    """The collection of *topic* (its id is derived from the topic: stable across restarts)."""
    return Collection(
        id=str(uuid.uuid5(_COLLECTION_NAMESPACE, topic)),
        topic=topic,
        title=f"trilat {topic}",
        description=f"STIX 2.1 objects of indicator items on topic {topic!r} and below, "
        "each one shown only to users its security label allows.",
    )


# --- queries ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Query:
    """The filters of one GET (TAXII 2.1 §3.4)."""

    added_after: datetime | None = None
    limit: int = 100
    after: int = 0
    types: frozenset[str] | None = None
    ids: tuple[str, ...] | None = None
    spec_versions: frozenset[str] | None = None
    versions: tuple[str, ...] = ("last",)
    fingerprint: str = ""


@dataclass(slots=True)
class _Shown:
    """A visible object version: the item and what TAXII says about it."""

    visible: Visible
    stix: dict[str, Any]
    date_added: str
    version: str

    @property
    def seq(self) -> int:
        return self.visible.seq


def _parse_query(
    node: Node, request: Request, collection: str, *, allowed: frozenset[str]
) -> _Query:
    params = request.query_params
    unknown = sorted(
        key
        for key in params
        if key not in ("added_after", "limit", "next")
        and not (key.startswith("match[") and key.endswith("]") and key[6:-1] in allowed)
    )
    if unknown:
        raise TaxiiError(400, "Bad Request", f"unsupported query parameter {unknown[0][:60]!r}")
    added_after: datetime | None = None
    if "added_after" in params:
        try:
            added_after = parse_time(params["added_after"])
        except ValueError:
            raise TaxiiError(
                400,
                "Bad Request",
                f"added_after is not an RFC 3339 timestamp: {params['added_after'][:60]!r}",
            ) from None
    limit = node.page_limit
    if "limit" in params:
        text = params["limit"]
        if not text.isdigit() or int(text) < 1:
            raise TaxiiError(400, "Bad Request", f"limit must be a positive integer: {text[:20]!r}")
        limit = min(int(text), node.page_limit)

    def listed(key: str) -> tuple[str, ...] | None:
        values = params.getlist(f"match[{key}]")
        if not values:
            return None
        parts = tuple(part.strip() for value in values for part in value.split(","))
        if not all(parts):
            raise TaxiiError(400, "Bad Request", f"match[{key}] has an empty value")
        return parts

    types, ids = listed("type"), listed("id")
    spec_versions, versions = listed("spec_version"), listed("version")
    for version in versions or ():
        if version not in ("first", "last", "all"):
            try:
                parse_time(version)
            except ValueError:
                raise TaxiiError(
                    400,
                    "Bad Request",
                    f"match[version] is not first, last, all or a time: {version[:60]!r}",
                ) from None
    fingerprint = hashlib.sha256(
        json.dumps(
            [collection, params.get("added_after"), types, ids, spec_versions, versions]
        ).encode()
    ).hexdigest()[:16]
    after = 0
    if "next" in params:
        token = params["next"]
        cursor, dot, query_tag = token.partition(".")
        try:
            after = node.cursors.decode(cursor)
        except CursorError:
            raise TaxiiError(
                400, "Bad Request", "next is not a token this server issued", code="bad-next"
            ) from None
        if not dot or query_tag != fingerprint:
            raise TaxiiError(
                400,
                "Bad Request",
                "next was issued for another collection or other filters",
                code="bad-next",
            )
    return _Query(
        added_after=added_after,
        limit=limit,
        after=after,
        types=frozenset(types) if types else None,
        ids=ids,
        spec_versions=frozenset(spec_versions) if spec_versions else None,
        versions=versions or ("last",),
        fingerprint=fingerprint,
    )


def _version_of(stix: dict[str, Any], date_added: str) -> str:
    version = stix.get("modified") or stix.get("created") or date_added
    return str(version)


def _same_time(text: str, wanted: Iterable[datetime]) -> bool:
    try:
        at = parse_time(text)
    except ValueError:
        return False
    return any(at == other for other in wanted)


class _Reader:
    """Reads one collection for one user: rows → visible objects → TAXII filters."""

    def __init__(
        self,
        node: Node,
        collection: Collection,
        user: User,
        markings: _Markings | None = None,
    ) -> None:
        self.node, self.collection, self.user = node, collection, user
        self.markings = markings
        self._versions: dict[str, list[_Shown]] = {}
        self._rows: dict[str, list[StoredItem]] = {}
        self.saw_visible = False

    def prefetch(self, stix_ids: Iterable[str]) -> None:
        """Look up the stored items of every id in *stix_ids* not yet known (one query)."""
        wanted = {stix_id for stix_id in stix_ids if stix_id not in self._rows}
        if not wanted:
            return
        found: dict[str, list[StoredItem]] = {stix_id: [] for stix_id in wanted}
        for stix_id, stored in self.node.store.items_by_stix_id(sorted(wanted)):
            if stored.kind == "indicator" and stored.document is not None:
                found[stix_id].append(stored)
        self._rows.update(found)

    def shown(self, rows: Sequence[StoredItem]) -> list[_Shown]:
        out = []
        for visible in self.node.visible(rows, self.user):
            if not self.collection.holds(visible.envelope):
                continue
            body = visible.envelope.body
            if body.get("spec_version") != "2.1" or not isinstance(body.get("type"), str):
                continue  # an indicator body that is not a STIX 2.1 object is not served
            stix = mark(body, visible.envelope.label)
            date_added = format_time(visible.envelope.created)
            out.append(_Shown(visible, stix, date_added, _version_of(stix, date_added)))
        if out and self.markings is not None:
            self.markings.shown(self.user.name, {s.visible.envelope.label for s in out})
        return out

    def _in_topic(self, stored: StoredItem) -> bool:
        prefix = self.collection.topic
        return any(t == prefix or t.startswith(prefix + ".") for t in stored.topics)

    def versions(self, stix_id: str) -> list[_Shown]:
        """Every version of *stix_id* in the collection that the user may see, oldest first."""
        if stix_id in self._versions:
            return self._versions[stix_id]
        self.prefetch([stix_id])
        rows = self._rows[stix_id]
        shown = [s for s in self.shown(rows) if s.stix.get("id") == stix_id]
        shown.sort(key=lambda s: (s.version, s.seq))
        self._versions[stix_id] = shown
        return shown

    def matches(self, candidate: _Shown, query: _Query) -> bool:
        stix = candidate.stix
        if query.added_after is not None and parse_time(candidate.date_added) <= query.added_after:
            return False
        if query.types is not None and stix.get("type") not in query.types:
            return False
        if query.ids is not None and stix.get("id") not in query.ids:
            return False
        if query.spec_versions is not None and stix.get("spec_version") not in query.spec_versions:
            return False
        if "all" in query.versions:
            return True
        stix_id = str(stix.get("id"))
        self.prefetch([stix_id])
        if len(self._rows[stix_id]) == 1:
            versions = [candidate]
        else:
            versions = self.versions(stix_id)
        if not versions:
            return False
        for wanted in query.versions:
            if wanted == "last" and candidate.seq == versions[-1].seq:
                return True
            if wanted == "first" and candidate.seq == versions[0].seq:
                return True
        times = [parse_time(v) for v in query.versions if v not in ("first", "last")]
        return bool(times) and _same_time(candidate.version, times)

    def page(self, query: _Query) -> tuple[list[_Shown], int | None]:
        """Up to ``limit`` matching objects after the query's cursor, and the cursor to go on
        from (None when nothing is left).

        Examines at most ``_scan_budget(limit)`` stored rows, whatever they turn out to be
        (another topic, recalled, before ``added_after``, or hidden from the user), so one
        page costs bounded work however little of the collection the user may see. When the
        budget runs out first the page is short (possibly empty) and the cursor is the last
        row examined: the next page resumes right after it."""
        if query.ids is not None:
            if "all" in query.versions:
                return self._page_versions(query)
            return self._page_by_ids(query)
        # Only the kind is matched in SQL (the (kind, seq) index walk examines exactly the
        # rows it returns); the topic, recalls and added_after are checked here on the
        # indexed columns, before any document is parsed, so that every row the store
        # examined is counted against the budget.
        since = None if query.added_after is None else format_time(query.added_after)
        budget = _scan_budget(query.limit)
        found: list[_Shown] = []
        if since is not None:  # a poll for what is new: read it by time when it is little
            recent = self.node.store.read_created_since(since, query.after, budget, "indicator")
            if recent is not None:
                full = self._take(recent, query, since, found)
                return found, found[-1].seq if full else None
        where = ItemFilter(kind="indicator")
        cursor = query.after
        while budget > 0:
            # enough rows for the rest of the page and one more (to know if there is more)
            want = min(budget, _SCAN_BATCH, max(query.limit + 1 - len(found), 50))
            batch = self.node.store.read_after(cursor, want, where, include_recalled=True)
            budget -= len(batch)
            if self._take(batch, query, since, found):
                return found, found[-1].seq
            if len(batch) < want:
                return found, None
            cursor = batch[-1].seq
        return found, cursor

    def _take(
        self, batch: Sequence[StoredItem], query: _Query, since: str | None, found: list[_Shown]
    ) -> bool:
        """Append the objects of *batch* (in cursor order) that match *query* to *found*, up
        to the limit; True when the page is full and one more match was seen."""
        eligible = [
            row
            for row in batch
            if row.document is not None
            and self._in_topic(row)
            and (since is None or row.created >= since)
        ]
        by_seq = {s.seq: s for s in self.shown(eligible)}
        if "all" not in query.versions:  # one look-up for the whole batch's versions
            self.prefetch(str(s.stix.get("id")) for s in by_seq.values())
        for stored in eligible:
            candidate = by_seq.get(stored.seq)
            if candidate is not None and self.matches(candidate, query):
                if len(found) == query.limit:
                    return True
                found.append(candidate)
        return False

    def _page_versions(self, query: _Query) -> tuple[list[_Shown], int | None]:
        """``page`` for ``match[version]=all`` on named objects (and the versions endpoint):
        a keyset walk of each object's rows in the STIX id index, merged in cursor order,
        examining at most ``_scan_budget(limit)`` rows. ``self.saw_visible`` tells whether
        any version examined was one the user may see."""
        ids = sorted(set(query.ids or ()))
        found: list[_Shown] = []
        cursor = query.after
        budget = _scan_budget(query.limit)
        while budget > 0 and ids:
            want = max(1, min(budget // len(ids), _SCAN_BATCH, query.limit + 1 - len(found)))
            rows: dict[int, StoredItem] = {}
            frontier: int | None = None
            for stix_id in ids:
                batch = self.node.store.stix_versions_after(stix_id, cursor, want)
                budget -= len(batch)
                rows.update((row.seq, row) for row in batch)
                if len(batch) == want:  # this id has more: only rows up to here are whole
                    last = batch[-1].seq
                    frontier = last if frontier is None else min(frontier, last)
            examined = [rows[seq] for seq in sorted(rows) if frontier is None or seq <= frontier]
            eligible = [
                row for row in examined if row.kind == "indicator" and row.document is not None
            ]
            by_seq = {s.seq: s for s in self.shown(eligible) if s.stix.get("id") in ids}
            self.saw_visible = self.saw_visible or bool(by_seq)
            for stored in examined:
                candidate = by_seq.get(stored.seq)
                if candidate is not None and self.matches(candidate, query):
                    if len(found) == query.limit:
                        return found, found[-1].seq
                    found.append(candidate)
                cursor = stored.seq
            if frontier is None:
                return found, None
        return found, cursor

    def _page_by_ids(self, query: _Query) -> tuple[list[_Shown], int | None]:
        candidates: dict[int, _Shown] = {}
        for stix_id in query.ids or ():
            for shown in self.versions(stix_id):
                if shown.seq > query.after:
                    candidates[shown.seq] = shown
        ordered = [candidates[seq] for seq in sorted(candidates)]
        found: list[_Shown] = []
        for candidate in ordered:
            if self.matches(candidate, query):
                if len(found) == query.limit:
                    return found, found[-1].seq
                found.append(candidate)
        return found, None


def _date_headers(shown: Sequence[_Shown]) -> dict[str, str]:
    if not shown:
        return {}
    dates = [s.date_added for s in shown]
    return {"X-TAXII-Date-Added-First": min(dates), "X-TAXII-Date-Added-Last": max(dates)}


def _paged(
    shown: Sequence[_Shown],
    cursor: int | None,
    node: Node,
    query: _Query,
    member: str,
    render: Callable[[_Shown], Any],
) -> Response:
    document: dict[str, Any] = {"more": cursor is not None}
    if cursor is not None:
        document["next"] = f"{node.cursors.encode(cursor)}.{query.fingerprint}"
    if shown:
        document[member] = [render(s) for s in shown]
    return _response(document, headers=_date_headers(shown))


def _manifest_record(shown: _Shown) -> dict[str, Any]:
    return {
        "id": shown.stix["id"],
        "date_added": shown.date_added,
        "version": shown.version,
        "media_type": STIX_MEDIA_TYPE,
    }


# --- adding objects --------------------------------------------------------------------------


def _objects_of(raw: bytes) -> list[Any]:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TaxiiError(400, "Bad Request", f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("objects"), list):
        raise TaxiiError(
            422, "Unprocessable Entity", "the body is not a TAXII envelope with an objects list"
        )
    unknown = sorted(set(document) - {"objects", "more", "next"})
    if unknown:
        raise TaxiiError(422, "Unprocessable Entity", f"unknown envelope member {unknown[0]!r}")
    if not document["objects"]:
        raise TaxiiError(422, "Unprocessable Entity", "the envelope holds no objects")
    return list(document["objects"])


class _Markings:
    """The marking definitions each user has been shown references to, so that a client can
    resolve an ``object_marking_refs`` entry with ``GET objects/{id}/``.

    A label's definitions are registered for a user only when an object with that label is
    shown to them: asking for a definition never confirms a label nobody showed them.
    """

    def __init__(self, per_user: int = 4096) -> None:
        self._per_user = per_user
        self._lock = threading.Lock()
        self._seen: dict[str, OrderedDict[Label, None]] = {}
        self._fixed: dict[str, dict[str, Any]] = {
            TRILAT_IDENTITY_ID: trilat_identity(),
            LABEL_EXTENSION_ID: label_extension_definition(),
            **{marking_id: tlp_marking(tlp) for tlp, marking_id in TLP_MARKING_IDS.items()},
        }

    def shown(self, user: str, labels: Iterable[Label]) -> None:
        with self._lock:
            seen = self._seen.setdefault(user, OrderedDict())
            for label in labels:
                seen[label] = None
                seen.move_to_end(label)
            while len(seen) > self._per_user:
                seen.popitem(last=False)

    def definition(self, user: str, identifier: str) -> dict[str, Any] | None:
        if identifier in self._fixed:
            return copy.deepcopy(self._fixed[identifier])
        if identifier in TLP1_MARKING_IDS:
            return None  # STIX 2.1 TLP 1.0 definitions are built into STIX; not re-served
        with self._lock:
            labels = list(self._seen.get(user, ()))
        for label in labels:
            if identifier in marking_refs(label):
                for definition in label_markings(label):
                    if definition["id"] == identifier:
                        return definition
        return None


# --- the router --------------------------------------------------------------------------------


class _TaxiiEdge:
    """Refuses a TAXII request whose declared body is over the limit with a TAXII error
    (outermost, so that the API's problem+json limit never answers a TAXII client)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(PREFIX):
            for name, value in scope.get("headers", []):
                if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                    response = _error_response(_too_large(self.limit))
                    response.headers["connection"] = "close"
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _too_large(limit: int) -> TaxiiError:
    return TaxiiError(
        413, "Content Too Large", f"the envelope exceeds max_content_length ({limit} bytes)"
    )


def install_taxii(
    app: FastAPI,
    node: Node,
    topics: Sequence[str] = DEFAULT_TOPICS,
    *,
    answer_within: float = ANSWER_WITHIN,
) -> None:
    """Serve TAXII 2.1 for *node* on *app*, one collection per topic prefix in *topics*.

    A POST is answered when its objects are added or after *answer_within* seconds,
    whichever comes first (then with a ``pending`` status resource that completes later).
    Call after the API's own middleware is added (this adds the outermost one).
    """
    if not topics or len(set(topics)) != len(topics):
        raise ValueError("TAXII needs distinct collection topics")
    collections = {c.id: c for c in (collection_for(topic) for topic in topics)}
    statuses = StatusBook(_STATUS_DETAILS)
    adder = Adder(node, statuses)
    markings = _Markings()
    router = APIRouter(include_in_schema=False)

    def guarded(
        handler: Callable[[Request, User], Response],
    ) -> Callable[[Request], Any]:
        def endpoint(request: Request) -> Response:
            try:
                _check_accept(request)
                user = _authenticate(node, request)
                return handler(request, user)
            except TaxiiError as exc:
                return _error_response(exc)
            except StoreError:
                _log.warning("taxii.store_unavailable path=%s", request.url.path)
                return _error_response(
                    TaxiiError(503, "Service Unavailable", "the store is unavailable")
                )
            except TrilatError as exc:
                _log.warning("taxii.failed path=%s error=%s", request.url.path, type(exc).__name__)
                return _error_response(TaxiiError(500, "Internal Error", "internal error"))

        return endpoint

    def collection_of(request: Request) -> Collection:
        identifier = request.path_params["collection"]
        collection = collections.get(identifier)
        if collection is None:
            raise TaxiiError(404, "Not Found", f"no collection {identifier[:60]!r}")
        return collection

    def discovery(request: Request, user: User) -> Response:
        root = str(request.base_url).rstrip("/") + API_ROOT
        return _response(
            {
                "title": f"trilat {node.node_id} ({node.nation})",
                "description": "TAXII 2.1 endpoint of a trilat node: every object is shown "
                "only to users its security label allows.",
                "default": root,
                "api_roots": [root],
            }
        )

    def api_root(request: Request, user: User) -> Response:
        return _response(
            {
                "title": f"trilat {node.node_id}",
                "description": f"Labelled STIX 2.1 objects held by the {node.nation} node.",
                "versions": [TAXII_MEDIA_TYPE],
                "max_content_length": node.body_limit,
            }
        )

    def list_collections(request: Request, user: User) -> Response:
        can_write = _may_write(node, user)
        return _response(
            {"collections": [c.resource(can_write=can_write) for c in collections.values()]}
        )

    def get_collection(request: Request, user: User) -> Response:
        return _response(collection_of(request).resource(can_write=_may_write(node, user)))

    def get_objects(request: Request, user: User) -> Response:
        collection = collection_of(request)
        query = _parse_query(node, request, collection.id, allowed=_MATCH_KEYS)
        shown, cursor = _Reader(node, collection, user, markings).page(query)
        return _paged(shown, cursor, node, query, "objects", lambda s: s.stix)

    def get_manifest(request: Request, user: User) -> Response:
        collection = collection_of(request)
        query = _parse_query(node, request, collection.id, allowed=_MATCH_KEYS)
        shown, cursor = _Reader(node, collection, user, markings).page(query)
        return _paged(shown, cursor, node, query, "objects", _manifest_record)

    def object_query(request: Request, collection: Collection, allowed: frozenset[str]) -> _Query:
        stix_id = request.path_params["object_id"]
        query = _parse_query(node, request, f"{collection.id}/{stix_id}", allowed=allowed)
        return _Query(
            added_after=query.added_after,
            limit=query.limit,
            after=query.after,
            ids=(stix_id,),
            spec_versions=query.spec_versions,
            versions=query.versions,
            fingerprint=query.fingerprint,
        )

    def get_object(request: Request, user: User) -> Response:
        collection = collection_of(request)
        identifier = request.path_params["object_id"]
        if identifier.startswith(("marking-definition--", "identity--", "extension-definition--")):
            definition = markings.definition(user.name, identifier)
            if definition is not None:
                return _response({"more": False, "objects": [definition]})
        query = object_query(request, collection, frozenset({"version", "spec_version"}))
        reader = _Reader(node, collection, user, markings)
        if not reader.versions(query.ids[0] if query.ids else ""):
            raise TaxiiError(404, "Not Found", "no such object in this collection")
        shown, cursor = reader.page(query)
        return _paged(shown, cursor, node, query, "objects", lambda s: s.stix)

    def get_versions(request: Request, user: User) -> Response:
        collection = collection_of(request)
        query = object_query(request, collection, frozenset({"spec_version"}))
        query = _Query(
            added_after=query.added_after,
            limit=query.limit,
            after=query.after,
            ids=query.ids,
            spec_versions=query.spec_versions,
            versions=("all",),
            fingerprint=query.fingerprint,
        )
        reader = _Reader(node, collection, user, markings)
        shown, cursor = reader.page(query)
        if query.after == 0 and not reader.saw_visible:
            # Nothing the user may see among the versions examined: 404, as for an object
            # that does not exist (an object whose first budget of versions are all hidden
            # from the user is not found either: fail closed, never a hint that it exists).
            raise TaxiiError(404, "Not Found", "no such object in this collection")
        return _paged(shown, cursor, node, query, "versions", lambda s: s.version)

    def get_status(request: Request, user: User) -> Response:
        identifier = request.path_params["status_id"]
        try:
            identifier = str(uuid.UUID(identifier))
        except ValueError:
            raise TaxiiError(404, "Not Found", "no such status resource") from None
        resource = statuses.get(identifier, user.name)
        if resource is None:
            raise TaxiiError(404, "Not Found", "no such status resource")
        return _response(resource)

    for path, handler in (
        ("/", discovery),
        ("/trilat/", api_root),
        ("/trilat/collections/", list_collections),
        ("/trilat/collections/{collection}/", get_collection),
        ("/trilat/collections/{collection}/objects/", get_objects),
        ("/trilat/collections/{collection}/manifest/", get_manifest),
        ("/trilat/collections/{collection}/objects/{object_id}/", get_object),
        ("/trilat/collections/{collection}/objects/{object_id}/versions/", get_versions),
        ("/trilat/status/{status_id}/", get_status),
    ):
        router.add_api_route(PREFIX + path, guarded(handler), methods=["GET"])

    async def post_objects(request: Request) -> Response:
        try:
            _check_accept(request)
            user = await run_in_threadpool(_authenticate, node, request)
            collection = collection_of(request)
            _check_content_type(request)
            if not _may_write(node, user):
                raise TaxiiError(
                    403,
                    "Forbidden",
                    f"only {node.nation} users who originate items may add objects",
                )
            try:
                raw = await request.body()
            except BodyTooLarge:
                raise _too_large(node.body_limit) from None
            if len(raw) > node.body_limit:
                raise _too_large(node.body_limit)
            objects = _objects_of(raw)
            requested = format_time(node.clock.now())
            try:
                status, work = adder.submit(collection.topic, user, objects, requested)
            except Busy as exc:
                raise TaxiiError(
                    503, "Service Unavailable", str(exc), headers={"Retry-After": "1"}
                ) from None
            if answer_within > 0:
                await asyncio.wait({asyncio.wrap_future(work)}, timeout=answer_within)
            resource = statuses.get(status.id, user.name)
            if resource is None:  # only a complete status is ever dropped, never this soon
                raise TaxiiError(500, "Internal Error", "the status resource was lost")
            return _response(resource, 202)
        except TaxiiError as exc:
            return _error_response(exc)
        except StoreError:
            return _error_response(
                TaxiiError(503, "Service Unavailable", "the store is unavailable")
            )

    router.add_api_route(
        PREFIX + "/trilat/collections/{collection}/objects/", post_objects, methods=["POST"]
    )

    def unknown(request: Request) -> Response:
        return _error_response(
            TaxiiError(404, "Not Found", f"no TAXII resource at {request.url.path[:100]!r}")
        )

    router.add_api_route(
        PREFIX + "/{rest:path}", unknown, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]
    )
    app.include_router(router)
    app.add_middleware(_TaxiiEdge, limit=node.body_limit)
