"""``trilat import``: STIX bundles and MISP events become items with the label given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.export_cli.conftest import Populated, stix_indicator, trilat
from trilat.adapters.stix import label_markings, mark, stix_bundle
from trilat.cli.export import open_node
from trilat.core.items import envelope_from_document
from trilat.core.labels import format_banner, parse_label


def _held(directory: Path) -> list[Any]:
    node = open_node(directory)
    try:
        rows = node.store.read_after(0, 1000)
    finally:
        node.store.close()
    return [envelope_from_document(json.loads(row.document or "")) for row in rows]


def _write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_a_stix_bundle_becomes_items_with_the_given_label(node_dir: Path, tmp_path: Path) -> None:
    green = parse_label("UNCLASSIFIED//TLP:GREEN", owner="USA")
    marked = mark(stix_indicator(1), green)
    bundle = {
        "type": "bundle",
        "id": "bundle--3f0f8c3e-2a6b-4f65-a7c1-0e2d5b6f7a81",
        "objects": [stix_indicator(2), marked, *label_markings(green)],
    }
    path = _write(tmp_path, "bundle.json", bundle)
    label = "SECRET//REL TO USA, JPN//TLP:GREEN"
    done = trilat("import", "stix", str(node_dir), str(path), "--label", label, "--as", "admin",
                  "--json")  # fmt: skip
    assert json.loads(done.stdout)["imported"] == 2
    held = _held(node_dir)
    assert [envelope.kind for envelope in held] == ["indicator", "indicator"]
    assert {format_banner(envelope.label) for envelope in held} == {label}
    assert {envelope.body["id"] for envelope in held} == {bundle["objects"][0]["id"], marked["id"]}
    assert all("object_marking_refs" not in envelope.body for envelope in held)


def test_an_exported_bundle_imports_back(populated: Populated, tmp_path: Path) -> None:
    out = tmp_path / "kenji.json"
    trilat("export", "stix", str(populated.directory), "--as", "kenji", "-o", str(out))
    before = len(_held(populated.directory))
    trilat(
        "import", "stix", str(populated.directory), str(out),
        "--label", "SECRET//REL TO USA, JPN//TLP:GREEN", "--as", "admin",
    )  # fmt: skip
    assert len(_held(populated.directory)) == before + 2


@pytest.mark.parametrize("label", ["", "   "])
def test_an_import_without_a_label_is_refused(node_dir: Path, tmp_path: Path, label: str) -> None:
    path = _write(tmp_path, "b.json", {"type": "bundle", "id": "bundle--x", "objects": []})
    done = trilat("import", "stix", str(node_dir), str(path), "--label", label, "--as", "admin",
                  check=False)  # fmt: skip
    assert done.returncode == 2
    assert "label is required" in done.stderr
    missing = trilat("import", "stix", str(node_dir), str(path), "--as", "admin", check=False)
    assert missing.returncode == 2
    assert _held(node_dir) == []


def test_a_label_less_restrictive_than_the_source_marking_is_refused(
    node_dir: Path, tmp_path: Path
) -> None:
    red = parse_label("UNCLASSIFIED//TLP:RED", owner="USA")
    bundle = {
        "type": "bundle",
        "id": "bundle--3f0f8c3e-2a6b-4f65-a7c1-0e2d5b6f7a82",
        "objects": [stix_indicator(1), mark(stix_indicator(2), red), *label_markings(red)],
    }
    path = _write(tmp_path, "red.json", bundle)
    done = trilat("import", "stix", str(node_dir), str(path), "--label", "UNCLASSIFIED//TLP:GREEN",
                  "--as", "admin", check=False)  # fmt: skip
    assert done.returncode == 2
    assert "TLP:RED" in done.stderr
    assert _held(node_dir) == []  # nothing stored half-way


def test_unknown_markings_and_invalid_objects_refuse_the_whole_import(
    node_dir: Path, tmp_path: Path
) -> None:
    stranger = "marking-definition--11111111-1111-4111-8111-111111111111"
    for name, bad in (
        ("unknown", dict(stix_indicator(1), object_marking_refs=[stranger])),
        ("invalid", dict(stix_indicator(2), pattern_type="nonsense", pattern=None)),
    ):
        bundle = {"type": "bundle", "id": "bundle--x", "objects": [stix_indicator(3), bad]}
        path = _write(tmp_path, f"{name}.json", bundle)
        done = trilat("import", "stix", str(node_dir), str(path), "--label", "UNCLASSIFIED",
                      "--as", "admin", check=False)  # fmt: skip
        assert done.returncode == 2, name
        assert "objects[1]" in done.stderr
    assert _held(node_dir) == []


def _misp_event(tlp: str) -> dict[str, Any]:
    return {
        "Event": {
            "uuid": "5f2a1c9e-0d3b-4e8f-9a6c-7b1d2e3f4a5b",
            "info": "phishing wave",
            "timestamp": "1700000000",
            "Tag": [{"name": tlp}],
            "Attribute": [
                {"uuid": "0b7e2d4c-1a3f-4c5e-8d9b-6a7f8e9d0c1b", "type": "ip-dst",
                 "value": "198.51.100.7", "timestamp": "1700000000"},
                {"uuid": "1c8f3e5d-2b4a-4d6f-9e0c-7b8a9f0e1d2c", "type": "domain",
                 "value": "bad.example", "timestamp": "1700000100", "comment": "C2"},
            ],
            "Object": [
                {"name": "file", "Attribute": [
                    {"type": "sha256", "value": "a" * 64, "timestamp": "1700000200"},
                ]},
            ],
        }
    }  # fmt: skip


def test_a_misp_event_becomes_indicator_items(node_dir: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, "event.json", _misp_event("tlp:amber"))
    done = trilat("import", "misp", str(node_dir), str(path), "--label", "UNCLASSIFIED//TLP:AMBER",
                  "--as", "admin")  # fmt: skip
    assert done.stdout.strip() == "3"
    held = _held(node_dir)
    patterns = sorted(envelope.body["pattern"] for envelope in held)
    assert patterns == [
        "[domain-name:value = 'bad.example']",
        "[file:hashes.'SHA-256' = '" + "a" * 64 + "']",
        "[ipv4-addr:value = '198.51.100.7']",
    ]
    assert {envelope.body["id"] for envelope in held} >= {
        "indicator--0b7e2d4c-1a3f-4c5e-8d9b-6a7f8e9d0c1b"
    }
    # the items export back as a valid STIX bundle
    assert len(stix_bundle(held)["objects"]) > 3


def test_a_misp_tlp_tag_above_the_label_refuses_the_import(node_dir: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, "event.json", _misp_event("tlp:red"))
    done = trilat("import", "misp", str(node_dir), str(path), "--label", "UNCLASSIFIED//TLP:AMBER",
                  "--as", "admin", check=False)  # fmt: skip
    assert done.returncode == 2
    assert "TLP:RED" in done.stderr
    assert _held(node_dir) == []


def test_a_liaison_officer_cannot_import(node_dir: Path, tmp_path: Path) -> None:
    bundle = {"type": "bundle", "id": "bundle--x", "objects": [stix_indicator(1)]}
    path = _write(tmp_path, "b.json", bundle)
    done = trilat("import", "stix", str(node_dir), str(path), "--label", "UNCLASSIFIED",
                  "--as", "kenji", check=False)  # fmt: skip
    assert done.returncode == 2
    assert "may not originate" in done.stderr
    assert _held(node_dir) == []
