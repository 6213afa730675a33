"""Ingest test kit: a real USA node served by uvicorn with its ingest runner, NMEA writers."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyais.encode import encode_dict

from tests.api.conftest import NodeUnderTest, Served, make_node, serve_in_thread
from trilat.api.app import create_app
from trilat.api.ingest import install_ingest
from trilat.core.clock import format_time
from trilat.core.labels import Label, parse_label, roll_up
from trilat.ingest.runner import IngestRunner
from trilat.ingest.settings import IngestSettings

STEP = 20.0  # seconds any single wait may take before a test fails


@dataclass
class IngestNode:
    """A served node, its ingest runner and an HTTP client per user."""

    made: NodeUnderTest
    served: Served
    runner: IngestRunner

    @property
    def url(self) -> str:
        return self.served.url

    def client(self, user: str = "admin") -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.made.auth(user), timeout=STEP)

    def post(self, user: str, **item: Any) -> dict[str, Any]:
        with self.client(user) as client:
            response = client.post("/api/v1/items", json=item)
        assert response.status_code == 201, response.text
        return response.json()

    def items(self, user: str = "admin", **query: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        with self.client(user) as client:
            for _ in range(1000):
                params = {**query, "limit": "500", **({"after": cursor} if cursor else {})}
                page = client.get("/api/v1/items", params=params).json()
                found.extend(page["items"])
                if not page["items"]:
                    return found
                cursor = page["next"]
        return found

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = STEP) -> Any:
        """Poll *check* (which reads the node over HTTP) until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)


@pytest.fixture
def ingest_node(tmp_path: Path) -> Iterator[Callable[..., IngestNode]]:
    """A factory: a real node on SQLite, with ingest *settings* (and Node *options*), served
    on 127.0.0.1:0."""
    running: list[IngestNode] = []

    def start(settings: IngestSettings, **options: Any) -> IngestNode:
        made = make_node(f"sqlite:///{tmp_path / f'node{len(running)}.sqlite3'}", **options)
        app = create_app(made.node)
        runner = install_ingest(app, made.node, settings)
        served = serve_in_thread(app)
        deadline = time.monotonic() + STEP
        while not served.server.started:
            assert time.monotonic() < deadline, "server did not start"
            assert served.thread.is_alive(), "server failed to start"
            time.sleep(0.01)
        node = IngestNode(made, served, runner)
        running.append(node)
        return node

    yield start
    for node in running:
        node.served.server.should_exit = True
        node.served.thread.join(timeout=20)
        node.made.node.store.close()
        assert not node.served.thread.is_alive()


@functools.cache
def label(text: str, owner: str = "USA") -> Label:
    return parse_label(text, owner=owner)


def at_least_as_restrictive(derived: str, inputs: list[str]) -> bool:
    """True when the derived banner equals the roll-up of itself and every input banner."""
    rolled = roll_up([label(derived), *(label(text) for text in inputs)])
    return rolled == label(derived)


def _tag_checksum(text: str) -> str:
    value = 0
    for char in text.encode("ascii"):
        value ^= char
    return f"{value:02X}"


def nmea(fields: dict[str, Any], at: float | None = None) -> list[bytes]:
    """AIVDM sentences of *fields* (pyais's encoder), with an NMEA 4.10 time tag when *at*."""
    sentences = encode_dict(fields, talker_id="AI", radio_channel="A")
    if at is None:
        return [s.encode("ascii") for s in sentences]
    tag = f"c:{int(at)}"
    block = f"\\{tag}*{_tag_checksum(tag)}\\"
    return [(block + s).encode("ascii") for s in sentences]


def position(mmsi: int, at: float, lat: float, lon: float, **extra: Any) -> list[bytes]:
    return nmea(
        {"msg_type": 1, "mmsi": mmsi, "lat": lat, "lon": lon, "speed": 0.3, "course": 90.0,
         "heading": 90, **extra},
        at,
    )  # fmt: skip


def static(mmsi: int, at: float, name: str, callsign: str, imo: int, ship_type: int) -> list[bytes]:
    return nmea(
        {"msg_type": 5, "mmsi": mmsi, "shipname": name, "callsign": callsign, "imo": imo,
         "ship_type": ship_type, "ais_version": 0},
        at,
    )  # fmt: skip


def track_item(uid: str, banner: str, lat: float = 37.5, lon: float = 124.5) -> dict[str, Any]:
    """A ``track`` item to post, current and stale in ten minutes, callsign = uid upper-cased."""
    now = datetime.now(UTC)
    return {
        "kind": "track",
        "label": banner,
        "topics": ["maritime.track"],
        "body": {
            "uid": uid,
            "type": "a-h-S",
            "point": {"lat": lat, "lon": lon},
            "time": format_time(now),
            "stale": format_time(now + timedelta(minutes=10)),
            "callsign": uid.upper(),
        },
    }
