"""What ingest needs of a node: accept items, follow accepted items, ask the view rule.

The API layer hands the runner an object of this shape (``trilat.api.ingest.NodePort``), so
ingest sits below ``api`` and never reaches into the node's internals. Every item ingest
originates goes through the node's own ``originate`` path: body schema, clearance check, seal,
store and audit, exactly like an item posted to ``POST /items``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from trilat.core.clock import Clock
from trilat.core.items import Envelope, Item
from trilat.core.labels import Classification
from trilat.core.policy import Decision, Releasable


@dataclass(frozen=True, slots=True)
class Person:
    """A node user as ingest sees one (a CoT client's identity)."""

    name: str
    nation: str
    clearance: Classification


@dataclass(frozen=True, slots=True)
class Accepted:
    """One item the node accepted (from any source), with its store cursor."""

    seq: int
    envelope: Envelope


class NodePort(Protocol):
    """The node, as far as ingest may touch it."""

    nation: str
    node_id: str
    clock: Clock

    def accept(self, items: Sequence[Item], actor: str) -> list[Envelope | Exception]:
        """Originate *items* as *actor* (a service name, audited as such); one result per item,
        in order: the stored envelope, or the error that refused it. Blocking (it commits)."""
        ...

    def follow(self) -> AsyncIterator[Accepted]:
        """Every item accepted after this call (it subscribes at once), in commit order,
        caught up from the store whenever the live feed overflows, so nothing is skipped."""
        ...

    def may_view(self, subject: Releasable, person: Person) -> Decision:
        """``Policy.may_view`` for *person* on this node (the API's own rule)."""
        ...

    def person(self, name: str) -> Person | None:
        """The node user of that name, if any."""
        ...

    def load_state(self, name: str) -> str | None:
        """Text ingest saved under *name* in the node's store (chain heads), if any."""
        ...

    def save_state(self, name: str, text: str) -> None:
        """Keep *text* under *name* in the node's store."""
        ...

    def person_by_token(self, token: str) -> Person | None:
        """The node user whose bearer token this is, if any (compared hashed)."""
        ...
