"""Identifier types shared across the core. No IO."""

from __future__ import annotations

from typing import NewType

Nation = NewType("Nation", str)
"""ISO 3166-1 alpha-3 / GENC trigraph, upper case (``USA``, ``JPN``, ``KOR``)."""

ItemId = NewType("ItemId", str)
"""UUIDv7 of an item, lower-case hex with dashes."""

Topic = NewType("Topic", str)
"""Dotted hierarchical subject, prefix-matched (``dprk.missile.warning``)."""
