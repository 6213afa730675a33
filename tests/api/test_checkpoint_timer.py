"""The node signs audit checkpoints on a timer while its log grows, and once at a clean stop."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

from tests.api.conftest import make_node
from trilat.api.app import create_app
from trilat.config import ConfigError, load_settings

ITEM = {
    "kind": "bulletin",
    "label": "UNCLASSIFIED",
    "topics": ["public"],
    "body": {"title": "Exercise", "text": "Trilateral exercise ends."},
}


def _wait_for_checkpoint(store: object, size: int, deadline: float) -> int:
    latest = None
    while time.monotonic() < deadline:
        latest = store.latest_checkpoint()  # type: ignore[attr-defined]
        if latest is not None and latest.size >= size:
            return int(latest.size)
        time.sleep(0.02)
    return -1 if latest is None else int(latest.size)


def test_the_node_signs_a_checkpoint_on_its_timer_when_the_log_grew(tmp_path: Path) -> None:
    made = make_node(f"sqlite:///{tmp_path / 'store.sqlite3'}", checkpoint_interval=0.05)
    store = made.node.store
    try:
        with TestClient(create_app(made.node)) as client:
            assert store.latest_checkpoint() is None
            posted = client.post("/api/v1/items", json=ITEM, headers=made.auth("analyst"))
            assert posted.status_code == 201
            size = store.audit_size()
            assert _wait_for_checkpoint(store, size, time.monotonic() + 10) == size
            signed = [c.size for c in store.checkpoints()]
            # the log did not grow since: the timer signs nothing more
            time.sleep(0.3)
            assert [c.size for c in store.checkpoints()] == signed
            for stored in store.checkpoints():
                made.node.check_checkpoint(stored)
    finally:
        store.close()


def test_a_clean_stop_leaves_a_checkpoint_of_the_whole_log(tmp_path: Path) -> None:
    made = make_node(f"sqlite:///{tmp_path / 'store.sqlite3'}", checkpoint_interval=3600)
    store = made.node.store
    try:
        with TestClient(create_app(made.node)) as client:
            for _ in range(3):
                assert (
                    client.post("/api/v1/items", json=ITEM, headers=made.auth("analyst"))
                ).status_code == 201
            assert store.latest_checkpoint() is None
        latest = store.latest_checkpoint()
        assert latest is not None
        assert latest.size == store.audit_size() == 3
    finally:
        store.close()


@pytest.mark.parametrize("raw", ["0", "-5", "soon"])
def test_checkpoint_interval_must_be_a_positive_number_of_seconds(tmp_path: Path, raw: str) -> None:
    (tmp_path / "trilat.toml").write_text('[node]\nnation = "USA"\n', encoding="utf-8")
    assert load_settings(tmp_path, {}).checkpoint_interval == 60
    with pytest.raises(ConfigError, match="checkpoint_interval"):
        load_settings(tmp_path, {"TRILAT_CHECKPOINT_INTERVAL": raw})
