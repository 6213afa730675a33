"""The node CLI as operators run it: real ``trilat`` subprocesses on real stores."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer

from tests.store.backends import BACKENDS, postgres_database, store_url_for
from trilat.cli.errors import run_guarded
from trilat.cli.node import register

cli_app = typer.Typer(pretty_exceptions_enable=False)
register(cli_app)  # the node commands exactly as `trilat` wires them

__all__ = ["postgres_database"]

TRILAT = str(Path(sys.executable).with_name("trilat"))


def trilat(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one ``trilat`` command in-process (same entry point, exit codes and output as the
    console script); servers below run as real child processes."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["trilat", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run_guarded(cli_app)
    finally:
        sys.argv = saved
    done = subprocess.CompletedProcess(["trilat", *args], code, out.getvalue(), err.getvalue())
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "usa"
    trilat("init", str(directory), "--nation", "USA")
    return directory


def test_init_writes_config_key_store_and_a_private_admin_token(tmp_path: Path) -> None:
    directory = tmp_path / "node"
    done = trilat("init", str(directory), "--nation", "JPN", "--listen", "127.0.0.1:9100")
    token = done.stdout.strip()
    assert token.startswith("trl_")
    assert len(token) > 40
    assert (directory / "admin.token").read_text().strip() == token
    for name in ("admin.token", "node.key", "store.sqlite3"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    config = (directory / "trilat.toml").read_text()
    assert 'nation = "JPN"' in config
    assert 'listen = "127.0.0.1:9100"' in config
    assert "password" not in config.lower()
    assert token not in config
    with sqlite3.connect(directory / "store.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        hashes = [row[0] for row in db.execute("SELECT token_hash FROM users")]
    assert token not in hashes
    assert len(hashes) == 1


def test_init_refuses_an_existing_node_and_bad_input(node_dir: Path, tmp_path: Path) -> None:
    again = trilat("init", str(node_dir), "--nation", "USA", check=False)
    assert again.returncode == 2
    assert "already holds a node" in again.stderr
    bad = trilat("init", str(tmp_path / "x"), "--nation", "XYZ", check=False)
    assert bad.returncode == 2
    assert "XYZ" in bad.stderr
    assert "Traceback" not in bad.stderr + again.stderr


def test_user_add_prints_a_working_token_once(node_dir: Path) -> None:
    done = trilat(
        "user",
        "add",
        str(node_dir),
        "--name",
        "kenji",
        "--nationality",
        "JPN",
        "--clearance",
        "SECRET",
        "--role",
        "liaison",
        "--role",
        "analyst",
        "--json",
    )
    created = json.loads(done.stdout)
    assert set(created) == {"name", "token"}
    assert created["name"] == "kenji"
    listing = [
        json.loads(line)
        for line in trilat("user", "ls", str(node_dir), "--json").stdout.splitlines()
    ]
    assert {
        "name": "kenji",
        "nationality": "JPN",
        "clearance": "SECRET",
        "roles": ["liaison", "analyst"],
    } in listing
    assert created["token"] not in json.dumps(listing)
    for args, code, mention in (
        (["--role", "spy"], 2, "spy"),
        (["--role", "public", "--clearance", "ULTRA"], 2, "ULTRA"),
        (["--role", "public", "--nationality", "ZZZ"], 2, "ZZZ"),
        (["--role", "public", "--name", "kenji"], 1, "kenji"),
    ):
        base = {"--name": "someone", "--nationality": "JPN", "--clearance": "SECRET"}
        extra = dict(zip(args[::2], args[1::2], strict=True))
        options = [
            part
            for key, value in {**base, **extra}.items()
            if key != "--role"
            for part in (key, value)
        ]
        roles = [
            part
            for key, value in zip(args[::2], args[1::2], strict=True)
            if key == "--role"
            for part in (key, value)
        ]
        failed = trilat("user", "add", str(node_dir), *options, *roles, check=False)
        assert failed.returncode == code, failed.stderr
        assert mention in failed.stderr
    trilat("user", "rm", str(node_dir), "--name", "kenji")
    names = [
        json.loads(line)["name"]
        for line in trilat("user", "ls", str(node_dir), "--json").stdout.splitlines()
    ]
    assert names == ["admin"]
    assert trilat("user", "rm", str(node_dir), "--name", "kenji", check=False).returncode == 1
    assert trilat("user", "rm", str(node_dir), "--name", "admin", check=False).returncode == 1


class Server:
    """``trilat serve`` as a child process on a port the OS picks."""

    def __init__(self, node_dir: Path) -> None:
        self.process = subprocess.Popen(
            [TRILAT, "serve", str(node_dir), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        self.url = line.split()[-1]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        self.process.communicate(timeout=30)


@pytest.fixture
def admin_token(node_dir: Path) -> str:
    return (node_dir / "admin.token").read_text().strip()


def bulk_post_until_killed(server: Server, token: str, kill_after: int) -> list[str]:
    """Post items as fast as one client can; SIGKILL the server mid-stream."""
    acknowledged: list[str] = []
    enough = threading.Event()

    def poster() -> None:
        with httpx.Client(
            base_url=server.url, timeout=10.0, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            for n in range(5000):
                label = ("SECRET//NOFORN", "SECRET//REL TO USA, JPN, KOR", "UNCLASSIFIED")[n % 3]
                try:
                    response = client.post(
                        "/api/v1/items",
                        json={
                            "kind": "report",
                            "label": label,
                            "topics": ["dprk.missile"],
                            "body": {"text": f"item {n}"},
                        },
                    )
                except httpx.HTTPError:
                    return
                if response.status_code != 201:
                    return
                acknowledged.append(response.json()["id"])
                if len(acknowledged) >= kill_after:
                    enough.set()
        enough.set()

    thread = threading.Thread(target=poster)
    thread.start()
    assert enough.wait(120)
    server.stop(signal.SIGKILL)
    thread.join(60)
    return acknowledged


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_during_bulk_insert_loses_no_acknowledged_item(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    directory = tmp_path / "node"
    init = ["init", str(directory), "--nation", "USA"]
    if backend == "postgres":
        init += ["--db", store_url_for(backend, request, tmp_path)]
    token = trilat(*init).stdout.strip()
    server = Server(directory)
    acknowledged = bulk_post_until_killed(server, token, kill_after=40)
    assert server.process.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 40
    held = {
        json.loads(line)["id"]
        for line in trilat("store", "ls", str(directory), "--json").stdout.splitlines()
    }
    assert set(acknowledged) <= held
    verified = trilat("audit", "verify", str(directory))
    assert "audit log verified" in verified.stdout
    restarted = Server(directory)
    try:
        with httpx.Client(base_url=restarted.url, timeout=10.0) as client:
            response = client.post(
                "/api/v1/items",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "kind": "chat",
                    "label": "UNCLASSIFIED",
                    "topics": ["exercise"],
                    "body": {"text": "after"},
                },
            )
            assert response.status_code == 201
            checkpoint = client.get(
                "/api/v1/audit/checkpoint", headers={"Authorization": f"Bearer {token}"}
            )
            assert checkpoint.status_code == 200
    finally:
        restarted.stop()
    report = json.loads(trilat("audit", "verify", str(directory), "--json").stdout)
    assert report["ok"] is True
    assert report["items"] == len(held) + 1
    assert report["checkpoints"] == 1


@pytest.fixture
def populated(node_dir: Path, admin_token: str) -> Iterator[tuple[Path, list[str]]]:
    server = Server(node_dir)
    ids = []
    try:
        with httpx.Client(
            base_url=server.url, timeout=10.0, headers={"Authorization": f"Bearer {admin_token}"}
        ) as client:
            for n, label in enumerate(
                ["SECRET//NOFORN", "TOP SECRET//REL TO USA, JPN", "UNCLASSIFIED"]
            ):
                response = client.post(
                    "/api/v1/items",
                    json={
                        "kind": "report",
                        "label": label,
                        "topics": ["dprk.missile"],
                        "body": {"text": f"item {n}"},
                    },
                )
                assert response.status_code == 201
                ids.append(response.json()["id"])
            assert client.get("/api/v1/audit/checkpoint").status_code == 200
    finally:
        server.stop()
    return node_dir, ids


def test_store_ls_lists_every_held_envelope_whatever_its_label(
    populated: tuple[Path, list[str]],
) -> None:
    node_dir, ids = populated
    lines = trilat("store", "ls", str(node_dir), "--json").stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ids
    assert [json.loads(line)["label"] for line in lines] == [
        "SECRET//NOFORN",
        "TOP SECRET//REL TO USA, JPN",
        "UNCLASSIFIED",
    ]
    table = trilat("store", "ls", str(node_dir)).stdout
    assert all(item_id in table for item_id in ids)


def test_audit_verify_names_an_item_altered_in_the_database(
    populated: tuple[Path, list[str]],
) -> None:
    node_dir, ids = populated
    assert trilat("audit", "verify", str(node_dir)).returncode == 0
    with sqlite3.connect(node_dir / "store.sqlite3") as db:
        db.execute(
            "UPDATE items SET document = replace(document, 'item 1', 'item X') WHERE id = ?",
            (ids[1],),
        )
    failed = trilat("audit", "verify", str(node_dir), check=False)
    assert failed.returncode == 1
    assert f"item {ids[1]} was altered" in failed.stderr


def test_audit_verify_names_the_first_altered_leaf(populated: tuple[Path, list[str]]) -> None:
    node_dir, _ = populated
    with sqlite3.connect(node_dir / "store.sqlite3") as db:
        db.execute("UPDATE audit_leaves SET data = replace(data, 'admin', 'mallory') WHERE idx = 2")
    failed = trilat("audit", "verify", str(node_dir), check=False)
    assert failed.returncode == 1
    assert "audit leaf 2 was altered" in failed.stderr


def test_audit_verify_catches_a_rewritten_leaf_and_hash_by_the_signed_checkpoint(
    populated: tuple[Path, list[str]],
) -> None:
    node_dir, _ = populated
    from trilat.core.audit import leaf_hash

    with sqlite3.connect(node_dir / "store.sqlite3") as db:
        data = db.execute("SELECT data FROM audit_leaves WHERE idx = 1").fetchone()[0]
        forged = bytes(data).replace(b"admin", b"eve")
        db.execute(
            "UPDATE audit_leaves SET data = ?, leaf_hash = ? WHERE idx = 1",
            (forged, leaf_hash(forged)),
        )
    failed = trilat("audit", "verify", str(node_dir), check=False)
    assert failed.returncode == 1
    assert "checkpoint" in failed.stderr or "Merkle state" in failed.stderr


def test_serve_get_answers_one_request_in_process(node_dir: Path) -> None:
    done = trilat("serve", str(node_dir), "--get", "/api/v1/items?limit=5")
    assert json.loads(done.stdout)["items"] == []
    missing = trilat("serve", str(node_dir), "--get", "/api/v1/items/absent", check=False)
    assert missing.returncode == 1
    assert json.loads(missing.stdout)["status"] == 404


def test_audit_verify_checks_the_signature_of_the_nodes_own_items(
    populated: tuple[Path, list[str]],
) -> None:
    node_dir, ids = populated
    with sqlite3.connect(node_dir / "store.sqlite3") as db:
        document = json.loads(
            db.execute("SELECT document FROM items WHERE id = ?", (ids[0],)).fetchone()[0]
        )
    signature = document["sig"]
    document["sig"] = ("A" if signature[0] != "A" else "B") + signature[1:]
    from trilat.store.auditlog import document_digest

    forged = json.dumps(document)
    with sqlite3.connect(node_dir / "store.sqlite3") as db:
        db.execute("UPDATE items SET document = ? WHERE id = ?", (forged, ids[0]))
    failed = trilat("audit", "verify", str(node_dir), check=False)
    assert failed.returncode == 1
    assert f"item {ids[0]}" in failed.stderr
    assert document_digest(forged) != ""
