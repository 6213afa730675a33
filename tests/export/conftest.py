"""Envelopes of the kinds the exporters meet, sealed by a USA node."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from trilat.core import _crypto
from trilat.core.items import Envelope, Item, Originator, seal
from trilat.core.labels import parse_label

KEY = _crypto.generate_private_key()
USA = Originator("usa-1", "USA")
AT = datetime(2023, 12, 19, 9, 30, 15, 250000, tzinfo=UTC)

Seal = Callable[..., Envelope]


@pytest.fixture
def sealed() -> Seal:
    """Seal an item of *kind* with *banner*, *body* and topics; *minutes* shifts the time."""

    def make(
        kind: str,
        banner: str,
        body: Mapping[str, Any],
        *,
        topics: tuple[str, ...] = ("maritime.track",),
        minutes: int = 0,
    ) -> Envelope:
        item = Item(kind=kind, label=parse_label(banner), topics=topics, body=body)
        return seal(item, originator=USA, private_key=KEY, at=AT + timedelta(minutes=minutes))

    return make
