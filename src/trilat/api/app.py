"""The REST API of a node (SPEC §9): ``create_app(node)`` and ``app_for(node_dir)``.

Bearer tokens on every route but ``/health``; every error is problem+json
(``api.problems``); request bodies are limited while they are read; every read path goes
through ``Node.visible`` and so through ``Policy.may_view``.
"""

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trilat.agreement_files import load_policy
from trilat.api import problems
from trilat.api.auth import same_hash, token_hash
from trilat.api.cursor import CursorError
from trilat.api.federation import federation_running, install_federation
from trilat.api.ingest import ingest_running, install_ingest
from trilat.api.node import NewItem, Node, Visible
from trilat.api.problems import BodyTooLarge, Problem, problem_body
from trilat.api.schemas import (
    NATION_PATTERN,
    TOPIC_PATTERN,
    ConsentIn,
    DocumentOut,
    EnvelopeOut,
    Health,
    InclusionProofOut,
    ItemIn,
    ItemPage,
    Kind,
    ProblemOut,
    RollupIn,
    RollupOut,
)
from trilat.api.sse import Published, Subscriber, format_event
from trilat.api.taxii import DEFAULT_TOPICS, install_taxii
from trilat.api.web import mount_web
from trilat.config import Settings, load_settings
from trilat.core.clock import Clock, format_time, parse_time
from trilat.core.errors import LabelError, StoreError
from trilat.core.items import Envelope
from trilat.core.labels import format_banner, format_portion, parse_label, roll_up
from trilat.federation.clock import scenario_clock
from trilat.ingest.settings import ingest_settings
from trilat.store import ItemFilter, StoredItem, User, open_store

_log = logging.getLogger(__name__)

API: Final = "/api/v1"
_ID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_DISCONNECT_POLL: Final = 0.5  # seconds between checks that an idle SSE client is still there
_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    status: {"model": ProblemOut, "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 413, 422)
}

LABEL_NATIONAL_HEADER: Final = "label-national"
_NATIONAL_HEADER_DOC: Final[dict[str, Any]] = {
    "headers": {
        "Label-National": {
            "description": "The item's banner in the reader's national terms (SPEC §2), "
            "percent-encoded UTF-8; absent when no agreement in force gives a table.",
            "schema": {"type": "string"},
        }
    }
}


class EdgeMiddleware:
    """Request id, live-event loop binding and the request body limit, enforced while
    reading: a declared length over the limit is refused before the body is read."""

    def __init__(self, app: ASGIApp, node: Node) -> None:
        self.app = app
        self.node = node

    def _limit(self, path: str) -> int:
        if path.startswith(f"{API}/documents"):
            return self.node.document_limit
        return self.node.body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.node.broadcaster.bind(asyncio.get_running_loop())
        request_id = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        limit = self._limit(scope.get("path", ""))
        header_id = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header_id]
            await send(message)

        declared = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                with contextlib.suppress(ValueError):
                    declared = int(value)
        if declared is not None and declared > limit:
            await _send_problem(
                send_with_id,
                413,
                "content-too-large",
                f"request body exceeds {limit} bytes",
                request_id,
            )
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send_with_id)


async def _send_problem(send: Send, status: int, slug: str, detail: str, rid: str) -> None:
    body = json.dumps(problem_body(status, slug, detail, rid)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", problems.PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json(document: str, status: int = 200) -> JSONResponse:
    response = JSONResponse(None, status_code=status)
    response.body = document.encode("utf-8")
    response.headers["content-length"] = str(len(response.body))
    return response


def _page_document(items: list[Visible], cursor: str, national: dict[str, str]) -> str:
    extra = (
        ',"label_national":' + json.dumps(national, ensure_ascii=False, separators=(",", ":"))
        if national
        else ""
    )
    return (
        '{"items":['
        + ",".join(v.document for v in items)
        + '],"next":'
        + json.dumps(cursor)
        + extra
        + "}"
    )


def _national_map(node: Node, items: list[Visible], user: User) -> dict[str, str]:
    """Item id → the item's banner in the reader's national terms, where a table exists."""
    found: dict[str, str] = {}
    for visible in items:
        text = node.label_national(visible.envelope, user.nationality)
        if text is not None:
            found[visible.envelope.id] = text
    return found


def _with_national(
    response: JSONResponse, node: Node, visible: Visible, user: User
) -> JSONResponse:
    """Add the ``Label-National`` header (percent-encoded UTF-8) when a table exists; the
    body stays the signed envelope exactly as stored."""
    text = node.label_national(visible.envelope, user.nationality)
    if text is not None:
        response.headers[LABEL_NATIONAL_HEADER] = quote(text, safe=" /,-")
    return response


def create_app(node: Node, *, taxii_collections: Sequence[str] = DEFAULT_TOPICS) -> FastAPI:
    """The FastAPI application of *node*, serving one TAXII collection per topic prefix in
    *taxii_collections*."""
    bearer = HTTPBearer(auto_error=False, description="A user token from `trilat user add`.")

    def current_user(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> User:
        unauthorised = Problem(
            401,
            "unauthenticated",
            "a valid bearer token is required",
            headers={"WWW-Authenticate": 'Bearer realm="trilat"'},
        )
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise unauthorised
        presented = token_hash(credentials.credentials)
        user = node.store.user_by_token(presented)
        if user is None or not same_hash(user.token_hash, presented):
            raise unauthorised
        return user

    CurrentUser = Annotated[User, Depends(current_user)]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        node.broadcaster.bind(asyncio.get_running_loop())
        watcher = asyncio.create_task(_watch_external_writes(node))
        signer = asyncio.create_task(_sign_checkpoints(node))
        async with federation_running(app), ingest_running(app):
            yield
        for task in (watcher, signer):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        node.broadcaster.close()
        try:  # leave a signed tree head behind on a clean stop
            await run_in_threadpool(node.checkpoint)
        except StoreError:
            _log.warning("audit.checkpoint_at_shutdown_failed")

    app = FastAPI(
        title="trilat node",
        version="1",
        description=f"The {node.nation} node's REST API (SPEC §9).",
        openapi_url=f"{API}/openapi.json",
        docs_url=f"{API}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    problems.install(app)
    install_federation(app, node)
    app.add_middleware(EdgeMiddleware, node=node)
    install_taxii(app, node, taxii_collections)  # TAXII 2.1 at /taxii2/ (outermost: its own 413)
    app.state.node = node

    def decode_cursor(text: str | None) -> int:
        if text is None or text == "":
            return 0
        try:
            return node.cursors.decode(text)
        except CursorError as exc:
            raise Problem(
                400, "cursor-invalid", f"{exc}: pass a `next` this node returned", parameter="after"
            ) from None

    @app.get(
        f"{API}/health", response_model=Health, response_model_exclude_none=True, tags=["node"]
    )
    def health() -> Health:
        """Liveness: the node answers and its store is readable."""
        try:
            node.store.head()
        except StoreError as exc:
            raise Problem(503, "store-unavailable", "store unavailable") from exc
        providers = getattr(app.state, "health_providers", None) or {}
        components = {name: provide() for name, provide in providers.items()} or None
        return Health(status="ok", nation=node.nation, node=node.node_id, components=components)

    @app.post(
        f"{API}/items",
        status_code=201,
        response_model=EnvelopeOut,
        responses={201: _NATIONAL_HEADER_DOC, **_ERRORS},
        tags=["items"],
    )
    def post_item(payload: ItemIn, user: CurrentUser) -> JSONResponse:
        """Originate an item: validated per kind, sealed with the node key, stored, audited."""
        new = NewItem(
            kind=payload.kind,
            label=payload.label,
            topics=tuple(payload.topics),
            body=payload.body,
            recipients=tuple(payload.recipients),
            refs=tuple(payload.refs),
            supersedes=payload.supersedes,
        )
        visible = node.originate(new, user)
        response = _json(visible.document, 201)
        response.headers["location"] = f"{API}/items/{visible.envelope.id}"
        return _with_national(response, node, visible, user)

    @app.get(f"{API}/items", response_model=ItemPage, responses=_ERRORS, tags=["items"])
    def list_items(
        user: CurrentUser,
        after: Annotated[str | None, Query(max_length=64, description="A `next` cursor.")] = None,
        limit: Annotated[int, Query(ge=1, le=node.page_limit)] = 100,
        kind: Annotated[Kind | None, Query()] = None,  # type: ignore[valid-type]
        topic: Annotated[
            str | None, Query(max_length=200, pattern=TOPIC_PATTERN, description="Prefix.")
        ] = None,
        bbox: Annotated[
            str | None, Query(max_length=200, description="west,south,east,north (degrees)")
        ] = None,
        since: Annotated[str | None, Query(max_length=40, description="RFC 3339 time")] = None,
    ) -> JSONResponse:
        """The items you may see, oldest first, after an opaque cursor."""
        where = ItemFilter(
            kind=kind, topic=topic, bbox=_parse_bbox(bbox), since=_parse_since(since)
        )
        items, cursor = node.page(decode_cursor(after), limit, where, user)
        national = _national_map(node, items, user)
        return _json(_page_document(items, node.cursors.encode(cursor), national))

    @app.get(
        f"{API}/items/{{item_id}}",
        response_model=EnvelopeOut,
        responses={200: _NATIONAL_HEADER_DOC, **_ERRORS},
        tags=["items"],
    )
    def get_item(
        item_id: Annotated[str, PathParam(max_length=64)], user: CurrentUser
    ) -> JSONResponse:
        """One item, if it exists and you may see it (404 otherwise, never 403)."""
        visible = node.read(item_id, user)
        return _with_national(_json(visible.document), node, visible, user)

    @app.post(
        f"{API}/items/{{item_id}}/consent",
        status_code=201,
        response_model=EnvelopeOut,
        responses={201: _NATIONAL_HEADER_DOC, **_ERRORS},
        tags=["items"],
    )
    def post_consent(
        item_id: Annotated[str, PathParam(max_length=64)], payload: ConsentIn, user: CurrentUser
    ) -> JSONResponse:
        """Sign the originator nation's consent to onward release of an item."""
        for index, nation in enumerate(payload.to):
            if not _nation_ok(nation):
                raise Problem(422, "invalid-request", f"to[{index}]: not a nation: {nation!r}")
        visible = node.consent(item_id, payload.to, user)
        return _with_national(_json(visible.document, 201), node, visible, user)

    @app.post(
        f"{API}/documents",
        status_code=201,
        response_model=DocumentOut,
        responses=_ERRORS,
        tags=["items"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )
    async def post_document(request: Request, user: CurrentUser) -> DocumentOut:
        """Upload document bytes (streamed, size-limited); cite the hash in a `document` item."""
        if user.nationality != node.nation or ("public" in user.roles and len(user.roles) == 1):
            raise Problem(403, "forbidden", f"only {node.nation} users upload documents")
        digest = hashlib.sha256()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > node.document_limit:
                raise BodyTooLarge(node.document_limit)
            digest.update(chunk)
            chunks.append(chunk)
        if size == 0:
            raise Problem(422, "invalid-request", "empty document")
        data = b"".join(chunks)
        await run_in_threadpool(node.put_document, data)
        return DocumentOut(sha256=digest.hexdigest(), size=size)

    @app.get(
        f"{API}/documents/{{sha256}}",
        response_class=Response,
        responses={
            200: {"content": {"application/octet-stream": {}}, "description": "the bytes"},
            **_ERRORS,
        },
        tags=["items"],
    )
    def get_document(
        sha256: Annotated[str, PathParam(max_length=64)], user: CurrentUser
    ) -> Response:
        """Download document bytes cited by a `document` item you may see (404 otherwise)."""
        data, name = node.document(sha256, user)
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "document"
        return Response(
            data,
            media_type="application/octet-stream",
            headers={
                "content-disposition": f'attachment; filename="{safe}"',
                "x-content-type-options": "nosniff",
            },
        )

    @app.get(
        f"{API}/events",
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "item events"},
            **_ERRORS,
        },
        response_class=StreamingResponse,
        tags=["items"],
    )
    async def events(
        request: Request,
        user: CurrentUser,
        after: Annotated[str | None, Query(max_length=64)] = None,
        last_event_id: Annotated[str | None, Header(max_length=64)] = None,
    ) -> StreamingResponse:
        """Live items you may see, as SSE, from now on; resume with `Last-Event-ID` (or `after`).

        Each `item` event (the signed envelope) may be followed by a `label` event with the
        same id: `{"id", "label_national"}`, the banner in your nation's terms."""
        resume = last_event_id or after
        # Read the head before subscribing: whatever commits in between is caught up from
        # the store, whatever commits after is also queued and skipped by its cursor.
        start = decode_cursor(resume) if resume else await run_in_threadpool(node.store.head)
        subscriber = node.broadcaster.subscribe()
        stream = _event_stream(node, user, start, subscriber, request.is_disconnected)
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    @app.post(f"{API}/labels/rollup", response_model=RollupOut, responses=_ERRORS, tags=["labels"])
    def rollup(payload: RollupIn, user: CurrentUser) -> RollupOut:
        """Roll banners or portion marks up into the banner that covers them all (SPEC §2):
        highest level, intersected release lists, NOFORN when fewer than two nations remain."""
        labels = []
        for index, text in enumerate(payload.labels):
            try:
                labels.append(parse_label(text))
            except LabelError as exc:
                raise Problem(
                    422,
                    "label-invalid",
                    f"labels[{index}]: {exc}",
                    label=index,
                    token=exc.token,
                    position=exc.position,
                ) from None
        rolled = roll_up(labels)
        return RollupOut(banner=format_banner(rolled), portion=format_portion(rolled))

    @app.get(
        f"{API}/audit/checkpoint",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {}}}, **_ERRORS},
        tags=["audit"],
    )
    def checkpoint(user: CurrentUser) -> PlainTextResponse:
        """The audit log's current signed checkpoint (C2SP tlog-checkpoint); node nationals
        only, since the log's size counts items a foreign viewer may not see."""
        _require_national(node, user)
        return PlainTextResponse(node.checkpoint())

    @app.get(
        f"{API}/audit/proof/{{leaf}}",
        response_model=InclusionProofOut,
        responses=_ERRORS,
        tags=["audit"],
    )
    def proof(
        leaf: Annotated[int, PathParam(ge=0, le=2**62)],
        user: CurrentUser,
        size: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    ) -> dict[str, Any]:
        """Inclusion proof of a leaf in the tree of `size` leaves (default: current);
        node nationals only."""
        _require_national(node, user)
        return node.inclusion(leaf, size)

    mount_web(app)
    return app


async def _watch_external_writes(node: Node, every: float = 1.0) -> None:
    """Send live subscribers to the store when rows appear that this process did not
    announce (written by another process on the same database)."""
    while True:
        await asyncio.sleep(every)
        try:
            head = await run_in_threadpool(node.store.head)
        except StoreError:
            continue
        if head > node.published_head:
            node.published_head = head
            node.broadcaster.catch_up()


async def _sign_checkpoints(node: Node) -> None:
    """Sign and store a checkpoint every ``checkpoint_interval`` seconds when the log grew
    (``Node.checkpoint`` signs nothing new while the size is unchanged)."""
    while True:
        await asyncio.sleep(node.checkpoint_interval)
        try:
            await run_in_threadpool(node.checkpoint)
        except StoreError:
            _log.warning("audit.checkpoint_failed")


async def _event_stream(
    node: Node,
    user: User,
    start: int,
    subscriber: Subscriber,
    is_disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    cursor = start
    loop = asyncio.get_running_loop()
    try:
        yield "retry: 2000\n\n"
        while not subscriber.closed:
            # Catch up from the store (the source of truth) until the head.
            while True:
                batch: list[StoredItem] = await run_in_threadpool(
                    node.store.read_after, cursor, 200
                )
                if not batch:
                    break
                shown = await run_in_threadpool(node.visible, batch, user)
                for visible in shown:
                    event_id = node.cursors.encode(visible.seq)
                    yield format_event(event_id, "item", visible.document)
                    if label := _label_event(node, user, event_id, visible.envelope):
                        yield label
                cursor = batch[-1].seq
                if len(batch) < 200:
                    break
            subscriber.lagged = False
            # Then follow live publications until the queue overflows.
            quiet_since = loop.time()
            while not subscriber.lagged and not subscriber.closed:
                try:
                    event = await asyncio.wait_for(subscriber.queue.get(), _DISCONNECT_POLL)
                except TimeoutError:
                    if await is_disconnected():
                        return
                    if loop.time() - quiet_since >= node.keepalive:
                        quiet_since = loop.time()
                        yield ": keepalive\n\n"
                    continue
                if event is None:
                    return
                if event.seq <= cursor:
                    continue
                async for chunk in _live(node, user, event):
                    yield chunk
                cursor = event.seq
            while not subscriber.queue.empty():
                subscriber.queue.get_nowait()
    finally:
        node.broadcaster.unsubscribe(subscriber)


async def _live(node: Node, user: User, event: Published) -> AsyncIterator[str]:
    decision = node.view(event.envelope, user, node.clock.now())
    if not decision.allowed:
        return
    if "audit-view" in decision.requires:
        entry = node.view_entry(event.envelope, user, decision, node.clock.now())
        await run_in_threadpool(node.store.append_audit, [entry])
    event_id = node.cursors.encode(event.seq)
    yield format_event(event_id, "item", event.document)
    if label := _label_event(node, user, event_id, event.envelope):
        yield label


def _label_event(node: Node, user: User, event_id: str, envelope: Envelope) -> str:
    """A ``label`` event after an ``item`` event (same id) with the item's banner in the
    reader's national terms; nothing when no agreement gives a table."""
    text = node.label_national(envelope, user.nationality)
    if text is None:
        return ""
    data = json.dumps({"id": envelope.id, "label_national": text}, ensure_ascii=False)
    return format_event(event_id, "label", data)


def _require_national(node: Node, user: User) -> None:
    if user.nationality != node.nation or set(user.roles) <= {"public"}:
        raise Problem(403, "forbidden", f"the audit log is open to {node.nation} staff only")


def _nation_ok(code: str) -> bool:
    return re.fullmatch(NATION_PATTERN, code) is not None


def _parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    parts = text.split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        west, south, east, north = (float(part) for part in parts)
    except ValueError:
        raise Problem(
            422,
            "invalid-request",
            "bbox must be west,south,east,north in degrees",
            parameter="bbox",
        ) from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise Problem(422, "invalid-request", "bbox out of range or inverted", parameter="bbox")
    return west, south, east, north


def _parse_since(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return format_time(parse_time(text))
    except ValueError:
        raise Problem(
            422, "invalid-request", f"since is not an RFC 3339 time: {text!r}", parameter="since"
        ) from None


def read_private_key(path: Path) -> bytes:
    """The node's raw Ed25519 private key from its key file (base64 of 32 bytes)."""
    try:
        key = base64.b64decode(path.read_text(encoding="ascii").strip(), validate=True)
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read node key {path}: {type(exc).__name__}") from exc
    if len(key) != 32:
        raise StoreError(f"node key {path} is not a 32-byte Ed25519 key")
    return key


def build_node(settings: Settings, *, clock: Clock | None = None) -> Node:
    """Open the store, key and agreements named by *settings* into a Node."""
    store = open_store(settings.database_url)
    try:
        return Node(
            nation=settings.nation,
            node_id=settings.node_id,
            store=store,
            policy=load_policy(settings.agreements_dir),
            private_key=read_private_key(settings.key_path),
            clock=clock,
            sse_queue=settings.sse_queue,
            page_limit=settings.page_limit,
            body_limit=settings.body_limit,
            document_limit=settings.document_limit,
            checkpoint_interval=settings.checkpoint_interval,
        )
    except BaseException:
        store.close()
        raise


def app_for(node_dir: Path) -> FastAPI:
    """The application of the node initialised in *node_dir* (settings read once here)."""
    settings = load_settings(node_dir)
    node = build_node(settings, clock=scenario_clock(node_dir))
    app = create_app(node, taxii_collections=settings.taxii_collections or DEFAULT_TOPICS)
    if settings.ingest:  # an [ingest] section turns feeds, CoT and live analytics on
        install_ingest(
            app, node, ingest_settings(settings.ingest, nation=settings.nation, base=node_dir)
        )
    return app
