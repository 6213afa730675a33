"""Replication benchmark (SPEC §10): items/s node to node, and end-to-end latency through
the US hub at a fixed offered rate.

1. Throughput: a JPN sender (``Federation`` in this process, over JPN's SQLite store)
   pushes preloaded items to a USA node running as ``trilat serve``; the rate is measured
   from the receiver's own commit times. Baseline: the same push with one item per request.
2. Latency: three ``trilat serve`` nodes; items are written into JPN's store at a fixed
   rate (500/s by default) and travel JPN → USA → KOR under MWDS-2023 (Japan has no direct
   link to Korea here); latency is KOR's commit time minus the item's creation time.
   Baseline: the same rate on the direct JPN → KOR link (GSOMIA), one hop.

Targets: ≥ 5,000 items/s node to node; p99 ≤ 200 ms at 500 items/s through the hub.
Run: ``.venv/bin/python bench/bench_federation.py [--items N] [--rate R] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from trilat.agreement_files import load_policy
from trilat.api.app import read_private_key
from trilat.cli.node import init
from trilat.config import load_settings
from trilat.core.clock import format_time
from trilat.core.items import Item, Originator, seal
from trilat.core.labels import format_banner, parse_label
from trilat.federation.cards import card_document, key_id_of, make_card
from trilat.federation.service import Federation, Limits
from trilat.store import open_store
from trilat.store.auditlog import audit_entry
from trilat.store.federation import FederationTables, PeerRow
from trilat.store.records import item_row

LABEL = parse_label("SECRET//REL TO USA, JPN, KOR", owner="JPN")
TOPICS = ("dprk.missile.warning",)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_node(root: Path, nation: str) -> tuple[Path, int]:
    directory = root / nation.lower()
    port = free_port()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        init(directory, nation=nation, listen=f"127.0.0.1:{port}", db=None, node_id=None)
    return directory, port


def pin(directory: Path, other: Path, port: int, *, link: bool) -> None:
    settings = load_settings(other)
    card = make_card(
        nation=settings.nation,
        node=settings.node_id,
        url=f"http://127.0.0.1:{port}",
        private_key=read_private_key(settings.key_path),
        issued=datetime.now(UTC),
    )
    store = open_store(load_settings(directory).database_url)
    try:
        FederationTables(store).put_peer(
            PeerRow(
                card.node,
                card.nation,
                card.url,
                base64.b64encode(card.public_key).decode(),
                key_id_of(card.public_key),
                json.dumps(card_document(card)),
                link,
            )
        )
    finally:
        store.close()


def serve(directory: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from trilat.cli.app import main; main()",
            "serve",
            str(directory),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    process.stdout.readline()
    return process


def write_items(directory: Path, count: int, *, rate: float | None = None) -> None:
    """Seal *count* JPN items and commit them to JPN's store (at *rate* per second)."""
    settings = load_settings(directory)
    key = read_private_key(settings.key_path)
    originator = Originator(settings.node_id, settings.nation)
    store = open_store(settings.database_url)
    started = time.perf_counter()
    chunk = 50 if rate is None else max(1, int(rate / 100))
    try:
        for first in range(0, count, chunk):
            if rate is not None:
                due = started + first / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            rows = []
            for number in range(first, min(count, first + chunk)):
                now = datetime.now(UTC)
                envelope = seal(
                    Item("report", LABEL, TOPICS, {"text": f"warning {number}"}),
                    originator=originator,
                    private_key=key,
                    at=now,
                )
                row = item_row(envelope)
                leaf = audit_entry(
                    "accept",
                    at=now,
                    actor="bench",
                    item_id=envelope.id,
                    digest=row.digest,
                    kind=envelope.kind,
                    label=format_banner(envelope.label),
                )
                rows.append((row, leaf))
            store.append_items(rows)
    finally:
        store.close()


def arrivals(directory: Path) -> list[tuple[str, float]]:
    """(item id, commit time in Unix seconds) of every item the node received."""
    store = open_store(load_settings(directory).database_url)
    try:
        rows = store._query("SELECT item_id, received FROM fed_received")  # type: ignore[attr-defined]
    finally:
        store.close()
    return [(r[0], datetime.fromisoformat(r[1]).timestamp()) for r in rows]


def created_times(directory: Path) -> dict[str, float]:
    store = open_store(load_settings(directory).database_url)
    try:
        rows = store._query("SELECT id, created FROM items")  # type: ignore[attr-defined]
    finally:
        store.close()
    return {r[0]: datetime.fromisoformat(r[1].replace("Z", "+00:00")).timestamp() for r in rows}


def wait_for_count(directory: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(arrivals(directory)) >= count:
            return
        time.sleep(0.2)
    raise SystemExit(f"only {len(arrivals(directory))} of {count} items arrived in {timeout} s")


def throughput(root: Path, count: int, batch: int) -> float:
    jpn, _ = make_node(root, "JPN")
    usa, usa_port = make_node(root, "USA")
    pin(usa, jpn, 9, link=False)  # USA verifies JPN's signatures; it never pushes back
    write_items(jpn, count)
    usa_server = serve(usa, usa_port)
    settings = load_settings(jpn)
    store = open_store(settings.database_url)
    sender = Federation(
        store=store,
        policy=load_policy(),
        nation="JPN",
        node_id=settings.node_id,
        private_key=read_private_key(settings.key_path),
        limits=Limits(batch_items=batch),
    )
    try:
        pin(jpn, usa, usa_port, link=True)
        sender.start()
        wait_for_count(usa, count, timeout=600)
    finally:
        sender.stop()
        store.close()
        usa_server.terminate()
        usa_server.wait(10)
    times = sorted(t for _, t in arrivals(usa))
    span = max(times[-1] - times[0], 1e-3)
    return (len(times) - 1) / span


def latency(root: Path, rate: float, seconds: float, *, hub: bool) -> tuple[float, float, int]:
    usa, usa_port = make_node(root, "USA")
    jpn, jpn_port = make_node(root, "JPN")
    kor, kor_port = make_node(root, "KOR")
    ports = {usa: usa_port, jpn: jpn_port, kor: kor_port}
    for holder in (usa, jpn, kor):
        for other in (usa, jpn, kor):
            if other is holder:
                continue
            direct_pair = {holder, other} == {jpn, kor}
            link = not direct_pair if hub else (holder is jpn and other is kor)
            pin(holder, other, ports[other], link=link)
    servers = [serve(d, p) for d, p in ports.items()]
    try:
        time.sleep(1.5)  # links start within a second of the servers
        count = int(rate * seconds)
        write_items(jpn, count, rate=rate)
        wait_for_count(kor, count, timeout=120)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(10)
    created = created_times(jpn)
    delays = sorted(t - created[i] for i, t in arrivals(kor) if i in created)
    p50 = statistics.median(delays) * 1000
    p99 = delays[int(len(delays) * 0.99) - 1] * 1000
    return p50, p99, len(delays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="items for the throughput run")
    parser.add_argument("--naive-items", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=500.0, help="offered items/s (latency)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="trilat-bench-"))
    try:
        batched = throughput(root / "batched", options.items, 500)
        naive = throughput(root / "naive", options.naive_items, 1)
        print(
            f"replication JPN→USA  batched {batched:,.0f} items/s  "
            f"one-item-per-request {naive:,.0f} items/s  ratio {batched / naive:.1f}x  "
            f"(target ≥ 5,000/s)"
        )
        hub50, hub99, hub_n = latency(root / "hub", options.rate, options.seconds, hub=True)
        direct50, direct99, _ = latency(root / "direct", options.rate, options.seconds, hub=False)
        print(
            f"latency at {options.rate:.0f} items/s ({hub_n} items)  "
            f"JPN→USA→KOR p50 {hub50:.0f} ms p99 {hub99:.0f} ms  |  "
            f"direct JPN→KOR p50 {direct50:.0f} ms p99 {direct99:.0f} ms  "
            f"ratio p99 {hub99 / max(direct99, 1e-3):.1f}x  (target p99 ≤ 200 ms via hub)"
        )
        print(f"measured {format_time(datetime.now(UTC))}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
