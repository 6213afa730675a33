"""The node side of ingest: the ``NodePort`` handed to ``trilat.ingest``, and its lifespan hook.

``install_ingest(app, node, settings)`` builds the runner (nothing when no input is
configured and no analytics is wanted) and registers its counters as the ``ingest`` member of
``GET /api/v1/health``; ``ingest_running(app)`` starts it with the server and stops it after.

Items ingest originates go through ``Node.originate`` as a service actor of the node's nation
(``ingest:ais:<input>``, ``cot:<user>``, ``ingest:analytics``): the same body schemas, sealing,
group commit and audit leaf as ``POST /items``; the actor is never a login (it has no token).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from trilat.api.auth import same_hash, token_hash
from trilat.api.node import NewItem, Node
from trilat.core.errors import TrilatError
from trilat.core.items import Envelope, Item
from trilat.core.labels import Classification, format_banner
from trilat.core.policy import Decision, Releasable
from trilat.ingest.port import Accepted, Person
from trilat.ingest.runner import IngestRunner
from trilat.ingest.settings import IngestSettings
from trilat.store import User

_log = logging.getLogger(__name__)
_CATCH_UP = 500


class _Follower:
    """Accepted items in commit order: live from the broadcaster, from the store after a lag."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.cursor = node.store.head()
        self.subscriber = node.broadcaster.subscribe()
        self.buffer: collections.deque[Accepted] = collections.deque()

    def __aiter__(self) -> _Follower:
        return self

    async def __anext__(self) -> Accepted:
        subscriber = self.subscriber
        try:
            while True:
                if self.buffer:
                    return self.buffer.popleft()
                if subscriber.closed:
                    raise StopAsyncIteration
                if subscriber.lagged:
                    await self._catch_up()
                    continue
                event = await subscriber.queue.get()
                if event is None:
                    raise StopAsyncIteration
                if event.seq > self.cursor:
                    self.cursor = event.seq
                    self.buffer.append(Accepted(event.seq, event.envelope))
        except (StopAsyncIteration, asyncio.CancelledError):
            self.node.broadcaster.unsubscribe(subscriber)
            raise

    async def _catch_up(self) -> None:
        while not self.subscriber.queue.empty():  # the store has all of these
            self.subscriber.queue.get_nowait()
        while True:
            batch = await run_in_threadpool(self.node.store.read_after, self.cursor, _CATCH_UP)
            for stored in batch:
                self.cursor = stored.seq
                try:
                    envelope = self.node.envelope_of(stored)
                except (TrilatError, ValueError):
                    continue
                if envelope is not None:
                    self.buffer.append(Accepted(stored.seq, envelope))
            if len(batch) < _CATCH_UP:
                break
        self.subscriber.lagged = False
        _log.info("ingest.follow_caught_up cursor=%d", self.cursor)


class NodeIngestPort:
    """``trilat.ingest.port.NodePort`` over a :class:`Node`."""

    def __init__(self, node: Node, *, workers: int = 8) -> None:
        self.node = node
        self.nation = node.nation
        self.node_id = node.node_id
        self.clock = node.clock
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="ingest-accept")

    def _one(self, item: Item, user: User) -> Envelope | Exception:
        new = NewItem(
            kind=item.kind,
            label=format_banner(item.label),
            topics=tuple(item.topics),
            body=dict(item.body),
            recipients=tuple(item.recipients),
            refs=tuple(item.refs),
            supersedes=item.supersedes,
        )
        try:
            return self.node.originate(new, user).envelope
        except (TrilatError, ValueError) as exc:
            return exc

    def accept(self, items: Sequence[Item], actor: str) -> list[Envelope | Exception]:
        user = User(actor, self.nation, int(Classification.TOP_SECRET), ("operator",), "")
        if len(items) == 1:
            return [self._one(items[0], user)]
        # concurrent callers share one transaction (the node's group commit)
        return list(self._pool.map(lambda item: self._one(item, user), items))

    def follow(self) -> AsyncIterator[Accepted]:
        return _Follower(self.node)

    def may_view(self, subject: Releasable, person: Person) -> Decision:
        return self.node.policy.may_view(
            subject,
            person.nation,
            person.clearance,
            self.nation,
            self.clock.now(),
            self.node.consents_for(subject),  # type: ignore[arg-type]
        )

    @staticmethod
    def _person(user: User | None) -> Person | None:
        if user is None:
            return None
        return Person(user.name, user.nationality, Classification(user.clearance))

    def person(self, name: str) -> Person | None:
        return self._person(next((u for u in self.node.store.users() if u.name == name), None))

    def person_by_token(self, token: str) -> Person | None:
        presented = token_hash(token)
        user = self.node.store.user_by_token(presented)
        if user is None or not same_hash(user.token_hash, presented):
            return None
        return self._person(user)

    def load_state(self, name: str) -> str | None:
        return self.node.store.get_meta(f"ingest.{name}")

    def save_state(self, name: str, text: str) -> None:
        self.node.store.set_meta(f"ingest.{name}", text)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def install_ingest(app: FastAPI, node: Node, settings: IngestSettings) -> IngestRunner:
    """Build the node's ingest runner and show its counters on ``/api/v1/health``."""
    runner = IngestRunner(NodeIngestPort(node), settings)
    app.state.ingest = runner
    providers: dict[str, Any] = getattr(app.state, "health_providers", None) or {}
    providers["ingest"] = runner.health
    app.state.health_providers = providers
    return runner


@asynccontextmanager
async def ingest_running(app: FastAPI) -> AsyncIterator[None]:
    """Lifespan hook: run the installed ingest (if any) while the server runs."""
    runner: IngestRunner | None = getattr(app.state, "ingest", None)
    if runner is None:
        yield
        return
    await runner.start()
    try:
        yield
    finally:
        await runner.stop()
        port = runner.port
        if isinstance(port, NodeIngestPort):
            port.close()
