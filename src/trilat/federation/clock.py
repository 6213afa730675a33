"""A scenario clock for exercises and demonstrations: time read from a file, then running.

When a node directory holds ``scenario.clock`` (one RFC 3339 instant), the node's clock
reads that instant plus the real seconds elapsed since the file was written. Items are
stamped and release decisions are evaluated at that scenario time, so an exercise can
replay 2015 or 2017 rules on today's machines. Rewriting the file moves the clock; request
authentication between nodes always uses the real clock.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from trilat.core.clock import Clock, parse_time

SCENARIO_CLOCK_FILE: Final = "scenario.clock"


class FileClock:
    """The scenario instant in *path* plus the time since the file was last written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._base = datetime.min
        self._written = 0.0

    def now(self) -> datetime:
        stat = os.stat(self.path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._base = parse_time(self.path.read_text(encoding="utf-8").strip())
            self._written = stat.st_mtime
            self._stamp = stamp
        return self._base + timedelta(seconds=max(0.0, time.time() - self._written))


def scenario_clock(node_dir: Path) -> Clock | None:
    """The node's scenario clock when its directory holds one, else None (real time)."""
    path = node_dir / SCENARIO_CLOCK_FILE
    return FileClock(path) if path.is_file() else None
