"""A USA node served by real uvicorn on 127.0.0.1, and labelled STIX objects to feed it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import NodeUnderTest, Served, make_node, serve_in_thread
from tests.store.backends import postgres_database, store_url_for
from trilat.adapters.stix import label_markings, mark
from trilat.api.app import create_app
from trilat.api.taxii import API_ROOT, TAXII_MEDIA_TYPE, collection_for
from trilat.core.labels import parse_label

__all__ = ["postgres_database"]

LABELS = {
    "green": "UNCLASSIFIED//TLP:GREEN",
    "rel-jpn": "SECRET//REL TO USA, JPN",
    "noforn": "SECRET//NOFORN",
    "amber": "UNCLASSIFIED//TLP:AMBER",
}
"""Test labels by short name; who may see them is in SEES."""

SEES: dict[str, set[str]] = {
    "admin": {"green", "rel-jpn", "noforn", "amber"},
    "analyst": {"green", "rel-jpn", "noforn", "amber"},
    "kenji": {"green", "rel-jpn"},
    "minho": {"green"},
    "citizen": {"green", "amber"},
}
"""The labels each test user may see on the USA node (people of tests/api/conftest.py)."""

CYBER = collection_for("cyber")


def indicator(number: int, *, modified: str = "2026-01-02T03:04:05.000Z") -> dict[str, Any]:
    """An unmarked STIX 2.1 indicator."""
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-01-02T03:04:05.000Z",
        "modified": modified,
        "name": f"test indicator {number}",
        "indicator_types": ["malicious-activity"],
        "pattern": f"[ipv4-addr:value = '198.51.100.{number % 256}']",
        "pattern_type": "stix",
        "valid_from": "2026-01-02T03:04:05.000Z",
    }


def marked(obj: dict[str, Any], label_name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """*obj* marked with a test label (owner USA) and the marking definitions it needs."""
    label = parse_label(LABELS[label_name], owner="USA")
    return mark(obj, label), label_markings(label)


def envelope_of(pairs: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> dict[str, Any]:
    """A TAXII envelope of marked objects and their definitions, each definition once."""
    objects: list[dict[str, Any]] = []
    seen: set[str] = set()
    for obj, definitions in pairs:
        objects.append(obj)
        for definition in definitions:
            if definition["id"] not in seen:
                seen.add(definition["id"])
                objects.append(definition)
    return {"objects": objects}


@dataclass
class TaxiiNode:
    made: NodeUnderTest
    served: Served

    @property
    def root(self) -> str:
        return self.served.url + API_ROOT

    def collection_url(self, topic: str = "cyber") -> str:
        return f"{self.root}collections/{collection_for(topic).id}/"

    def credentials(self, name: str) -> tuple[str, str]:
        return name, self.made.tokens[name]

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.made.tokens[name]}", "Accept": TAXII_MEDIA_TYPE}


@pytest.fixture
def taxii(tmp_path: Path) -> Iterator[TaxiiNode]:
    yield from _serve(f"sqlite:///{tmp_path / 'store.sqlite3'}")


@pytest.fixture
def taxii_postgres(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaxiiNode]:
    """The same node on PostgreSQL (skips when it is not reachable)."""
    yield from _serve(store_url_for("postgres", request, tmp_path))


def _serve(url: str) -> Iterator[TaxiiNode]:
    made = make_node(url, body_limit=256 * 1024)
    running = serve_in_thread(create_app(made.node))
    yield TaxiiNode(made, running)
    running.server.should_exit = True
    running.thread.join(timeout=15)
    made.node.store.close()
    assert not running.thread.is_alive()
