"""Time as an argument: the core never reads the system clock itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current UTC time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock; used only at the process edge (cli, api, federation)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that says what it is told; tests move it by hand."""

    at: datetime

    def now(self) -> datetime:
        return self.at


def format_time(at: datetime) -> str:
    """RFC 3339 UTC with a ``Z`` and millisecond precision (``2019-07-23T00:33:00.000Z``)."""
    if at.tzinfo is None:
        raise ValueError("naive datetime: trilat times are UTC-aware")
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Parse RFC 3339 (``Z`` or offset); a naive time is refused."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"time without a UTC offset: {text!r}")
    return at.astimezone(UTC)
