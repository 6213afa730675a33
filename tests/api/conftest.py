"""A USA node on each store backend, its users, and a real uvicorn server when needed."""

from __future__ import annotations

import asyncio
import socket
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

with warnings.catch_warnings():
    # starlette asks for its httpx2 fork; the pinned httpx drives the ASGI app just as well
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from tests.store.backends import BACKENDS, postgres_database, store_url_for
from trilat.agreement_files import load_policy
from trilat.api.app import create_app
from trilat.api.auth import new_token, token_hash
from trilat.api.node import Node
from trilat.core._crypto import generate_private_key
from trilat.core.labels import Classification
from trilat.store import User, open_store

__all__ = ["postgres_database"]

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}

# name: (nationality, clearance, roles)
PEOPLE: dict[str, tuple[str, Classification, tuple[str, ...]]] = {
    "admin": ("USA", Classification.TOP_SECRET, ("admin",)),
    "analyst": ("USA", Classification.SECRET, ("analyst",)),
    "officer": ("USA", Classification.TOP_SECRET, ("disclosure_officer",)),
    "kenji": ("JPN", Classification.SECRET, ("liaison",)),
    "minho": ("KOR", Classification.SECRET, ("liaison",)),
    "citizen": ("USA", Classification.UNCLASSIFIED, ("public",)),
}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The one check of the error shape (RFC 9457), used on every route."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    document = response.json()
    assert PROBLEM_KEYS <= set(document), document
    assert document["status"] == status
    assert document["type"].startswith("/problems/")
    assert document["instance"].startswith("urn:uuid:")
    if status >= 500:
        assert document["detail"] == "internal error"
    return document


@dataclass
class NodeUnderTest:
    node: Node
    tokens: dict[str, str]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def make_node(url: str, **options: Any) -> NodeUnderTest:
    store = open_store(url)
    tokens: dict[str, str] = {}
    for name, (nationality, clearance, roles) in PEOPLE.items():
        token = new_token()
        store.add_user(User(name, nationality, int(clearance), roles, token_hash(token)))
        tokens[name] = token
    node = Node(
        nation="USA",
        node_id="usa-1",
        store=store,
        policy=load_policy(),
        private_key=generate_private_key(),
        **options,
    )
    return NodeUnderTest(node, tokens)


@pytest.fixture(params=BACKENDS)
def usa(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NodeUnderTest]:
    made = make_node(
        store_url_for(request.param, request, tmp_path),
        keepalive=0.2,
        body_limit=64 * 1024,
        document_limit=256 * 1024,
    )
    yield made
    made.node.store.close()


@pytest.fixture
def client(usa: NodeUnderTest) -> Iterator[TestClient]:
    with TestClient(create_app(usa.node), raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def serve_in_thread(app: Any) -> Served:
    """Run *app* under a real uvicorn server on 127.0.0.1, on a port the OS picks."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue until uvicorn accepts: no wait needed
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2, lifespan="on")
    server = uvicorn.Server(config)

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            # past its graceful timeout uvicorn cancels what still runs but leaves those
            # connections open: close them while the loop can still close their sockets
            for connection in list(server.server_state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()
            for _ in range(3):
                await asyncio.sleep(0)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    return Served(f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture
def served(usa: NodeUnderTest) -> Iterator[Served]:
    running = serve_in_thread(create_app(usa.node))
    yield running
    running.server.should_exit = True
    running.thread.join(timeout=15)
    assert not running.thread.is_alive()
