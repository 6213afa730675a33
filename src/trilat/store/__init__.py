"""Node storage: one ``Store`` protocol, SQLite and PostgreSQL backends."""

from __future__ import annotations

from pathlib import Path

from trilat.core.errors import StoreError
from trilat.store.base import (
    AuditEntry,
    AuditLeaf,
    ItemFilter,
    ItemRow,
    Store,
    StoredCheckpoint,
    StoredItem,
    User,
)

__all__ = [
    "AuditEntry",
    "AuditLeaf",
    "ItemFilter",
    "ItemRow",
    "Store",
    "StoredCheckpoint",
    "StoredItem",
    "User",
    "open_store",
]


def open_store(url: str) -> Store:
    """Open (and migrate) the store at *url*: ``sqlite:///PATH`` or ``postgresql://…``."""
    if url.startswith("sqlite:///"):
        from trilat.store.sqlite import SqliteStore

        return SqliteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from trilat.store.postgres import PostgresStore

        return PostgresStore(url)
    scheme = url.split(":", 1)[0]
    raise StoreError(f"unknown store URL scheme: {scheme!r} (use sqlite:/// or postgresql://)")
