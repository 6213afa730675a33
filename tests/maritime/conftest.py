"""Generated traffic shared by the maritime tests (deterministic by seed)."""

from __future__ import annotations

import pytest

from trilat.analytics.maritime import analyze, default_shore_model
from trilat.analytics.maritime.stream import analyze_stream
from trilat.analytics.sim import generate


@pytest.fixture(scope="session")
def shore():
    return default_shore_model()


@pytest.fixture(scope="session")
def traffic():
    return generate(vessels=240, days=3.0, seed=11, encounters=5, loiterers=5, dark_offshore=3)


@pytest.fixture(scope="session")
def batch_analysis(traffic, shore):
    positions, _ = traffic
    return analyze(positions, shore=shore)


@pytest.fixture(scope="session")
def stream_run(traffic, shore):
    """The streaming engine's analysis and every result it handed to its sink, in order."""
    positions, _ = traffic
    handed = []
    return analyze_stream(positions.rows(), shore=shore, sink=handed.append), handed


@pytest.fixture(scope="session")
def stream_analysis(stream_run):
    return stream_run[0]
