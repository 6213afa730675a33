"""Ingest: missile-warning latency through a served node, and AIS sentences/s into tracks.

Prints:
- missile warning latency: from sending a sensor report to ``POST /api/v1/items`` of a
  ``trilat serve`` child process (with an ``[ingest]`` section) to the fused warning item
  being accepted (its ``created`` time) and to its arrival on ``GET /api/v1/events`` (SSE),
  p50/p99 over ``BENCH_REPORTS`` launches;
- AIS end to end: sentences/s from an NMEA file to stored, signed, audited ``track`` items
  through the node (chains per MMSI, 60 s rate limit), beside two baselines on the same
  corpus and machine: decoding alone, and one unchained item per position report (no rate
  limit, no superseding), with the ratios.

Run: ``.venv/bin/python bench/bench_ingest.py`` (about a minute). ``BENCH_VESSELS`` and
``BENCH_REPORTS`` scale it. The federation outbox is not observed here (``bench_federation``
measures replication).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pyais.encode import encode_dict

from trilat.adapters.ais_feed import position_to_track, read_file
from trilat.agreement_files import load_policy
from trilat.api.ingest import NodeIngestPort
from trilat.api.node import Node
from trilat.core._crypto import generate_private_key
from trilat.core.clock import format_time, parse_time
from trilat.core.items import Item
from trilat.core.labels import parse_label
from trilat.ingest.ais import AisIngest
from trilat.ingest.settings import AisInput
from trilat.store import open_store

VESSELS = int(os.environ.get("BENCH_VESSELS", "300"))
REPORTS_PER_VESSEL = 60  # one every 10 s: 10 minutes of traffic
LAUNCHES = int(os.environ.get("BENCH_REPORTS", "60"))
TRILAT = str(Path(sys.executable).with_name("trilat"))
T0 = 1_700_000_000


def _checksum(text: str) -> str:
    value = 0
    for char in text.encode("ascii"):
        value ^= char
    return f"{value:02X}"


def corpus(path: Path) -> int:
    """Position reports of VESSELS vessels every 10 s, time-tagged, in time order."""
    lines = []
    for step in range(REPORTS_PER_VESSEL):
        at = T0 + 10 * step
        tag = f"c:{at}"
        block = f"\\{tag}*{_checksum(tag)}\\"
        for vessel in range(VESSELS):
            fields = {
                "msg_type": 1,
                "mmsi": 440_000_000 + vessel,
                "lat": 34.0 + vessel / 1000 + step / 10_000,
                "lon": 129.0 + vessel / 1000,
                "speed": 12.0,
                "course": 45.0,
            }
            lines.extend(block + s for s in encode_dict(fields, talker_id="AI"))
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return len(lines)


def node_at(folder: Path) -> Node:
    return Node(
        nation="USA",
        node_id="usa-1",
        store=open_store(f"sqlite:///{folder / 'store.sqlite3'}"),
        policy=load_policy(),
        private_key=generate_private_key(),
    )


def bench_decode(path: Path) -> float:
    count = 0

    def sink(message: dict[str, Any], received_at: datetime | None) -> None:
        nonlocal count
        count += 1

    start = time.perf_counter()
    read_file(path, sink)
    return time.perf_counter() - start


def bench_unchained(path: Path, folder: Path) -> tuple[float, int]:
    """Baseline: every position report an item, no chain, no rate limit (same commit path)."""
    node = node_at(folder)
    port = NodeIngestPort(node)
    label = parse_label("UNCLASSIFIED", owner="USA")
    batch: list[Item] = []
    stored = 0

    def flush() -> None:
        nonlocal stored, batch
        results = port.accept(batch, "bench")
        stored += sum(1 for r in results if not isinstance(r, Exception))
        batch = []

    def sink(message: dict[str, Any], received_at: datetime | None) -> None:
        body = position_to_track(message, received_at or datetime.now(UTC))
        if body is not None:
            batch.append(Item("track", label, ("maritime.track",), body))
            if len(batch) >= 256:
                flush()

    start = time.perf_counter()
    read_file(path, sink)
    if batch:
        flush()
    elapsed = time.perf_counter() - start
    port.close()
    node.store.close()
    return elapsed, stored


def bench_ingest(path: Path, folder: Path, interval: float) -> tuple[float, int]:
    node = node_at(folder)
    port = NodeIngestPort(node)
    ingest = AisIngest(
        port,
        (
            AisInput(
                "bench",
                "file",
                parse_label("UNCLASSIFIED", owner="USA"),
                ("maritime.track",),
                path=path,
                min_interval_s=interval,
            ),
        ),
        clock=node.clock,
    )

    async def run() -> float:
        start = time.perf_counter()
        await ingest.start()
        await asyncio.to_thread(ingest.files_done.wait)
        await ingest.stop()
        return time.perf_counter() - start

    elapsed = asyncio.run(run())
    stored = ingest.stats["bench"].stored
    port.close()
    node.store.close()
    return elapsed, stored


# ----- missile warning latency through a served node ---------------------------------------
def serve(folder: Path) -> tuple[subprocess.Popen[str], str, str]:
    node_dir = folder / "node"
    subprocess.run(
        [TRILAT, "init", str(node_dir), "--nation", "USA"], check=True, capture_output=True
    )
    with open(node_dir / "trilat.toml", "a", encoding="utf-8") as handle:
        handle.write("\n[ingest]\nmaritime = false\nairspace = false\n")
    added = subprocess.run(
        [TRILAT, "user", "add", str(node_dir), "--name", "sensor", "--nationality", "USA",
         "--clearance", "SECRET", "--role", "analyst", "--json"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    token = json.loads(added.stdout)["token"]
    process = subprocess.Popen(
        [TRILAT, "serve", str(node_dir), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, line.strip().removeprefix("listening on "), token


def report(n: int) -> dict[str, Any]:
    launch = datetime(2023, 2, 18, tzinfo=UTC) + timedelta(hours=2 * n)  # one launch each
    return {
        "kind": "missile_event",
        "label": "SECRET//REL TO USA, JPN, KOR",
        "topics": ["dprk.missile"],
        "body": {
            "launch_time": format_time(launch),
            "launch_point": {"lat": 39.03, "lon": 125.67, "error_radius_m": 5000.0},
            "impact_point": {"lat": 40.9, "lon": 137.0, "error_radius_m": 20000.0},
            "impact_time": format_time(launch + timedelta(minutes=66)),
            "source_sensor": "SBX-1",
        },
    }


def bench_warning(folder: Path) -> tuple[list[float], list[float]]:
    process, url, token = serve(folder)
    headers = {"Authorization": f"Bearer {token}"}
    seen: dict[str, tuple[float, str]] = {}  # report id → (arrival, warning created)
    ready = threading.Event()
    done = threading.Event()

    def listen() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            with client.stream("GET", "/api/v1/events") as stream:
                ready.set()
                for line in stream.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    item = json.loads(line[6:])
                    if "dprk.missile.warning" in item["topics"]:
                        seen[item["refs"][0]] = (time.time(), item["created"])
                        if len(seen) >= LAUNCHES:
                            done.set()
                            return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(30)
    time.sleep(0.3)  # the SSE response is open before its first byte: let it subscribe
    sent: dict[str, float] = {}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for n in range(LAUNCHES):
            started = time.time()
            response = client.post("/api/v1/items", json=report(n))
            response.raise_for_status()
            sent[response.json()["id"]] = started
            time.sleep(0.02)
    done.wait(60)
    process.terminate()
    process.wait(15)
    accepted = [parse_time(created).timestamp() - sent[ref] for ref, (_, created) in seen.items()]
    observed = [arrival - sent[ref] for ref, (arrival, _) in seen.items()]
    return accepted, observed


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms   (n={len(ordered)})"


def main() -> None:
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        accepted, observed = bench_warning(folder)
        print("missile warning, report POSTed → fused warning item")
        print(f"  accepted (created)      {percentiles(accepted)}")
        print(f"  seen on SSE             {percentiles(observed)}")

        path = folder / "corpus.nmea"
        sentences = corpus(path)
        decode = bench_decode(path)
        (folder / "a").mkdir()
        (folder / "b").mkdir()
        (folder / "c").mkdir()
        unchained, unchained_items = bench_unchained(path, folder / "a")
        chained, chained_items = bench_ingest(path, folder / "b", 60.0)
        every, every_items = bench_ingest(path, folder / "c", 0.0)
        print(f"AIS end to end, {sentences} sentences, {VESSELS} vessels reporting every 10 s")
        rows = [
            ("decode only (baseline)", decode, None),
            ("one item per report, unchained (baseline)", unchained, unchained_items),
            ("ingest: chains, 60 s rate limit", chained, chained_items),
            ("ingest: chains, every report", every, every_items),
        ]
        for name, elapsed, items in rows:
            stored = f"{items:6d} items" if items is not None else "      -     "
            print(f"  {name:44s} {sentences / elapsed:10.0f} sentences/s   {stored}")
        print(f"  ratio ingest(60 s) / one-item-per-report      {unchained / chained:6.2f}x")
        print(f"  ratio ingest(every report) / one-item-per-report {unchained / every:6.2f}x")
        print(f"  ratio ingest(60 s) / decode only              {decode / chained:6.3f}x")


if __name__ == "__main__":
    main()
