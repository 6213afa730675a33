"""Suite-wide fixtures: where the shared reference data lives, and the skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests check behaviour, never speed: on a loaded 2-core machine example generation
# can be slow, so neither a per-example deadline nor the generation-speed check applies.
settings.register_profile(
    "trilat", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "trilat"))

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRILAT_SHARED", REPO.parent / "shared"))
SHARED_DATA = SHARED / "data"


def shared_file(relative: str) -> Path:
    """Path of a file under ``../shared/data``; skips the calling test when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"reference data not present: {path}")
    return path
