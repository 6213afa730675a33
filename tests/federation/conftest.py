"""Fixtures shared by the federation tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.federation.support import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """USA, JPN and KOR nodes served by ``trilat serve``, all peered with each other."""
    started = Cluster.start(tmp_path)
    try:
        yield started
    finally:
        started.stop()
