"""The public surface of ``trilat.core`` is exactly its ``__all__``."""

from __future__ import annotations

import inspect

import trilat.core


def test_core_exports_exactly_its_public_names() -> None:
    names = {n for n, v in vars(trilat.core).items() if not inspect.ismodule(v)}
    assert {n for n in names if not n.startswith("_")} == set(trilat.core.__all__)


def test_every_exported_core_name_is_documented() -> None:
    undocumented = [n for n in trilat.core.__all__ if not getattr(trilat.core, n).__doc__]
    assert undocumented == []
