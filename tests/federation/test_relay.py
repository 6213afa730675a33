"""Hub relay in 2015 terms (TISA, before the Japan–Korea GSOMIA), on three real nodes whose
scenario clocks read 2015-06-01: a Japanese item reaches Korea only through the US hub and
only once Japan consents; Korea verifies Japan's signature and records the path; a NOFORN
item stays home; a recall follows every copy; each node cosigns its peers' checkpoints and
notices a peer whose log was rolled back."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.federation.support import Cluster, inventory, wait_for, wait_settled
from trilat.core.audit import CompactRange
from trilat.store import open_store
from trilat.store.federation import FederationTables


@pytest.fixture
def cluster_2015(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster.start(tmp_path, scenario="2015-06-01T00:00:00Z")
    try:
        yield started
    finally:
        started.stop()


def post(cluster: Cluster, nation: str, path: str, payload: dict[str, object]) -> dict[str, object]:
    with cluster.nodes[nation].client() as client:
        response = client.post(path, json=payload)
    assert response.status_code == 201, response.text
    return dict(response.json())


def holds(cluster: Cluster, nation: str, item_id: str) -> bool:
    return item_id in inventory(cluster.nodes[nation].directory).documents


def path_at(cluster: Cluster, nation: str, item_id: str) -> tuple[str, ...] | None:
    store = open_store(f"sqlite:///{cluster.nodes[nation].directory / 'store.sqlite3'}")
    try:
        return FederationTables(store).path(item_id)
    finally:
        store.close()


def test_tisa_hub_relays_a_japanese_item_to_korea_only_after_japan_consents(
    cluster_2015: Cluster,
) -> None:
    cluster = cluster_2015
    report = {
        "kind": "report",
        "label": "SECRET//REL TO USA, JPN, KOR",
        "topics": ["dprk.missile"],
        "body": {"text": "launch detected"},
    }
    item = post(cluster, "JPN", "/api/v1/items", report)
    noforn = post(cluster, "JPN", "/api/v1/items", {**report, "label": "SECRET//NOFORN"})
    assert str(item["created"]).startswith("2015-06-01")
    assert wait_for(lambda: holds(cluster, "USA", str(item["id"])))
    wait_settled(cluster, timeout=30)
    assert not holds(cluster, "KOR", str(item["id"]))  # no direct path, no consent yet
    hub = cluster.status("USA")
    waiting = next(p for p in hub["peers"] if p["nation"] == "KOR")
    assert waiting["pending_consent"] >= 1

    post(cluster, "JPN", f"/api/v1/items/{item['id']}/consent", {"to": ["KOR"]})
    assert wait_for(lambda: holds(cluster, "KOR", str(item["id"])))
    assert path_at(cluster, "KOR", str(item["id"])) == ("jpn-1", "usa-1", "kor-1")
    korean_copy = inventory(cluster.nodes["KOR"].directory).documents[str(item["id"])]
    assert korean_copy["sig"] == item["sig"]  # Japan's signature, end to end
    assert korean_copy["originator"] == {"node": "jpn-1", "nation": "JPN"}
    wait_settled(cluster, timeout=30)
    for nation in ("USA", "KOR"):
        assert not holds(cluster, nation, str(noforn["id"]))

    recall = post(
        cluster,
        "JPN",
        "/api/v1/items",
        {**report, "kind": "recall", "body": {"item": item["id"], "reason": "spillage"}},
    )
    for nation in ("USA", "KOR"):
        assert wait_for(lambda n=nation: not holds(cluster, n, str(item["id"])))
        assert wait_for(lambda n=nation: holds(cluster, n, str(recall["id"])))


def test_peers_cosign_checkpoints_and_detect_a_rolled_back_log(cluster_2015: Cluster) -> None:
    cluster = cluster_2015
    for number in range(5):
        post(
            cluster,
            "KOR",
            "/api/v1/items",
            {
                "kind": "report",
                "label": "UNCLASSIFIED",
                "topics": ["hadr"],
                "body": {"text": f"relief {number}"},
            },
        )

    def cosigned_size() -> int:
        peers = cluster.status("USA")["peers"]
        checkpoint = next(p for p in peers if p["nation"] == "KOR")["checkpoint"]
        return int(checkpoint["size"]) if checkpoint else 0

    assert wait_for(lambda: cosigned_size() > 10, timeout=30)
    seen = cosigned_size()
    korea = cluster.nodes["KOR"]
    assert korea.server is not None
    korea.server.stop(signal.SIGKILL)
    database = sqlite3.connect(korea.directory / "store.sqlite3")
    keep = seen - 3
    hashes = [
        row[0]
        for row in database.execute(
            "SELECT leaf_hash FROM audit_leaves WHERE idx < ? ORDER BY idx", (keep,)
        )
    ]
    compact = CompactRange()
    compact.extend(hashes)
    with database:
        database.execute("DELETE FROM audit_leaves WHERE idx >= ?", (keep,))
        database.execute(
            "UPDATE audit_state SET size = ?, hashes = ? WHERE id = 1",
            (compact.size, b"".join(compact.hashes)),
        )
        database.execute("DELETE FROM checkpoints WHERE size > ?", (keep,))
    database.close()
    korea.server.start()

    def alerted() -> bool:
        alerts = cluster.status("USA")["alerts"]
        return any(a["peer"] == "kor-1" and a["kind"] == "checkpoint-fork" for a in alerts)

    assert wait_for(alerted, timeout=30)
