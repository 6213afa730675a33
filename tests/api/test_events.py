"""Live events (SSE) through a real uvicorn server on 127.0.0.1, on both store backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import NodeUnderTest, Served, assert_problem, make_node, serve_in_thread
from tests.store.backends import BACKENDS, store_url_for
from trilat.api.app import create_app

ACCEPTANCE_LABELS = {
    "rel": "SECRET//REL TO USA, JPN, KOR",
    "noforn": "SECRET//NOFORN",
    "top": "TOP SECRET//REL TO USA, JPN",
    "display": "SECRET//DISPLAY ONLY JPN",
}


def report(label: str, text: str) -> dict[str, Any]:
    return {"kind": "report", "label": label, "topics": ["dprk.missile"], "body": {"text": text}}


class EventReader:
    """Reads SSE events from an open stream on a thread, so tests can wait on them."""

    def __init__(self, response: httpx.Response) -> None:
        self.events: list[dict[str, str]] = []
        self.ready = threading.Event()
        self.stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(response,), daemon=True)
        self._thread.start()

    def _run(self, response: httpx.Response) -> None:
        current: dict[str, str] = {}
        try:
            for line in response.iter_lines():
                if self.stop.is_set():
                    return
                if line.startswith("retry:"):
                    self.ready.set()
                if not line:
                    if "data" in current:
                        with self._changed:
                            self.events.append(current)
                            self._changed.notify_all()
                    current = {}
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                current[field] = value.removeprefix(" ")
        except httpx.HTTPError:
            pass

    def wait_for(self, text: str, timeout: float = 20.0) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(f'"text":"{text}"' in e["data"] for e in self.events):
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no event {text!r} within {timeout}s: {self.events}"
                self._changed.wait(remaining)
            return list(self.events)


def texts(events: list[dict[str, str]]) -> list[str]:
    import json

    return [json.loads(e["data"])["body"]["text"] for e in events]


@pytest.fixture
def http(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=httpx.Timeout(30.0)) as client:
        yield client


class Stream:
    """An open SSE stream and its reader; ``close`` stops both."""

    def __init__(self, http: httpx.Client, headers: dict[str, str]) -> None:
        self._context = http.stream("GET", "/api/v1/events", headers=headers)
        response = self._context.__enter__()
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        self.reader = EventReader(response)
        assert self.reader.ready.wait(10)

    def close(self) -> None:
        self.reader.stop.set()  # the reader leaves at the next keepalive
        self._context.__exit__(None, None, None)


def open_stream(
    http: httpx.Client, usa: NodeUnderTest, who: str, **headers: str
) -> tuple[Stream, EventReader]:
    stream = Stream(http, {**usa.auth(who), **headers})
    return stream, stream.reader


def post(http: httpx.Client, usa: NodeUnderTest, payload: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/api/v1/items", json=payload, headers=usa.auth("admin"))
    assert response.status_code == 201, response.text
    return response.json()


def test_japanese_liaison_stream_carries_only_what_policy_allows(
    http: httpx.Client, usa: NodeUnderTest
) -> None:
    context, reader = open_stream(http, usa, "kenji")
    try:
        ids = {
            name: post(http, usa, report(label, name))["id"]
            for name, label in ACCEPTANCE_LABELS.items()
        }
        post(http, usa, report("UNCLASSIFIED", "marker"))
        events = reader.wait_for("marker")
    finally:
        context.close()
    assert texts(events) == ["rel", "display", "marker"]
    store = usa.node.store
    import json

    views = [json.loads(leaf.data) for leaf in store.audit_leaves(0, store.audit_size())]
    assert [(v["actor"], v["item"]) for v in views if v["event"] == "view"] == [
        ("kenji", ids["display"])
    ]


def test_a_stream_resumes_after_last_event_id_without_gaps_or_repeats(
    http: httpx.Client, usa: NodeUnderTest
) -> None:
    context, reader = open_stream(http, usa, "kenji")
    try:
        post(http, usa, report("UNCLASSIFIED", "one"))
        first = reader.wait_for("one")[0]
    finally:
        context.close()
    post(http, usa, report("UNCLASSIFIED", "two"))
    post(http, usa, report("SECRET//NOFORN", "hidden"))
    post(http, usa, report("UNCLASSIFIED", "three"))
    context, reader = open_stream(http, usa, "kenji", **{"Last-Event-ID": first["id"]})
    try:
        post(http, usa, report("UNCLASSIFIED", "four"))
        events = reader.wait_for("four")
    finally:
        context.close()
    assert texts(events) == ["two", "three", "four"]


def test_forged_last_event_id_is_refused(http: httpx.Client, usa: NodeUnderTest) -> None:
    response = http.get(
        "/api/v1/events",
        headers={**usa.auth("kenji"), "Last-Event-ID": "A" * 27},
    )
    assert_problem(response, 400)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_subscriber_whose_queue_overflows_catches_up_from_the_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    usa = make_node(store_url_for(backend, request, tmp_path), sse_queue=2, keepalive=0.2)
    served = serve_in_thread(create_app(usa.node))
    try:
        with httpx.Client(base_url=served.url, timeout=30.0) as http:
            context, reader = open_stream(http, usa, "kenji")
            try:
                batch = [report("UNCLASSIFIED", f"n{n}") for n in range(40)]
                for payload in batch:
                    post(http, usa, payload)
                events = reader.wait_for("n39")
            finally:
                context.close()
        assert texts(events) == [f"n{n}" for n in range(40)]
    finally:
        served.server.should_exit = True
        served.thread.join(timeout=15)
        usa.node.store.close()


def test_items_written_by_another_process_reach_live_subscribers(
    http: httpx.Client, usa: NodeUnderTest
) -> None:
    from trilat.agreement_files import load_policy
    from trilat.api.node import NewItem, Node
    from trilat.core._crypto import generate_private_key
    from trilat.store import open_store

    elsewhere = Node(
        nation="USA",
        node_id="usa-1",
        store=open_store(usa.node.store.url),
        policy=load_policy(),
        private_key=generate_private_key(),
    )
    context, reader = open_stream(http, usa, "kenji")
    try:
        admin = next(user for user in elsewhere.store.users() if user.name == "admin")
        elsewhere.originate(
            NewItem(
                kind="report",
                label="UNCLASSIFIED",
                topics=("exercise",),
                body={"text": "from the cli"},
            ),
            admin,
        )
        events = reader.wait_for("from the cli")
    finally:
        context.close()
        elsewhere.store.close()
    assert texts(events) == ["from the cli"]


def test_a_korean_reader_gets_each_items_national_label_as_a_label_event(
    http: httpx.Client, usa: NodeUnderTest
) -> None:
    import json

    context, reader = open_stream(http, usa, "minho")
    try:
        item = post(http, usa, report("SECRET//REL TO USA, KOR", "rel"))
        post(http, usa, report("UNCLASSIFIED", "marker"))
        events = reader.wait_for("marker")
    finally:
        context.close()
    assert [e["event"] for e in events] == ["item", "label", "item"]
    assert events[1]["id"] == events[0]["id"]
    assert json.loads(events[1]["data"]) == {
        "id": item["id"],
        "label_national": "군사 II급비밀//REL TO USA, KOR",
    }
