"""Three real nodes as ``trilat serve`` subprocesses on 127.0.0.1, a TCP proxy that the
tests partition, and the expected holdings computed from the SPEC §4 oracle.

The oracle (``tests.core.oracle.judge``) shares no code with the policy engine. Holdings
are a fixed point: an item reaches a node when some node holding it may release it there,
given the consent items that node holds itself.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.core.oracle import OracleConsent, judge
from trilat.agreement_files import load_agreements
from trilat.cli.node import init
from trilat.cli.peer import add
from trilat.config import load_settings
from trilat.core.agreements import parse_classification
from trilat.core.labels import parse_label
from trilat.federation.clock import SCENARIO_CLOCK_FILE
from trilat.store import open_store

TRILAT = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "trilat")
NATIONS = ("USA", "JPN", "KOR")

BANNERS = (
    "SECRET//REL TO USA, JPN, KOR",
    "SECRET//REL TO USA, JPN, KOR",
    "CONFIDENTIAL//REL TO USA, JPN, KOR",
    "SECRET//NOFORN",
    "CONFIDENTIAL//REL TO USA, KOR",
    "SECRET//REL TO USA, JPN",
    "TOP SECRET//REL TO USA, JPN, KOR",
    "SECRET//ORCON/REL TO USA, JPN, KOR",
    "UNCLASSIFIED",
    "UNCLASSIFIED//TLP:AMBER",
)
TOPICS = (
    ("dprk.missile",),
    ("dprk.missile.warning",),
    ("dprk.nuclear",),
    ("maritime.sts",),
    ("cyber",),
    ("dprk.missile", "maritime.sts"),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """``trilat serve DIR`` as a child process on a fixed loopback port."""

    def __init__(self, node_dir: Path, port: int) -> None:
        self.node_dir, self.port = node_dir, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[str] | None = None
        self.start()

    def start(self) -> None:
        env = {**os.environ, "TRILAT_LOG_LEVEL": "ERROR"}
        self.process = subprocess.Popen(
            [TRILAT, "serve", str(self.node_dir), "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith(
            ("listening on http://127.0.0.1:", "listening on https://127.0.0.1:")
        ), line

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.communicate(timeout=30)
        self.process = None


class Proxy:
    """A loopback TCP proxy in front of one node; ``partition()`` cuts and refuses, ``heal()``
    lets connections through again."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = int(self.listener.getsockname()[1])
        self.cut = threading.Event()
        self.closed = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while not self.cut.is_set() and not self.closed.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                s.close()
            with self._lock:
                self._sockets.difference_update((a, b))

    def partition(self) -> None:
        self.cut.set()
        with self._lock:
            for s in list(self._sockets):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def heal(self) -> None:
        self.cut.clear()

    def close(self) -> None:
        self.closed.set()
        self.partition()
        self.listener.close()


@dataclass
class Node:
    nation: str
    directory: Path
    port: int
    server: Server | None = None
    token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30.0,
            trust_env=False,
        )


@dataclass
class Cluster:
    """USA, JPN and KOR nodes, all peered with each other (optionally through proxies)."""

    root: Path
    nodes: dict[str, Node] = field(default_factory=dict)
    proxies: dict[tuple[str, str], Proxy] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        root: Path,
        *,
        proxied: Iterable[tuple[str, str]] = (),
        scenario: str | None = None,
    ) -> Cluster:
        """Initialise, peer and serve the three nodes; *scenario* sets their clocks."""
        cluster = cls(root)
        for nation in NATIONS:
            directory = root / nation.lower()
            port = free_port()
            init(directory, nation=nation, listen=f"127.0.0.1:{port}", db=None, node_id=None)
            if scenario is not None:
                (directory / SCENARIO_CLOCK_FILE).write_text(scenario + "\n")
            token = (directory / "admin.token").read_text().strip()
            cluster.nodes[nation] = Node(nation, directory, port, token=token)
        for sender, receiver in proxied:
            cluster.proxies[(sender, receiver)] = Proxy(cluster.nodes[receiver].port)
        for holder in NATIONS:
            for other in NATIONS:
                if other == holder:
                    continue
                proxy = cluster.proxies.get((holder, other))
                url = (
                    f"http://127.0.0.1:{proxy.port}"
                    if proxy is not None
                    else cluster.nodes[other].url
                )
                card = cluster.card(other, url)
                add(cluster.nodes[holder].directory, card, verify_only=False)
        for node in cluster.nodes.values():
            node.server = Server(node.directory, node.port)
        return cluster

    def card(self, nation: str, url: str) -> Path:
        from trilat.api.app import read_private_key
        from trilat.federation.cards import card_document, make_card

        settings = load_settings(self.nodes[nation].directory)
        document = card_document(
            make_card(
                nation=nation,
                node=settings.node_id,
                url=url,
                private_key=read_private_key(settings.key_path),
                issued=datetime.now(UTC),
            )
        )
        path = self.root / f"card-{nation}-{url.rsplit(':', 1)[-1]}.json"
        path.write_text(json.dumps(document))
        return path

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.server is not None:
                node.server.stop()
        for proxy in self.proxies.values():
            proxy.close()

    def holdings(self) -> dict[str, Inventory]:
        """What each node's store holds, read directly (the operator's view)."""
        return {nation: inventory(node.directory) for nation, node in self.nodes.items()}

    def status(self, nation: str) -> dict[str, Any]:
        with self.nodes[nation].client() as client:
            response = client.get("/api/v1/federation/status")
            response.raise_for_status()
            return dict(response.json())


@dataclass
class Inventory:
    """Items a store holds (by id, as documents) and how often each was accepted."""

    documents: dict[str, dict[str, Any]]
    accepted: dict[str, int]


def inventory(directory: Path) -> Inventory:
    store = open_store(load_settings(directory).database_url)
    try:
        documents: dict[str, dict[str, Any]] = {}
        cursor = 0
        while True:
            batch = store.read_after(cursor, 1000)
            for stored in batch:
                cursor = stored.seq
                if stored.document is not None:
                    documents[stored.id] = json.loads(stored.document)
            if len(batch) < 1000:
                break
        accepted: dict[str, int] = {}
        size = store.audit_size()
        for start in range(0, size, 5000):
            for leaf in store.audit_leaves(start, min(size, start + 5000)):
                if leaf.event in ("accept", "consent") and leaf.item_id is not None:
                    accepted[leaf.item_id] = accepted.get(leaf.item_id, 0) + 1
        return Inventory(documents, accepted)
    finally:
        store.close()


def originated(holdings: dict[str, Inventory]) -> list[Posted]:
    """Every item as its owner's node holds it (the ground truth of what was created)."""
    items = []
    for nation, held in holdings.items():
        for document in held.documents.values():
            if document["originator"]["nation"] == nation:
                items.append(posted_from(nation, document))
    return items


@dataclass(frozen=True)
class Posted:
    id: str
    owner: str
    banner: str
    topics: tuple[str, ...]
    recipients: tuple[str, ...]
    consent: dict[str, Any] | None = None  # the body of a consent item


def random_items(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """*count* item requests with random originator, label, topics and recipients."""
    requests = []
    for number in range(count):
        owner = rng.choice(NATIONS)
        banner = rng.choice(BANNERS)
        recipients = sorted(rng.sample(NATIONS, rng.randint(1, 3))) if "AMBER" in banner else []
        requests.append(
            {
                "owner": owner,
                "kind": "report",
                "label": banner,
                "topics": list(rng.choice(TOPICS)),
                "body": {"text": f"item {number}"},
                "recipients": recipients,
            }
        )
    return requests


def post_all(cluster: Cluster, requests: list[dict[str, Any]], threads: int = 6) -> list[Posted]:
    """Post every request to its owner's node, concurrently; return what was created."""
    results: list[Posted | None] = [None] * len(requests)
    clients = {nation: cluster.nodes[nation].client() for nation in NATIONS}
    lock = threading.Lock()
    position = 0

    def worker() -> None:
        nonlocal position
        while True:
            with lock:
                index = position
                position += 1
            if index >= len(requests):
                return
            request = requests[index]
            owner = request["owner"]
            payload = {k: v for k, v in request.items() if k != "owner"}
            response = clients[owner].post("/api/v1/items", json=payload)
            assert response.status_code == 201, response.text
            results[index] = posted_from(owner, response.json())

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(300)
    for client in clients.values():
        client.close()
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def posted_from(owner: str, document: dict[str, Any]) -> Posted:
    return Posted(
        id=document["id"],
        owner=owner,
        banner=document["label"],
        topics=tuple(document["topics"]),
        recipients=tuple(document.get("recipients", ())),
        consent=document["body"] if document["kind"] == "consent" else None,
    )


def _oracle_consent(item: Posted) -> OracleConsent:
    body = item.consent or {}
    ceiling = body.get("ceiling")
    return OracleConsent(
        kind=body.get("kind", "consent"),
        issuer=item.owner,
        destinations=frozenset(body["to"]),
        item_id=body.get("item"),
        topic=body.get("topic"),
        ceiling=int(parse_classification(ceiling)) if ceiling else None,
        valid_from=None,
        valid_until=None,
    )


def expected_holdings(items: list[Posted], at: datetime) -> dict[str, set[str]]:
    """Which nations end up holding each item, from the independent oracle of SPEC §4."""
    agreements = load_agreements()
    held = {item.id: {item.owner} for item in items}
    consents = [item for item in items if item.consent is not None]
    labels = {item.id: parse_label(item.banner, owner=item.owner) for item in items}
    changed = True
    rounds = 0
    while changed and rounds < 20:
        changed, rounds = False, rounds + 1
        for item in items:
            for holder in sorted(held[item.id]):
                known = [
                    _oracle_consent(c)
                    for c in consents
                    if holder in held[c.id] and (c.consent or {}).get("item") in (None, item.id)
                ]
                for destination in NATIONS:
                    if destination in held[item.id]:
                        continue
                    verdict = judge(
                        agreements,
                        labels[item.id],
                        item.topics,
                        item.recipients,
                        item.id,
                        holder,
                        destination,
                        at,
                        known,
                    )
                    if verdict.decision == "allow":
                        held[item.id].add(destination)
                        changed = True
    result: dict[str, set[str]] = {nation: set() for nation in NATIONS}
    for item_id, nations in held.items():
        for nation in nations:
            result[nation].add(item_id)
    return result


def compare(expected: dict[str, set[str]], found: dict[str, Inventory]) -> dict[str, int]:
    """Lost, duplicated (accepted twice) and unexpected (leaked) counts over all nodes."""
    lost = duplicated = leaked = 0
    for nation in NATIONS:
        have = set(found[nation].documents)
        lost += len(expected[nation] - have)
        leaked += len(have - expected[nation])
        duplicated += sum(count - 1 for count in found[nation].accepted.values() if count > 1)
    return {"lost": lost, "duplicated": duplicated, "unexpected": leaked}


def wait_settled(cluster: Cluster, timeout: float, nations: Iterable[str] = NATIONS) -> None:
    """Wait until no link has anything left to send and no store grows, or *timeout*."""
    deadline = time.monotonic() + timeout
    quiet, heads = 0, {}
    while time.monotonic() < deadline and quiet < 3:
        now = {}
        behind = 0
        for nation in nations:
            try:
                status = cluster.status(nation)
            except httpx.HTTPError:
                behind += 1
                continue
            now[nation] = status["head"]
            behind += sum(p["behind"] for p in status["peers"] if p["link"])
        quiet = quiet + 1 if behind == 0 and now == heads else 0
        heads = now
        time.sleep(0.3)


def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> bool:
    """Poll *predicate* until it holds or *timeout* seconds pass; returns the last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def post_consents(cluster: Cluster, items: list[Posted], rng: random.Random, share: float) -> int:
    """Per-item consents by the originator for a *share* of the items; returns how many."""
    made = 0
    clients = {nation: cluster.nodes[nation].client() for nation in NATIONS}
    try:
        for item in items:
            if item.consent is not None or rng.random() >= share:
                continue
            others = [n for n in NATIONS if n != item.owner]
            response = clients[item.owner].post(
                f"/api/v1/items/{item.id}/consent", json={"to": rng.sample(others, 1)}
            )
            assert response.status_code == 201, response.text
            made += 1
    finally:
        for client in clients.values():
            client.close()
    return made


def post_standing_consent(cluster: Cluster, owner: str, to: list[str], topic: str) -> None:
    with cluster.nodes[owner].client() as client:
        response = client.post(
            "/api/v1/items",
            json={
                "kind": "consent",
                "label": "SECRET//REL TO USA, JPN, KOR",
                "topics": [topic],
                "body": {"to": to, "topic": topic, "ceiling": "SECRET", "kind": "consent"},
            },
        )
        assert response.status_code == 201, response.text
