"""The federation endpoints of a node and the wiring of its replication links.

``install_federation(app, node)`` builds the node's ``Federation`` and includes its router:
``POST /api/v1/federation/push`` (a signed batch from a peer), ``GET …/pull`` (catch-up by
cursor), ``GET …/checkpoint`` (signed checkpoint plus consistency proof, for cosigning),
``POST …/cosignature`` (a peer returns its cosignature of this node's checkpoint),
``GET …/card`` (this node's card, public) and ``GET …/status`` (admins: links, cursors,
pending consents, cosigned checkpoints, this node's witnessed checkpoint, fork alerts).
Peer routes authenticate the sending node's request signature, never a bearer token.
``federation_running(app)`` is the lifespan hook that starts and stops the outbound links
with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Final

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from trilat.api.auth import same_hash, token_hash
from trilat.api.node import Node
from trilat.api.problems import Problem
from trilat.core.errors import AuditError, DecodeError, SignatureError
from trilat.core.items import Envelope
from trilat.federation.auth import RequestRefused, SenderKey
from trilat.federation.cards import card_document
from trilat.federation.service import API, Federation, consent_of

_REFUSALS: Final = {
    "unsigned": 401,
    "unknown-key": 401,
    "bad-signature": 401,
    "stale": 401,
    "replayed": 409,
}


def build_federation(node: Node) -> Federation:
    """The federation side of *node*, sharing its store, policy, key, clock and lock."""

    def stored(seq: int, envelope: Envelope, document: str) -> None:
        if envelope.kind == "consent":
            consent = consent_of(envelope)
            if consent is not None:
                node._consents.append(consent)  # the node's view rules see it at once
        announce(seq, envelope, document)

    federation = Federation(
        store=node.store,
        policy=node.policy,
        nation=node.nation,
        node_id=node.node_id,
        private_key=node._private_key,  # the node's signing key: envelopes, requests, cosigns
        clock=node.clock,
        checkpoint_text=node.checkpoint,
        on_stored=stored,
        write_lock=node._write_lock,  # arrivals publish in commit order with local items
    )
    announce = node.announce

    def announce_and_wake(seq: int, envelope: Envelope, document: str) -> None:
        announce(seq, envelope, document)
        federation.wake()  # a new local item: the links need not wait for their next poll

    node.announce = announce_and_wake  # type: ignore[method-assign]
    return federation


def install_federation(app: FastAPI, node: Node) -> Federation:
    """Create the node's federation, keep it on ``app.state`` and add its routes."""
    federation = build_federation(node)
    app.state.federation = federation
    app.include_router(_router(node, federation))
    return federation


@contextlib.asynccontextmanager
async def federation_running(app: FastAPI) -> AsyncIterator[None]:
    """Run the outbound links while the server runs (lifespan hook)."""
    federation: Federation | None = getattr(app.state, "federation", None)
    if federation is None:
        yield
        return
    federation.start()
    try:
        yield
    finally:
        await run_in_threadpool(federation.stop)


def _refused(exc: RequestRefused) -> Problem:
    return Problem(_REFUSALS.get(exc.slug, 401), f"peer-{exc.slug}", exc.detail, reason=exc.slug)


def _router(node: Node, federation: Federation) -> APIRouter:
    router = APIRouter(prefix=API, tags=["federation"])

    async def peer(request: Request, body: bytes) -> tuple[SenderKey, str]:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        try:
            return await run_in_threadpool(
                federation.authenticate, request.headers, request.method, target, body
            )
        except RequestRefused as exc:
            raise _refused(exc) from None

    async def read_body(request: Request) -> bytes:
        try:
            return await asyncio.wait_for(request.body(), federation.limits.read_timeout)
        except TimeoutError:
            raise Problem(408, "request-timeout", "request body not received in time") from None

    @router.post("/push", summary="Receive a signed batch of items from a peer node")
    async def push(request: Request) -> JSONResponse:
        body = await read_body(request)
        sender, nation = await peer(request, body)
        try:
            answer = await run_in_threadpool(federation.receive, sender, nation, body)
        except DecodeError as exc:
            raise Problem(422, "item-invalid", str(exc)) from None
        return JSONResponse(answer)

    @router.get("/pull", summary="Items this node may release to the calling peer")
    async def pull(
        request: Request,
        after: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> Response:
        sender, nation = await peer(request, b"")
        page = await run_in_threadpool(federation.serve_pull, sender.node, nation, after, limit)
        return Response(page, media_type="application/json")

    @router.get("/checkpoint", summary="Signed checkpoint and consistency proof, for cosigning")
    async def checkpoint(
        request: Request, since: Annotated[int, Query(ge=0, le=2**62)] = 0
    ) -> JSONResponse:
        await peer(request, b"")
        return JSONResponse(await run_in_threadpool(federation.serve_checkpoint, since))

    @router.post("/cosignature", summary="Receive a peer's cosignature of this node's checkpoint")
    async def cosignature(request: Request) -> JSONResponse:
        body = await read_body(request)
        sender, _ = await peer(request, body)
        try:
            stored = await run_in_threadpool(federation.receive_cosignature, sender, body)
        except (DecodeError, AuditError, SignatureError) as exc:
            raise Problem(422, "cosignature-invalid", str(exc)[:300]) from None
        return JSONResponse({"stored": stored})

    @router.get("/card", summary="This node's card (public)")
    def card(request: Request) -> JSONResponse:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(card_document(federation.card(base)))

    @router.get("/status", summary="Links, cursors, pending consents, checkpoints, alerts")
    def status(request: Request) -> JSONResponse:
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        user = node.store.user_by_token(token_hash(token)) if scheme.lower() == "bearer" else None
        if user is None or not same_hash(user.token_hash, token_hash(token)):
            raise Problem(
                401,
                "unauthenticated",
                "a valid bearer token is required",
                headers={"WWW-Authenticate": 'Bearer realm="trilat"'},
            )
        if "admin" not in user.roles:
            raise Problem(403, "forbidden", "federation status is for admins")
        return JSONResponse(json.loads(json.dumps(federation.status())))

    return router


__all__ = ["build_federation", "federation_running", "install_federation"]
