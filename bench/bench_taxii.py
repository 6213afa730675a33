"""TAXII 2.1: trilat's endpoint beside medallion (OASIS reference server), same harness, one run.

1. Starts medallion (``peers.py serve medallion``, memory backend) and a fresh trilat node
   (``trilat init`` + ``trilat serve``), then runs the shared peer harness
   ``taxii_bench.py`` against both in one invocation: add-objects rate per envelope size
   and paging the collection at a few sizes. Prints objects/s added and paged and the page
   latency side by side, with the ratio trilat / medallion.
2. Adds without HTTP (``--skip-adds`` leaves them out): ``Adder.add`` on envelopes of 1, 100
   and 1,000 harness-shaped indicators in this process, the cost per object in microseconds
   (check, label, seal, audit leaf and commit) — steadier than the HTTP figures when others
   share the cores.
3. Page latency of trilat at 10,000 objects loaded directly into a fresh node's store
   (``--soak``: at 1,000,000, the target being < 50 ms per page of 100).

Needs the peer venvs (``/tmp/peer-bench/venvs``, from ``setup_venvs.sh``) and the harness
in ``../shared/bench/peers``; skips part 1 with a message when they are absent.

Run: ``.venv/bin/python bench/bench_taxii.py`` (about a minute on 2 shared cores);
``--soak`` adds the million-object load (several minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from trilat.api.app import build_node
from trilat.api.taxii import API_ROOT, TAXII_MEDIA_TYPE, collection_for
from trilat.api.taxii_add import Adder, StatusBook
from trilat.config import load_settings
from trilat.core.items import Item, seal
from trilat.core.labels import parse_label
from trilat.store.auditlog import audit_entry
from trilat.store.records import document_text, item_row

REPO = Path(__file__).resolve().parents[1]
PEERS = Path(os.environ.get("TRILAT_PEERS", REPO.parent / "shared" / "bench" / "peers"))
VENVS = Path(os.environ.get("TRILAT_PEER_VENVS", "/tmp/peer-bench/venvs"))  # noqa: S108 - where setup_venvs.sh puts them
TRILAT = str(Path(sys.executable).with_name("trilat"))
POST_COLLECTION = collection_for("exercise")
PAGE_COLLECTION = collection_for("cyber")
GREEN = "UNCLASSIFIED//TLP:GREEN"
MOSTLY_DENIED = (
    ("SECRET//REL TO USA, JPN",) + ("SECRET//NOFORN",) * 10 + ("SECRET//REL TO USA, KOR",) * 9
)
"""One object in 20 released to Japan: what a JPN liaison officer pages through."""


class Process:
    """A child process that prints one line we wait for; stopped by its own pid."""

    def __init__(self, command: list[str], marker: str, timeout: float = 60.0) -> None:
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise SystemExit(f"{command[0]} exited before printing {marker!r}")
            if line.startswith(marker):
                self.line = line.strip()
                return
        self.stop()
        raise SystemExit(f"{command[0]} did not print {marker!r} in {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def init_node(directory: Path) -> str:
    """A fresh USA node in *directory*; returns the admin token."""
    subprocess.run(
        [TRILAT, "init", str(directory), "--nation", "USA"],
        check=True,
        capture_output=True,
    )
    return (directory / "admin.token").read_text().strip()


def serve_node(directory: Path) -> tuple[Process, str]:
    server = Process([TRILAT, "serve", str(directory), "--listen", "127.0.0.1:0"], "listening on")
    return server, server.line.removeprefix("listening on ").strip()


def stix_indicator(number: int) -> dict[str, Any]:
    stamp = "2026-01-02T03:04:05.000Z"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": stamp,
        "modified": stamp,
        "name": f"bench direct #{number}",
        "indicator_types": ["malicious-activity"],
        "pattern": f"[ipv4-addr:value = '203.0.113.{number % 256}']",
        "pattern_type": "stix",
        "valid_from": stamp,
    }


TLP1_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"


def harness_indicator(number: int) -> dict[str, Any]:
    """An indicator shaped as the peer harness's (a pattern of its own, TLP 1.0 GREEN)."""
    stamp = "2026-01-02T03:04:05.000Z"
    return {
        **stix_indicator(number),
        "name": f"bench add #{number}",
        "description": "Synthetic indicator generated by the benchmark.",
        "pattern": f"[ipv4-addr:value = '203.0.113.{number % 256}'] OR "
        f"[domain-name:value = 'h{number}.bench.example']",
        "valid_from": stamp,
        "confidence": 50,
        "labels": ["bench"],
        "object_marking_refs": [TLP1_GREEN],
    }


def direct_adds(directory: Path, sizes: tuple[tuple[int, int], ...]) -> None:
    """Adds without HTTP: ``Adder.add`` (check, label, seal, commit with audit leaves) on
    envelopes of harness-shaped indicators; the cost per object in the server process."""
    node = build_node(load_settings(directory))
    adder = Adder(node, StatusBook(1_000_000))
    user = next(user for user in node.store.users() if user.name == "admin")
    number = 0
    try:
        adder.add("cyber", user, [harness_indicator(-1)])  # warm caches and imports
        for size, count in sizes:
            envelopes = []
            for _ in range(count):
                envelopes.append([harness_indicator(number + k) for k in range(size)])
                number += size
            started = time.perf_counter()
            for objects in envelopes:
                successes, failures = adder.add("cyber", user, objects)
                if failures or len(successes) != size:
                    raise SystemExit(f"direct add failed: {failures[:1]}")
            seconds = time.perf_counter() - started
            print(
                f"in-process add {size:>5}/envelope: {seconds / (size * count) * 1e6:7.1f} us "
                f"per object, {size * count / seconds:9,.0f} obj/s "
                f"({seconds / count * 1000:.1f} ms per envelope, commit included)"
            )
    finally:
        adder.close()
        node.store.close()


def load_direct(
    directory: Path, count: int, batch: int = 2000, labels: tuple[str, ...] = (GREEN,)
) -> float:
    """Seal *count* indicator items into the node's store (one audit leaf each, *batch* per
    transaction), as a node would, item *n* labelled ``labels[n % len(labels)]``; returns
    the seconds it took."""
    node = build_node(load_settings(directory))
    parsed = [parse_label(text, owner="USA") for text in labels]
    started = time.perf_counter()
    try:
        for start in range(0, count, batch):
            rows = []
            for number in range(start, min(count, start + batch)):
                now = node.clock.now()
                label = parsed[number % len(parsed)]
                item = Item(kind="indicator", label=label, topics=("cyber",),
                            body=stix_indicator(number))  # fmt: skip
                envelope = seal(
                    item, originator=node.originator, private_key=node._private_key, at=now
                )
                row = item_row(envelope, document_text(envelope))
                entry = audit_entry("accept", at=now, actor="bench", item_id=envelope.id,
                                    digest=row.digest, kind="indicator")  # fmt: skip
                rows.append((row, entry))
            node.store.append_items(rows)
            if count >= 100_000 and (start // batch) % 50 == 0:
                print(f"  loaded {start + len(rows):,} / {count:,}", flush=True)
    finally:
        node.store.close()
    return time.perf_counter() - started


def page_through(url: str, token: str, expected: int, limit: int, max_pages: int) -> dict[str, Any]:
    """GET objects with ``next`` until the end or *max_pages*; latency per page."""
    headers = {"Authorization": f"Bearer {token}", "Accept": TAXII_MEDIA_TYPE}
    latencies: list[float] = []
    seen: set[str] = set()
    params: dict[str, Any] = {"limit": limit}
    more = True
    short = 0  # pages that stopped at the scan budget before the limit
    with httpx.Client(headers=headers, timeout=600) as client:
        while more and len(latencies) < max_pages:
            started = time.perf_counter()
            response = client.get(url, params=params)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
            document = response.json()
            objects = document.get("objects", [])
            seen.update(obj["id"] for obj in objects)
            more = bool(document.get("more"))
            short += more and len(objects) < limit
            if more:
                params = {"limit": limit, "next": document["next"]}
    later = sorted(latencies[1:]) or [0.0]
    return {
        "pages": len(latencies),
        "objects": len(seen),
        "complete": len(seen) == expected and not more,
        "first_ms": latencies[0] * 1000,
        "p50_ms": statistics.median(later) * 1000,
        "p99_ms": later[min(len(later) - 1, int(len(later) * 0.99))] * 1000,
        "max_ms": later[-1] * 1000,
        "short_pages": short,
    }


def direct_paging(
    count: int, limit: int, max_pages: int, work: Path, *, denied: bool = False
) -> None:
    """Page *count* objects loaded straight into a fresh node's store, as its admin; with
    *denied*, as a JPN liaison officer who may see one object in 20 (MOSTLY_DENIED)."""
    directory = work / f"direct-{count}{'-denied' if denied else ''}"
    token = init_node(directory)
    labels = MOSTLY_DENIED if denied else (GREEN,)
    seconds = load_direct(directory, count, labels=labels)
    print(f"loaded {count:,} sealed indicator items into the store in {seconds:.1f} s "
          f"({count / seconds:,.0f}/s, one audit leaf each)")  # fmt: skip
    expected = count
    who = "admin"
    if denied:
        added = subprocess.run(
            [TRILAT, "user", "add", str(directory), "--name", "kenji", "--nationality", "JPN",
             "--clearance", "SECRET", "--role", "liaison", "--json"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        token = json.loads(added.stdout)["token"]
        expected = len(range(0, count, len(MOSTLY_DENIED)))
        who = f"a JPN user who may see {expected:,} of them"
    server, url = serve_node(directory)
    try:
        objects = f"{url}{API_ROOT}collections/{PAGE_COLLECTION.id}/objects/"
        result = page_through(objects, token, expected, limit, max_pages)
        scope = "all" if result["complete"] else f"first {result['pages']} pages"
        print(
            f"trilat paging at {count:,} objects as {who} (limit {limit}, {scope}): first page "
            f"{result['first_ms']:.1f} ms, then p50 "
            f"{result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, max "
            f"{result['max_ms']:.1f} ms per page; target < 50 ms"
        )
        if denied:
            print(f"  {result['objects']:,} objects in {result['pages']} pages, "
                  f"{result['short_pages']} of them short (scan budget reached)")  # fmt: skip
        if count > limit * max_pages:  # and deep in the collection: jump near the end
            deep = page_through(objects, token, expected, limit, 20)
            print(f"  (repeat of the first 20 pages, caches warm: p50 {deep['p50_ms']:.1f} ms, "
                  f"first {deep['first_ms']:.1f} ms)")  # fmt: skip
    finally:
        server.stop()


def harness(work: Path, args: argparse.Namespace) -> None:
    client = VENVS / "client" / "bin" / "python"
    if not (PEERS / "taxii_bench.py").is_file() or not client.is_file():
        print(f"peer harness or venvs absent ({PEERS}, {VENVS}): medallion comparison skipped")
        return
    medallion = Process(
        [str(client), str(PEERS / "peers.py"), "serve", "medallion", "--venvs", str(VENVS),
         "--workdir", str(work / "medallion"), "--port", str(args.medallion_port),
         "--max-seconds", "1800"],
        "TARGET ",
        timeout=120,
    )  # fmt: skip
    ours_dir = work / "trilat"
    token = init_node(ours_dir)
    server, url = serve_node(ours_dir)
    try:
        theirs = medallion.line.removeprefix("TARGET ")
        ours = (
            f"trilat={url}{API_ROOT},user=admin,password={token},post={POST_COLLECTION.id},"
            f"page={PAGE_COLLECTION.id},pid={server.process.pid}"
        )
        out = work / "taxii.jsonl"
        command = [str(client), str(PEERS / "taxii_bench.py"), "--target", theirs,
                   "--target", ours, "--page-at", args.page_at, "--json-out", str(out),
                   "--phase-budget", str(args.phase_budget)]  # fmt: skip
        for post in args.post:
            command += ["--post", post]
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
        tables = done.stdout[done.stdout.find("\n\n") :] if "\n\n" in done.stdout else ""
        print(tables.strip() or done.stdout[-3000:])
        if done.returncode != 0:
            print(done.stderr[-2000:])
        records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        ratios(records)
    finally:
        server.stop()
        medallion.stop()


def ratios(records: list[dict[str, Any]]) -> None:
    def by(phase: str, key: str) -> dict[tuple[Any, str], dict[str, Any]]:
        return {
            (r[key], r["target"]): r for r in records if r.get("phase") == phase and "target" in r
        }

    print("\ntrilat / medallion, same harness, same run")
    posts = by("post", "bundle_size")
    for size in sorted({k[0] for k in posts}):
        ours, theirs = posts.get((size, "trilat")), posts.get((size, "medallion"))
        if ours and theirs and theirs.get("objects_per_s"):
            print(
                f"  add   {size:>5}/envelope  trilat {ours['objects_per_s']:>9,.0f} obj/s  "
                f"medallion {theirs['objects_per_s']:>9,.0f} obj/s  "
                f"ratio {ours['objects_per_s'] / theirs['objects_per_s']:.1f}x"
            )
    pages = by("page", "coll_size")
    for size in sorted({k[0] for k in pages}):
        ours, theirs = pages.get((size, "trilat")), pages.get((size, "medallion"))
        if ours and theirs and theirs.get("objects_per_s"):
            print(
                f"  page  {size:>5} objects  trilat {ours['objects_per_s']:>9,.0f} obj/s "
                f"(p50 {ours.get('page_p50_ms')} ms, complete {ours['complete']})  medallion "
                f"{theirs['objects_per_s']:>9,.0f} obj/s (p50 {theirs.get('page_p50_ms')} ms, "
                f"complete {theirs['complete']})  ratio "
                f"{ours['objects_per_s'] / theirs['objects_per_s']:.1f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak", action="store_true", help="also page 1,000,000 objects")
    parser.add_argument("--post", action="append", help="harness --post SIZE:REQUESTS")
    parser.add_argument("--page-at", default="500,1000,2000", help="harness --page-at")
    parser.add_argument("--phase-budget", type=float, default=60.0)
    parser.add_argument("--medallion-port", type=int, default=0, help="0: a free port")
    parser.add_argument("--skip-harness", action="store_true")
    parser.add_argument("--skip-adds", action="store_true", help="no in-process add figures")
    args = parser.parse_args()
    args.post = args.post or ["1:100", "100:10", "1000:3"]
    if args.medallion_port == 0:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args.medallion_port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="bench-taxii-") as temporary:
        work = Path(temporary)
        if not args.skip_harness:
            harness(work, args)
        if not args.skip_adds:
            print()
            init_node(work / "adds")
            direct_adds(work / "adds", ((1, 300), (100, 20), (1000, 5)))
        print()
        direct_paging(10_000, 100, 200, work)
        direct_paging(10_000, 100, 200, work, denied=True)
        if args.soak:
            direct_paging(1_000_000, 100, 200, work)
            direct_paging(1_000_000, 100, 200, work, denied=True)


if __name__ == "__main__":
    main()
