"""Live fan-out of accepted items to SSE subscribers, with bounded queues.

The node publishes every committed item, in commit order, to each subscriber's queue. A
subscriber whose queue is full is marked *lagged* instead of blocking the writer; it then
drops its queue and catches up from the store, which is the source of truth, so a slow
client costs memory bounded by its queue and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Published:
    """One committed item: its cursor, envelope and stored document text."""

    seq: int
    envelope: Any
    document: str


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[Published | None]
    lagged: bool = False
    closed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Broadcaster:
    """Subscribers and their queues; ``publish_threadsafe`` is called from writer threads."""

    def __init__(self, queue_size: int = 1024) -> None:
        self.queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the subscribers live in (the server's)."""
        if self._loop is None or self._loop.is_closed():
            self._loop = loop

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber(asyncio.Queue(maxsize=self.queue_size))
        if self._closed:
            subscriber.closed = True
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def publish(self, event: Published) -> None:
        """Hand *event* to every subscriber (in the loop's thread)."""
        for subscriber in self._subscribers:
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.lagged = True
                subscriber.wake.set()

    def catch_up(self) -> None:
        """Send every subscriber back to the store (rows were written elsewhere)."""
        for subscriber in self._subscribers:
            subscriber.lagged = True
            subscriber.wake.set()

    def publish_threadsafe(self, event: Published) -> None:
        """Schedule ``publish`` on the subscribers' loop; callbacks run in call order."""
        loop = self._loop
        if loop is None or loop.is_closed() or not self._subscribers:
            return
        with contextlib.suppress(RuntimeError):  # loop shut down between check and call
            loop.call_soon_threadsafe(self.publish, event)

    def close(self) -> None:
        """End every stream (server shutdown)."""
        self._closed = True
        for subscriber in self._subscribers:
            subscriber.closed = True
            subscriber.wake.set()
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.queue.put_nowait(None)


def format_event(event_id: str, name: str, data: str) -> str:
    """One SSE event (data is single-line JSON)."""
    return f"id: {event_id}\nevent: {name}\ndata: {data}\n\n"
