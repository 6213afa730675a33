"""Node throughput and live fan-out, with an unsigned baseline side by side.

Prints:
- signed ingest over HTTP (``trilat serve`` in a child process, several client threads);
- signed ingest direct to the store (validate + seal + insert + audit leaf, one commit each);
- baseline: unsigned plain inserts of the same JSON into the same kind of SQLite database
  (WAL, ``synchronous=FULL``, one commit each) — what the database alone costs;
- SSE fan-out latency from POST to receipt at 50 subscribers (p50/p99).

Run: ``.venv/bin/python bench/bench_node.py`` (about half a minute). ``BENCH_ITEMS`` scales it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from trilat.agreement_files import load_policy
from trilat.api.auth import new_token, token_hash
from trilat.api.node import NewItem, Node
from trilat.core._crypto import generate_private_key
from trilat.store import User, open_store

ITEMS = int(os.environ.get("BENCH_ITEMS", "600"))
CLIENTS = 4
SUBSCRIBERS = 50
FANOUT_EVENTS = 40
TRILAT = str(Path(sys.executable).with_name("trilat"))
NODELAY = [(6, 1, 1)]  # IPPROTO_TCP, TCP_NODELAY: no Nagle delay between header and body


def payload(n: int) -> dict[str, Any]:
    return {
        "kind": "report",
        "label": "SECRET//REL TO USA, JPN, KOR",
        "topics": ["dprk.missile"],
        "body": {"text": f"bench item {n}", "title": repr(time.time())},  # sent at
    }


class Server:
    def __init__(self, node_dir: Path) -> None:
        self.process = subprocess.Popen(
            [TRILAT, "serve", str(node_dir), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().split()[-1]

    def stop(self) -> None:
        os.kill(self.process.pid, signal.SIGTERM)
        self.process.communicate(timeout=30)


def init_node(directory: Path) -> tuple[str, str]:
    done = subprocess.run(
        [TRILAT, "init", str(directory), "--nation", "USA"],
        capture_output=True,
        text=True,
        check=True,
    )
    admin = done.stdout.strip()
    liaison = subprocess.run(
        [
            TRILAT,
            "user",
            "add",
            str(directory),
            "--name",
            "kenji",
            "--nationality",
            "JPN",
            "--clearance",
            "SECRET",
            "--role",
            "liaison",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return admin, json.loads(liaison.stdout)["token"]


def http_ingest(url: str, token: str) -> float:
    per_client = ITEMS // CLIENTS
    errors: list[int] = []

    def client_loop(offset: int) -> None:
        transport = httpx.HTTPTransport(socket_options=NODELAY)
        with httpx.Client(
            base_url=url,
            transport=transport,
            timeout=30.0,
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            for n in range(per_client):
                response = client.post("/api/v1/items", json=payload(offset + n))
                if response.status_code != 201:
                    errors.append(response.status_code)

    threads = [threading.Thread(target=client_loop, args=(c * per_client,)) for c in range(CLIENTS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    assert not errors, errors[:5]
    return per_client * CLIENTS / elapsed


def direct_ingest(database: str) -> float:
    store = open_store(f"sqlite:///{database}")
    token = new_token()
    user = User("bench", "USA", 3, ("operator",), token_hash(token))
    store.add_user(user)
    node = Node(
        nation="USA",
        node_id="usa-1",
        store=store,
        policy=load_policy(),
        private_key=generate_private_key(),
    )
    items = [payload(n) for n in range(ITEMS)]
    start = time.perf_counter()
    for item in items:
        node.originate(
            NewItem(
                kind=item["kind"],
                label=item["label"],
                topics=tuple(item["topics"]),
                body=item["body"],
            ),
            user,
        )
    elapsed = time.perf_counter() - start
    store.close()
    return ITEMS / elapsed


def baseline_plain_inserts(database: str) -> float:
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE items (seq INTEGER PRIMARY KEY AUTOINCREMENT, document TEXT)")
    documents = [json.dumps(payload(n)) for n in range(ITEMS)]
    start = time.perf_counter()
    for document in documents:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO items (document) VALUES (?)", (document,))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return ITEMS / elapsed


async def fanout(url: str, admin: str, liaison: str) -> list[float]:
    latencies: list[float] = []
    ready = 0
    all_ready = asyncio.Event()
    done = asyncio.Event()
    received = 0

    async def subscriber(index: int) -> None:
        nonlocal ready, received
        token = liaison if index % 2 else admin
        async with (
            httpx.AsyncClient(base_url=url, timeout=120.0) as client,
            client.stream(
                "GET", "/api/v1/events", headers={"Authorization": f"Bearer {token}"}
            ) as response,
        ):
            async for line in response.aiter_lines():
                if line.startswith("retry:"):
                    ready += 1
                    if ready == SUBSCRIBERS:
                        all_ready.set()
                if line.startswith("data: "):
                    sent = float(json.loads(line[6:])["body"]["title"])
                    latencies.append(time.time() - sent)
                    received += 1
                    if received == SUBSCRIBERS * FANOUT_EVENTS:
                        done.set()
                        return
                    if done.is_set():
                        return

    tasks = [asyncio.create_task(subscriber(i)) for i in range(SUBSCRIBERS)]
    await asyncio.wait_for(all_ready.wait(), 60)
    transport = httpx.AsyncHTTPTransport(socket_options=NODELAY)
    async with httpx.AsyncClient(
        base_url=url, transport=transport, headers={"Authorization": f"Bearer {admin}"}
    ) as poster:
        for n in range(FANOUT_EVENTS):
            response = await poster.post("/api/v1/items", json=payload(n))
            assert response.status_code == 201
            await asyncio.sleep(0.02)  # a steady 50 items/s feed, not a burst
    try:
        await asyncio.wait_for(done.wait(), 60)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="trilat-bench-") as temp:
        directory = Path(temp)
        baseline = baseline_plain_inserts(str(directory / "plain.sqlite3"))
        direct = direct_ingest(str(directory / "direct.sqlite3"))
        baseline_memory = baseline_plain_inserts(":memory:")
        direct_memory = direct_ingest(":memory:")
        admin, liaison = init_node(directory / "usa")
        server = Server(directory / "usa")
        try:
            over_http = http_ingest(server.url, admin)
            latencies = asyncio.run(fanout(server.url, admin, liaison))
        finally:
            server.stop()
    print(f"node ingest ({ITEMS} SECRET items, one commit each)")
    print("  on disk (SQLite WAL, synchronous=FULL: every commit is fsynced)")
    print(f"    baseline: unsigned plain INSERT      {baseline:9,.0f} items/s")
    print(
        f"    trilat: signed + audited, direct     {direct:9,.0f} items/s   "
        f"({direct / baseline:.2f}x baseline)"
    )
    print(
        f"    trilat: signed + audited, over HTTP  {over_http:9,.0f} items/s   "
        f"({over_http / baseline:.2f}x baseline, {CLIENTS} clients, group commit)"
    )
    print("  in memory (no fsync: the CPU cost of validating, sealing and auditing)")
    print(f"    baseline: unsigned plain INSERT      {baseline_memory:9,.0f} items/s")
    print(
        f"    trilat: signed + audited, direct     {direct_memory:9,.0f} items/s   "
        f"({direct_memory / baseline_memory:.2f}x baseline)"
    )
    print(
        f"SSE fan-out to {SUBSCRIBERS} subscribers ({FANOUT_EVENTS} items at 50/s, "
        f"half JPN liaison officers): {len(latencies)} deliveries"
    )
    print(
        f"  latency p50 {statistics.median(latencies) * 1000:7.1f} ms   "
        f"p99 {percentile(latencies, 0.99) * 1000:7.1f} ms"
    )


if __name__ == "__main__":
    main()
