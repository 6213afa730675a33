"""Three real nodes (``trilat serve`` subprocesses) replicate random items; each node's
final contents are compared with the SPEC §4 oracle: nothing lost, duplicated or leaked,
also across ``kill -9`` of a receiver and of a sender and across a healed partition."""

from __future__ import annotations

import random
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.federation.support import (
    Cluster,
    compare,
    expected_holdings,
    originated,
    post_all,
    post_consents,
    post_standing_consent,
    random_items,
    wait_settled,
)


def check(cluster: Cluster, label: str) -> dict[str, int]:
    wait_settled(cluster, timeout=90)
    found = cluster.holdings()
    items = originated(found)
    expected = expected_holdings(items, datetime.now(UTC))
    counts = compare(expected, found)
    held = {nation: len(inventory.documents) for nation, inventory in found.items()}
    print(f"{label}: {len(items)} items, held {held}, {counts}")
    return counts


def test_random_items_reach_exactly_the_nodes_the_oracle_allows(cluster: Cluster) -> None:
    rng = random.Random(20141229)
    post_standing_consent(cluster, "JPN", ["KOR"], "dprk.nuclear")
    posted = post_all(cluster, random_items(rng, 1500))
    consents = post_consents(cluster, posted, rng, share=0.15)
    assert consents > 50
    counts = check(cluster, "total queue")
    assert counts == {"lost": 0, "duplicated": 0, "unexpected": 0}
    relayed = cluster.status("USA")["peers"]
    assert sum(peer["pushed"] for peer in relayed) > 0


@pytest.mark.soak
def test_ten_thousand_random_items_with_crashes_and_a_partition_match_the_oracle(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if "soak" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("a soak run (several minutes): make soak, or pytest -m soak")
    cluster = Cluster.start(tmp_path, proxied=[("USA", "KOR"), ("KOR", "USA")])
    try:
        rng = random.Random(10_000)
        post_standing_consent(cluster, "KOR", ["JPN"], "dprk.nuclear")
        poster = Poster(cluster, seed=10_000, count=10_000)
        poster.thread.start()
        try:
            poster.wait_for(2_000, timeout=600)
            receiver = cluster.nodes["KOR"]
            assert receiver.server is not None
            poster.down.add("KOR")
            receiver.server.stop(signal.SIGKILL)
            poster.wait_for(3_500, timeout=600)
            receiver.server.start()
            poster.down.discard("KOR")
            for proxy in cluster.proxies.values():
                proxy.partition()
            poster.wait_for(5_500, timeout=600)
            for proxy in cluster.proxies.values():
                proxy.heal()
            sender = cluster.nodes["JPN"]
            assert sender.server is not None
            poster.down.add("JPN")
            sender.server.stop(signal.SIGKILL)
            poster.wait_for(7_000, timeout=600)
            sender.server.start()
            poster.down.discard("JPN")
            poster.thread.join(1200)
        finally:
            poster.stop.set()
            poster.thread.join(60)
        items = originated(cluster.holdings())
        post_consents(cluster, items, rng, share=0.05)
        counts = check(cluster, "soak")
        assert counts == {"lost": 0, "duplicated": 0, "unexpected": 0}
    finally:
        cluster.stop()


class Poster:
    """Posts *count* random items to live nodes from a thread (a node that is down is
    skipped, its share made up by the others)."""

    def __init__(self, cluster: Cluster, seed: int, count: int = 5000) -> None:
        self.cluster = cluster
        self.count = count
        self.rng = random.Random(seed)
        self.down: set[str] = set()
        self.stop = threading.Event()
        self.posted = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        clients = {n: node.client() for n, node in self.cluster.nodes.items()}
        try:
            for _ in range(self.count * 3):  # skipped posts are made up, within a bound
                if self.stop.is_set() or self.posted >= self.count:
                    return
                [request] = random_items(self.rng, 1)
                owner = request.pop("owner")
                if owner in self.down:
                    continue
                try:
                    response = clients[owner].post("/api/v1/items", json=request)
                except httpx.HTTPError:
                    continue
                if response.status_code == 201:
                    self.posted += 1
        finally:
            for client in clients.values():
                client.close()

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.posted < count and time.monotonic() < deadline:
            time.sleep(0.05)


def test_kill_9_of_a_receiver_and_of_a_sender_loses_and_duplicates_nothing(
    cluster: Cluster,
) -> None:
    poster = Poster(cluster, seed=7)
    poster.thread.start()
    try:
        poster.wait_for(150)
        receiver = cluster.nodes["KOR"]
        assert receiver.server is not None
        poster.down.add("KOR")
        receiver.server.stop(signal.SIGKILL)
        poster.wait_for(300)
        receiver.server.start()
        poster.down.discard("KOR")
        poster.wait_for(450)
        sender = cluster.nodes["JPN"]
        assert sender.server is not None
        poster.down.add("JPN")
        sender.server.stop(signal.SIGKILL)
        poster.wait_for(600)
        sender.server.start()
        poster.down.discard("JPN")
        poster.wait_for(700)
    finally:
        poster.stop.set()
        poster.thread.join(60)
    assert check(cluster, "kill -9") == {"lost": 0, "duplicated": 0, "unexpected": 0}


def test_a_partition_between_two_nodes_heals_without_loss_or_duplicates(tmp_path: Path) -> None:
    cluster = Cluster.start(tmp_path, proxied=[("JPN", "KOR"), ("KOR", "JPN")])
    try:
        poster = Poster(cluster, seed=11)
        poster.thread.start()
        try:
            poster.wait_for(100)
            for proxy in cluster.proxies.values():
                proxy.partition()
            poster.wait_for(400)
            status = cluster.status("JPN")
            link = next(p for p in status["peers"] if p["nation"] == "KOR")
            assert link["last_error"] is not None
            for proxy in cluster.proxies.values():
                proxy.heal()
            poster.wait_for(500)
        finally:
            poster.stop.set()
            poster.thread.join(60)
        assert check(cluster, "partition") == {"lost": 0, "duplicated": 0, "unexpected": 0}
    finally:
        cluster.stop()
