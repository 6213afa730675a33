"""The TAXII collections a node serves come from ``[taxii] collections`` in its configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from taxii2client.v21 import ApiRoot

from tests.api.conftest import serve_in_thread
from trilat.api.app import app_for
from trilat.api.taxii import API_ROOT, DEFAULT_TOPICS
from trilat.config import CONFIG_FILE, ConfigError, load_settings

TRILAT = str(Path(sys.executable).with_name("trilat"))


def _node(tmp_path: Path, extra: str) -> tuple[Path, str]:
    node_dir = tmp_path / "node"
    subprocess.run(
        [TRILAT, "init", str(node_dir), "--nation", "USA"], check=True, capture_output=True
    )
    with open(node_dir / "trilat.toml", "a", encoding="utf-8") as handle:
        handle.write(extra)
    return node_dir, (node_dir / "admin.token").read_text(encoding="ascii").strip()


def _titles(node_dir: Path, token: str) -> list[str]:
    app = app_for(node_dir)
    served = serve_in_thread(app)
    try:
        root = ApiRoot(served.url + API_ROOT, user="admin", password=token)
        try:
            return [collection.title for collection in root.collections]
        finally:
            root.close()
    finally:
        served.server.should_exit = True
        served.thread.join(timeout=15)
        app.state.node.store.close()


def test_a_node_serves_exactly_the_configured_collections(tmp_path: Path) -> None:
    node_dir, token = _node(tmp_path, '\n[taxii]\ncollections = ["cyber", "exercise.red"]\n')
    titles = _titles(node_dir, token)
    assert len(titles) == 2
    assert any("cyber" in title for title in titles)
    assert any("exercise.red" in title for title in titles)


def test_without_a_taxii_table_a_node_serves_the_default_collections(tmp_path: Path) -> None:
    node_dir, token = _node(tmp_path, "")
    assert len(_titles(node_dir, token)) == len(DEFAULT_TOPICS)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ('[taxii]\ncollections = ["Cyber"]\n', "taxii.collections"),
        ('[taxii]\ncollections = ["cyber", "cyber"]\n', "taxii.collections"),
        ("[taxii]\ncollections = []\n", "taxii.collections"),
        ('[taxii]\ncolections = ["cyber"]\n', "taxii.colections"),
        ('[taxi]\ncollections = ["cyber"]\n', "taxi"),
        ('taxii = "cyber"\n', "taxii"),
    ],
)
def test_a_bad_taxii_table_is_refused_naming_the_setting(
    tmp_path: Path, extra: str, named: str
) -> None:
    (tmp_path / CONFIG_FILE).write_text(extra + '[node]\nnation = "USA"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})
    assert caught.value.name == named


def test_serve_exits_2_naming_a_bad_collection(tmp_path: Path) -> None:
    node_dir, _ = _node(tmp_path, '\n[taxii]\ncollections = ["cyber", "Exercise"]\n')
    result = subprocess.run(
        [TRILAT, "serve", str(node_dir), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "taxii.collections" in result.stderr
    assert "Exercise" in result.stderr
