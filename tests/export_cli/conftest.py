"""A USA node directory with users of three nations and items under several labels."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trilat.api.node import NewItem
from trilat.cli.app import app as cli_app
from trilat.cli.errors import run_guarded
from trilat.cli.export import open_node, user_named

# (kind, banner, topic, body)
ITEMS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "track-public": (
        "track",
        "UNCLASSIFIED",
        "maritime.track",
        {
            "uid": "vessel-1",
            "type": "a-n-S",
            "point": {"lat": 37.5, "lon": 129.5},
            "time": "2024-01-01T00:00:00Z",
            "stale": "2024-01-01T00:05:00Z",
        },
    ),
    "track-rel-jpn": (
        "track",
        "SECRET//REL TO USA, JPN",
        "maritime.track",
        {
            "uid": "vessel-2",
            "type": "a-h-S",
            "point": {"lat": 38.1, "lon": 131.9},
            "time": "2024-01-01T00:00:00Z",
            "stale": "2024-01-01T00:05:00Z",
        },
    ),
    "report-noforn": (
        "report",
        "SECRET//NOFORN",
        "maritime.sts",
        {
            "text": "Ship-to-ship transfer observed.",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[124.0, 37.0], [125.0, 37.0], [125.0, 38.0], [124.0, 37.0]]],
            },
        },
    ),
    "observation-public": (
        "observation",
        "UNCLASSIFIED",
        "exercise",
        {"observed": "2024-01-01T00:00:00Z", "text": "Exercise start.", "point": None},
    ),
    "indicator-green": ("indicator", "UNCLASSIFIED//TLP:GREEN", "cyber", {}),
    "indicator-rel-jpn": ("indicator", "SECRET//REL TO USA, JPN", "cyber", {}),
    "indicator-noforn": ("indicator", "SECRET//NOFORN", "cyber", {}),
}

SEES: dict[str, set[str]] = {
    "admin": set(ITEMS),
    "kenji": {"track-public", "track-rel-jpn", "observation-public", "indicator-green"}
    | {"indicator-rel-jpn"},
    "minho": {"track-public", "observation-public", "indicator-green"},
}
"""What each user may see (admin: USA; kenji: JPN liaison; minho: KOR liaison)."""


def trilat(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one ``trilat`` command in-process, with the console script's exit codes."""
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


def stix_indicator(number: int) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-01-02T03:04:05.000Z",
        "modified": "2026-01-02T03:04:05.000Z",
        "name": f"export test {number}",
        "pattern": f"[ipv4-addr:value = '192.0.2.{number}']",
        "pattern_type": "stix",
        "valid_from": "2026-01-02T03:04:05.000Z",
    }


@dataclass
class Populated:
    directory: Path
    ids: dict[str, str]  # short name → item id

    def expected(self, user: str) -> set[str]:
        return {self.ids[name] for name in SEES[user]}


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "usa"
    trilat("init", str(directory), "--nation", "USA")
    for name, nation in (("kenji", "JPN"), ("minho", "KOR")):
        trilat(
            "user", "add", str(directory), "--name", name, "--nationality", nation,
            "--clearance", "SECRET", "--role", "liaison",
        )  # fmt: skip
    return directory


@pytest.fixture
def populated(node_dir: Path) -> Populated:
    node = open_node(node_dir)
    try:
        admin = user_named(node, "admin")
        ids = {}
        for number, (name, (kind, banner, topic, body)) in enumerate(ITEMS.items()):
            body = body if kind != "indicator" else stix_indicator(number)
            new = NewItem(kind=kind, label=banner, topics=(topic,), body=body)
            ids[name] = node.originate(new, admin).envelope.id
    finally:
        node.store.close()
    return Populated(node_dir, ids)
