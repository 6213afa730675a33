"""Adding objects: the pending → complete status path, the batch commit through
``Node.originate_many`` (all or nothing, audited), and STIX checks in worker processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import make_node, serve_in_thread
from tests.store.backends import BACKENDS, store_url_for
from tests.taxii.conftest import CYBER, TaxiiNode, envelope_of, indicator, marked
from trilat.adapters.stix import item_from_stix
from trilat.api.node import Node
from trilat.api.problems import Problem
from trilat.api.taxii import API_ROOT, TAXII_MEDIA_TYPE, install_taxii
from trilat.api.taxii_add import Adder, Busy, StatusBook, Validator
from trilat.core.items import Item
from trilat.core.labels import parse_label
from trilat.store import User


@pytest.fixture
def deferred(tmp_path: Path) -> Iterator[TaxiiNode]:
    """A node whose TAXII POSTs answer at once, before the add is done."""
    made = make_node(f"sqlite:///{tmp_path / 'store.sqlite3'}", body_limit=256 * 1024)
    app = FastAPI()
    install_taxii(app, made.node, answer_within=0.0)
    running = serve_in_thread(app)
    yield TaxiiNode(made, running)
    running.server.should_exit = True
    running.thread.join(timeout=15)
    made.node.store.close()
    assert not running.thread.is_alive()


def _post(taxii: TaxiiNode, envelope: dict[str, Any]) -> dict[str, Any]:
    headers = {**taxii.headers("admin"), "Content-Type": TAXII_MEDIA_TYPE}
    response = httpx.post(
        f"{taxii.root}collections/{CYBER.id}/objects/",
        content=json.dumps(envelope).encode(),
        headers=headers,
    )
    assert response.status_code == 202, response.text
    document: dict[str, Any] = response.json()
    return document


def _poll(taxii: TaxiiNode, status_id: str, *, seconds: float = 20.0) -> dict[str, Any]:
    """The status resource once complete (polled as a TAXII client does, bounded)."""
    deadline = time.monotonic() + seconds
    for _ in range(2000):
        response = httpx.get(f"{taxii.root}status/{status_id}/", headers=taxii.headers("admin"))
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        if document["status"] == "complete" or time.monotonic() > deadline:
            return document
        time.sleep(0.02)
    return document


def test_post_answers_pending_while_the_add_waits_then_the_status_completes(
    deferred: TaxiiNode,
) -> None:
    node = deferred.made.node
    pairs = [marked(indicator(n), "green") for n in range(3)]
    ids = {obj["id"] for obj, _ in pairs}
    before = node.store.audit_size()
    with node._write_lock:  # the commit cannot happen until the answer is in hand
        status = _post(deferred, envelope_of(pairs))
        assert status["status"] == "pending"
        assert status["pending_count"] == status["total_count"] == len(pairs) + 3
        assert {p["id"] for p in status["pendings"]} >= ids
        assert status["success_count"] == status["failure_count"] == 0
        # nothing is stored half-way while it is pending
        assert node.store.read_after(0, 100) == []
        assert node.store.audit_size() == before
    done = _poll(deferred, status["id"])
    assert done["status"] == "complete", done
    assert done["pending_count"] == 0
    assert done["pendings"] == []
    assert done["failure_count"] == 0
    assert done["success_count"] == done["total_count"]
    assert {s["id"] for s in done["successes"]} >= ids
    stored = node.store.read_after(0, 100)
    assert len(stored) == len(pairs)
    assert node.store.audit_size() == before + len(pairs)
    # every stored object is readable over TAXII again
    url = f"{deferred.root}collections/{CYBER.id}/objects/"
    served = httpx.get(url, headers=deferred.headers("admin")).json()
    assert {obj["id"] for obj in served["objects"]} == ids


def test_pending_status_reports_refusals_per_object_when_complete(deferred: TaxiiNode) -> None:
    good, definitions = marked(indicator(1), "green")
    broken, _ = marked(indicator(2), "green")
    broken["pattern"] = "[ipv4-addr:value = "
    unmarked = indicator(3)
    status = _post(deferred, envelope_of([(good, definitions), (broken, []), (unmarked, [])]))
    done = _poll(deferred, status["id"])
    assert done["status"] == "complete"
    failures = {f["id"]: f["message"] for f in done["failures"]}
    assert set(failures) == {broken["id"], unmarked["id"]}
    assert "pattern" in failures[broken["id"]]
    assert good["id"] in {s["id"] for s in done["successes"]}
    assert len(deferred.made.node.store.read_after(0, 100)) == 1


def test_status_of_a_pending_add_is_hidden_from_other_users(deferred: TaxiiNode) -> None:
    node = deferred.made.node
    with node._write_lock:
        status = _post(deferred, envelope_of([marked(indicator(1), "green")]))
        other = httpx.get(
            f"{deferred.root}status/{status['id']}/", headers=deferred.headers("analyst")
        )
        assert other.status_code == 404
    assert _poll(deferred, status["id"])["status"] == "complete"


# --- Node.originate_many ------------------------------------------------------------------------


def _user(node: Node, name: str) -> User:
    return next(user for user in node.store.users() if user.name == name)


def _items(count: int, label: str = "UNCLASSIFIED//TLP:GREEN") -> list[Item]:
    parsed = parse_label(label, owner="USA")
    items = []
    for number in range(count):
        obj, definitions = marked(indicator(number), "green")
        item = item_from_stix(obj, definitions, topics=("cyber",))
        items.append(Item(kind="indicator", label=parsed, topics=item.topics, body=item.body))
    return items


@pytest.mark.parametrize("backend", BACKENDS)
def test_originate_many_commits_every_item_with_its_accept_leaf_in_order(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    made = make_node(store_url_for(backend, request, tmp_path))
    node = made.node
    try:
        before = node.store.audit_size()
        shown = node.originate_many(_items(5), _user(node, "analyst"), via="taxii")
        assert [v.seq for v in shown] == sorted(v.seq for v in shown)
        stored = node.store.read_after(0, 100)
        assert [s.id for s in stored] == [v.envelope.id for v in shown]
        leaves = node.store.audit_leaves(before, node.store.audit_size())
        assert [leaf.event for leaf in leaves] == ["accept"] * 5
        assert [leaf.item_id for leaf in leaves] == [v.envelope.id for v in shown]
        assert all(b'"via":"taxii"' in leaf.data for leaf in leaves)
        assert node.published_head == shown[-1].seq
    finally:
        node.store.close()


def test_originate_many_refuses_the_whole_batch_for_one_bad_item(tmp_path: Path) -> None:
    node = make_node(f"sqlite:///{tmp_path / 'store.sqlite3'}").node
    try:
        analyst = _user(node, "analyst")  # cleared to SECRET
        items = _items(2) + _items(1, "TOP SECRET//NOFORN")
        with pytest.raises(Problem, match="not cleared"):
            node.originate_many(items, analyst)
        recall = Item(kind="recall", label=items[0].label, topics=("cyber",), body={})
        with pytest.raises(Problem, match="originated alone"):
            node.originate_many([*_items(1), recall], _user(node, "admin"))
        assert node.store.read_after(0, 100) == []
        assert node.store.audit_size() == 0
    finally:
        node.store.close()


# --- checking in worker processes ---------------------------------------------------------------


def test_worker_processes_judge_each_object_as_the_inline_check_does() -> None:
    objects = [marked(indicator(n), "green")[0] for n in range(6)]
    objects[2]["pattern"] = "[file:hashes.'SHA-256' = 'x'] AND"
    objects[4]["valid_until"] = "2020-01-01T00:00:00Z"  # before valid_from
    inline = Validator(workers=1).check(objects)
    pool = Validator(workers=2, threshold=1)
    try:
        assert pool.wait_ready(60)
        assert not pool.failed
        pooled = pool.check(objects)
    finally:
        pool.close()
    assert pooled == inline
    assert [error is None for error in pooled] == [True, True, False, True, False, True]


def test_api_root_still_serves_after_adds(deferred: TaxiiNode) -> None:
    status = _post(deferred, envelope_of([marked(indicator(1), "green")]))
    assert _poll(deferred, status["id"])["status"] == "complete"
    root = httpx.get(deferred.served.url + API_ROOT, headers=deferred.headers("admin"))
    assert root.status_code == 200


def test_adds_past_the_in_flight_bound_are_refused_until_one_completes(tmp_path: Path) -> None:
    made = make_node(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    node = made.node
    adder = Adder(node, StatusBook(1000), Validator(workers=1), in_flight=1)
    admin = _user(node, "admin")
    obj, definitions = marked(indicator(1), "green")
    try:
        with node._write_lock:
            status, work = adder.submit("cyber", admin, [obj, *definitions], "now")
            with pytest.raises(Busy):
                adder.submit("cyber", admin, [obj, *definitions], "now")
        work.result(timeout=30)
        assert adder.book.get(status.id, "admin") is not None
        second, more = marked(indicator(2), "green")
        _, again = adder.submit("cyber", admin, [second, *more], "now")
        again.result(timeout=30)
        assert len(node.store.read_after(0, 10)) == 2
    finally:
        adder.close()
        node.store.close()


_KILLED_SERVER = """
import os, signal, sys
from trilat.api.taxii_add import Validator

if __name__ == "__main__":
    validator = Validator(workers=2, threshold=1)
    assert validator.wait_ready(60)
    print(" ".join(str(pid) for pid in validator._pool._processes), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_worker_processes_end_when_the_server_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(_KILLED_SERVER)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    workers = [int(pid) for pid in done.stdout.split()]
    assert len(workers) == 2
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)
