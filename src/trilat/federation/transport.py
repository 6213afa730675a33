"""The network seam of federation: a two-method ``Transport`` and a fault-injecting wrapper.

``HttpTransport`` speaks HTTP(S) through one pooled ``httpx.Client`` per peer link (TLS
verified against a pinned CA bundle when one is configured). ``FaultTransport`` wraps any
transport and drops, delays, partitions or loses the answer of requests on command: tests
and benchmarks use it on real servers, never in place of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from trilat.core.errors import PeerError


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = ""


class Transport(Protocol):
    """Send one request to a peer; raises PeerError when no answer came back."""

    def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> Response: ...

    def close(self) -> None: ...


class HttpTransport:
    """HTTP(S) with a connection pool; *verify* is a CA bundle path for pinned TLS."""

    def __init__(self, *, verify: str | bool = True) -> None:
        self._client = httpx.Client(
            verify=verify,
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
            trust_env=False,
        )

    def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> Response:
        try:
            response = self._client.request(
                method,
                url,
                headers=dict(headers),
                content=body,
                timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            )
        except httpx.HTTPError as exc:
            raise PeerError(f"{method} {url}: {type(exc).__name__}") from exc
        return Response(
            response.status_code, response.content, response.headers.get("content-type", "")
        )

    def close(self) -> None:
        self._client.close()


@dataclass
class Faults:
    """What ``FaultTransport`` does to the next requests; change it from another thread."""

    partitioned: set[str] = field(default_factory=set)  # URL prefixes that are unreachable
    delay: float = 0.0  # seconds added before each request
    drop_next: int = 0  # requests refused before sending
    lose_answer_next: int = 0  # requests sent, whose answer is then lost


class FaultTransport:
    """Wrap *inner* and inject the faults of ``self.faults`` (drop, delay, partition)."""

    def __init__(self, inner: Transport, faults: Faults | None = None) -> None:
        self.inner = inner
        self.faults = faults or Faults()
        self._lock = threading.Lock()

    def _take(self, name: str) -> bool:
        with self._lock:
            count = getattr(self.faults, name)
            if count > 0:
                setattr(self.faults, name, count - 1)
                return True
            return False

    def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> Response:
        if any(url.startswith(prefix) for prefix in self.faults.partitioned):
            raise PeerError(f"{method} {url}: partitioned")
        if self.faults.delay > 0:
            time.sleep(min(self.faults.delay, timeout))
        if self._take("drop_next"):
            raise PeerError(f"{method} {url}: dropped")
        response = self.inner.request(method, url, headers=headers, body=body, timeout=timeout)
        if self._take("lose_answer_next"):
            raise PeerError(f"{method} {url}: answer lost")
        return response

    def close(self) -> None:
        self.inner.close()
