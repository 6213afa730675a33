"""Columnar AIS positions and the text formats they are read from. No file IO: callers pass text.

A :class:`Positions` is four aligned numpy arrays: ``mmsi`` (int64), ``time`` (int64 seconds
since the Unix epoch, UTC), ``lat`` and ``lon`` (float64 degrees). Only the observations'
own timestamps are used; nothing reads a clock.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from trilat.core.errors import DecodeError

CSV_COLUMNS = ("mmsi", "timestamp_utc", "lat", "lon")


@dataclass(frozen=True, slots=True)
class Positions:
    """Aligned columns of position reports; row order is whatever the source gave."""

    mmsi: NDArray[np.int64]
    time: NDArray[np.int64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]

    def __post_init__(self) -> None:
        n = len(self.mmsi)
        if not (len(self.time) == len(self.lat) == len(self.lon) == n):
            raise ValueError("position columns differ in length")

    def __len__(self) -> int:
        return len(self.mmsi)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, int, float, float]]) -> Positions:
        """Build from ``(mmsi, epoch_seconds, lat, lon)`` tuples."""
        items = list(rows)
        if not items:
            return cls.empty()
        m, t, la, lo = zip(*items, strict=True)
        return cls(
            np.asarray(m, dtype=np.int64),
            np.asarray(t, dtype=np.int64),
            np.asarray(la, dtype=np.float64),
            np.asarray(lo, dtype=np.float64),
        )

    @classmethod
    def empty(cls) -> Positions:
        return cls(
            np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0)
        )

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> Positions:
        return Positions(self.mmsi[index], self.time[index], self.lat[index], self.lon[index])

    def rows(self) -> Iterator[tuple[int, int, float, float]]:
        """Row tuples in array order (the streaming engine's input form)."""
        return zip(
            self.mmsi.tolist(),
            self.time.tolist(),
            self.lat.tolist(),
            self.lon.tolist(),
            strict=True,
        )


@dataclass(slots=True)
class ParseSummary:
    """Rows the text reader could not use, by reason (counted, never silently dropped)."""

    rows: int = 0
    unparsable: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, line_number: int, reason: str) -> None:
        self.unparsable += 1
        if len(self.examples) < 5:
            self.examples.append(f"line {line_number}: {reason}")


def parse_timestamp(text: str) -> int:
    """RFC 3339 / ISO 8601 UTC text to epoch seconds (fractions truncated); naive times refused."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ValueError(f"time without a UTC offset: {text!r}")
    return int(at.astimezone(UTC).timestamp() // 1)


def _fast_timestamps(raw: NDArray[np.bytes_]) -> NDArray[np.int64] | None:
    """Vectorised parse of ``YYYY-MM-DDTHH:MM:SSZ``; None when any value has another shape."""
    if raw.dtype.itemsize != 20 or len(raw) == 0:
        return None
    b = np.frombuffer(raw.tobytes(), dtype=np.uint8).reshape(-1, 20)
    if not (
        np.all(b[:, 4] == 45)
        & np.all(b[:, 7] == 45)
        & np.all((b[:, 10] == 84) | (b[:, 10] == 32))
        & np.all(b[:, 13] == 58)
        & np.all(b[:, 16] == 58)
        & np.all(b[:, 19] == 90)
    ):
        return None

    def number(*columns: int) -> NDArray[np.int64]:
        value = np.zeros(len(b), dtype=np.int64)
        for c in columns:
            digit = b[:, c].astype(np.int64) - 48
            if np.any((digit < 0) | (digit > 9)):
                raise ValueError("not a digit")
            value = value * 10 + digit
        return value

    try:
        year = number(0, 1, 2, 3)
        month = number(5, 6)
        day = number(8, 9)
        hour = number(11, 12)
        minute = number(14, 15)
        second = number(17, 18)
    except ValueError:
        return None
    if np.any((month < 1) | (month > 12) | (day < 1) | (hour > 23) | (minute > 59) | (second > 60)):
        return None
    # days from civil (proleptic Gregorian), vectorised
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    dim = np.array([31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[month - 1]
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    if np.any(day > np.where((month == 2) & ~leap, 28, dim)):
        return None
    return np.asarray(days * 86400 + hour * 3600 + minute * 60 + second, dtype=np.int64)


def parse_positions_csv(text: bytes, summary: ParseSummary | None = None) -> Positions:
    """Parse CSV with header columns ``mmsi,timestamp_utc,lat,lon`` (others ignored).

    Rows that do not parse are counted in *summary* (line number and reason kept for the first
    few). Raises DecodeError when the header lacks a required column.
    """
    summary = summary if summary is not None else ParseSummary()
    head, _, body = text.partition(b"\n")
    names = [h.strip().lower() for h in head.decode("utf-8", "replace").strip().split(",")]
    missing = [c for c in CSV_COLUMNS if c not in names]
    if missing:
        raise DecodeError(
            f"CSV header lacks column {missing[0]!r}: got {','.join(names)!r} at line 1"
        )
    use = tuple(names.index(c) for c in CSV_COLUMNS)
    if not body.strip():
        return Positions.empty()
    try:
        arr = np.loadtxt(
            io.BytesIO(body),
            delimiter=",",
            usecols=use,
            dtype=[("m", "i8"), ("t", "S32"), ("lat", "f8"), ("lon", "f8")],
            ndmin=1,
            comments=None,
        )
    except ValueError:
        return _parse_rows_slowly(body, use, summary)
    summary.rows += len(arr)
    raw_t = arr["t"]
    width = int(np.max(np.char.str_len(raw_t))) if len(raw_t) else 0
    times = _fast_timestamps(raw_t.astype("S20")) if width == 20 else None
    if times is None:
        return _parse_rows_slowly(body, use, summary, already_counted=len(arr))
    return Positions(arr["m"].astype(np.int64), times, arr["lat"], arr["lon"])


def _parse_rows_slowly(
    body: bytes, use: tuple[int, ...], summary: ParseSummary, already_counted: int = 0
) -> Positions:
    summary.rows -= already_counted
    mm: list[int] = []
    tt: list[int] = []
    la: list[float] = []
    lo: list[float] = []
    for number, line in enumerate(body.decode("utf-8", "replace").splitlines(), start=2):
        if not line.strip():
            continue
        summary.rows += 1
        cells = line.split(",")
        try:
            m, t, a, o = (cells[i] for i in use)
            row = (int(m), parse_timestamp(t), float(a), float(o))
        except (ValueError, IndexError, OverflowError) as exc:
            summary.note(number, f"{type(exc).__name__}: {exc}")
            continue
        mm.append(row[0])
        tt.append(row[1])
        la.append(row[2])
        lo.append(row[3])
    return Positions(
        np.asarray(mm, np.int64),
        np.asarray(tt, np.int64),
        np.asarray(la, np.float64),
        np.asarray(lo, np.float64),
    )
