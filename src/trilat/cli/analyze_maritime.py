"""``trilat analyze encounters|loitering|gaps``: maritime analytics over a positions file.

Input is CSV with a header naming ``mmsi,timestamp_utc,lat,lon`` (other columns ignored), or
NMEA 0183 AIVDM/AIVDO sentences that carry their reception time (an NMEA 4.10 tag block
``\\s:…,c:<unix>*hh\\`` or a trailing ``,<unix>`` after the checksum), decoded by
``trilat.adapters.ais``; position reports without a time are counted and skipped.

Results go to stdout as a JSON list of SPEC §9 events; the cleaning and detector summary goes
to stderr as one JSON line (``{"summary": …}``). A progress bar is shown on stderr only when
it is a terminal and the file is large.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from trilat.analytics.maritime import (
    Analysis,
    ParseSummary,
    Positions,
    analyze,
    clean_positions,
    parse_positions_csv,
    resample,
)
from trilat.analytics.maritime.positions import CSV_COLUMNS, parse_timestamp
from trilat.analytics.maritime.stream import analyze_stream
from trilat.cli.errors import BadInput
from trilat.core.errors import DecodeError

__all__ = ["register"]

_PROGRESS_BYTES = 8 * 1024 * 1024
_FILE_HELP = "CSV mmsi,timestamp_utc,lat,lon or NMEA with timestamps; - for stdin."


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _read_bytes(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    file = Path(path)
    try:
        size = file.stat().st_size
        handle = file.open("rb")
    except FileNotFoundError:
        raise BadInput(f"no such file: {path!r}") from None
    except IsADirectoryError:
        raise BadInput(f"is a directory, not a file: {path!r}") from None
    with handle:
        console = _stderr()
        if size < _PROGRESS_BYTES or not console.is_terminal:
            return handle.read()
        chunks: list[bytes] = []
        columns = (TextColumn("reading"), BarColumn(), DownloadColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("read", total=size)
            while chunk := handle.read(1 << 22):
                chunks.append(chunk)
                progress.advance(task, len(chunk))
        return b"".join(chunks)


def _is_nmea(data: bytes) -> bool:
    first = data.lstrip()[:1]
    return first in (b"!", b"\\", b"$")


def _nmea_positions(data: bytes, notes: dict[str, Any]) -> Positions:
    try:
        from trilat.adapters.ais import POSITION_TYPES, Decoder
    except ModuleNotFoundError:  # pragma: no cover - the adapter ships with trilat
        raise BadInput("NMEA input needs trilat.adapters.ais, which is not installed") from None
    decoder = Decoder()
    rows: list[tuple[int, int, float, float]] = []
    untimed = 0
    other = 0
    for message in decoder.feed_all(data.splitlines()):
        fields = message.fields
        if fields.get("msg_type") not in POSITION_TYPES:
            other += 1
            continue
        if message.received_at is None:
            untimed += 1
            continue
        rows.append((int(fields["mmsi"]), int(message.received_at), fields["lat"], fields["lon"]))
    decoder.flush()
    notes["nmea"] = decoder.stats.as_dict()
    notes["nmea"]["positions_without_time"] = untimed
    notes["nmea"]["other_messages"] = other
    return Positions.from_rows(rows)


def _load(path: str, notes: dict[str, Any]) -> Positions:
    data = _read_bytes(path)
    if not data.strip():
        raise BadInput(f"empty input: {path!r}")
    if _is_nmea(data):
        return _nmea_positions(data, notes)
    parsed = ParseSummary()
    positions = parse_positions_csv(data, parsed)
    notes["csv"] = {"rows": parsed.rows, "unparsable": parsed.unparsable}
    if parsed.examples:
        notes["csv"]["examples"] = parsed.examples
    return positions


def _run(
    path: str, kind: str, stream: bool, keep_rows: bool = False
) -> tuple[Analysis, dict[str, Any], Positions]:
    """Analyse a file; *keep_rows* keeps the positions of a streamed file (for a plot)."""
    notes: dict[str, Any] = {}
    if stream:
        rows: list[tuple[int, int, float, float]] | None = [] if keep_rows else None
        analysis = analyze_stream(_stream_rows(path, notes, keep=rows))
        positions = Positions.from_rows(rows or [])
    else:
        positions = _load(path, notes)
        detectors = ("encounters", "gaps") if kind == "gaps" else (kind,)
        analysis = analyze(positions, detectors=detectors)
    notes.update(analysis.summary)
    return analysis, notes, positions


def _stream_rows(
    path: str, notes: dict[str, Any], keep: list[tuple[int, int, float, float]] | None = None
) -> Iterator[tuple[int, int, float, float]]:
    """Rows read line by line (bounded memory); the file must be in time order (± 5 min)."""
    if path == "-":
        handle: BinaryIO = sys.stdin.buffer
    else:
        try:
            handle = Path(path).open("rb")
        except FileNotFoundError:
            raise BadInput(f"no such file: {path!r}") from None
        except IsADirectoryError:
            raise BadInput(f"is a directory, not a file: {path!r}") from None
    with handle:
        first = handle.readline()
        if not first.strip():
            raise BadInput(f"empty input: {path!r}")
        if _is_nmea(first):
            yield from _stream_nmea(itertools.chain([first], handle), notes, keep)
        else:
            yield from _stream_csv(first, handle, notes, keep)


def _stream_csv(
    header: bytes,
    lines: Iterable[bytes],
    notes: dict[str, Any],
    keep: list[tuple[int, int, float, float]] | None,
) -> Iterator[tuple[int, int, float, float]]:
    names = [h.strip().lower() for h in header.decode("utf-8", "replace").strip().split(",")]
    missing = [c for c in CSV_COLUMNS if c not in names]
    if missing:
        raise DecodeError(
            f"CSV header lacks column {missing[0]!r}: got {','.join(names)!r} at line 1"
        )
    use = [names.index(c) for c in CSV_COLUMNS]
    parsed = ParseSummary()
    notes["csv"] = parsed
    for number, raw in enumerate(lines, start=2):
        line = raw.decode("utf-8", "replace").strip()
        if not line:
            continue
        parsed.rows += 1
        cells = line.split(",")
        try:
            row = (
                int(cells[use[0]]),
                parse_timestamp(cells[use[1]]),
                float(cells[use[2]]),
                float(cells[use[3]]),
            )
        except (ValueError, IndexError, OverflowError) as exc:
            parsed.note(number, f"{type(exc).__name__}: {exc}")
            continue
        if keep is not None:
            keep.append(row)
        yield row
    notes["csv"] = {"rows": parsed.rows, "unparsable": parsed.unparsable}
    if parsed.examples:
        notes["csv"]["examples"] = parsed.examples


def _stream_nmea(
    lines: Iterable[bytes],
    notes: dict[str, Any],
    keep: list[tuple[int, int, float, float]] | None,
) -> Iterator[tuple[int, int, float, float]]:
    from trilat.adapters.ais import POSITION_TYPES, Decoder

    decoder = Decoder()
    untimed = other = 0
    for message in decoder.feed_all(line.rstrip(b"\r\n") for line in lines):
        fields = message.fields
        if fields.get("msg_type") not in POSITION_TYPES:
            other += 1
            continue
        if message.received_at is None:
            untimed += 1
            continue
        row = (int(fields["mmsi"]), int(message.received_at), fields["lat"], fields["lon"])
        if keep is not None:
            keep.append(row)
        yield row
    decoder.flush()
    notes["nmea"] = decoder.stats.as_dict()
    notes["nmea"]["positions_without_time"] = untimed
    notes["nmea"]["other_messages"] = other


def _report(analysis: Analysis, kind: str, notes: dict[str, Any]) -> None:
    print(json.dumps(analysis.events(kind), indent=2))
    _stderr().print(json.dumps({"summary": notes}, sort_keys=True), soft_wrap=True, markup=False)


FileArgument = Annotated[str, typer.Argument(help=_FILE_HELP)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (the default output).")]
StreamOption = Annotated[
    bool,
    typer.Option(
        "--stream",
        help="Read line by line into the streaming engine (bounded memory, same results); "
        "the file must be in time order: older reports are counted as late.",
    ),
]


def encounters(
    file: FileArgument,
    as_json: JsonOption = False,
    stream: StreamOption = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write a PNG of an encounter pair's tracks and distance."),
    ] = None,
    pair: Annotated[
        str | None, typer.Option("--pair", help="MMSI,MMSI of the encounter to plot.")
    ] = None,
) -> None:
    """Ship-to-ship encounters (SPEC §7) as a JSON list."""
    analysis, notes, positions = _run(file, "encounters", stream, keep_rows=plot is not None)
    if plot is not None:
        _plot(analysis, positions, plot, pair)
    _report(analysis, "encounters", notes)


def loitering(
    file: FileArgument, as_json: JsonOption = False, stream: StreamOption = False
) -> None:
    """Loitering runs far from shore (SPEC §7) as a JSON list."""
    analysis, notes, _ = _run(file, "loitering", stream)
    _report(analysis, "loitering", notes)


def gaps(file: FileArgument, as_json: JsonOption = False, stream: StreamOption = False) -> None:
    """AIS gaps of 6 h or more, flagged possible_disabling per SPEC §7, as a JSON list."""
    analysis, notes, _ = _run(file, "gaps", stream)
    _report(analysis, "gaps", notes)


def _plot(analysis: Analysis, positions: Positions, out: Path, pair: str | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trilat.analytics.maritime.events import rfc3339
    from trilat.analytics.maritime.geo import haversine_km

    chosen = None
    if pair is not None:
        try:
            wanted = tuple(sorted(int(x) for x in pair.split(",")))
        except ValueError:
            raise BadInput(f"--pair wants MMSI,MMSI: {pair!r}") from None
        if len(wanted) != 2:
            raise BadInput(f"--pair wants MMSI,MMSI: {pair!r}")
        chosen = next((e for e in analysis.encounters if e.vessels == wanted), None)
        if chosen is None:
            raise BadInput(f"no encounter between {wanted[0]} and {wanted[1]} to plot")
    elif analysis.encounters:
        chosen = analysis.encounters[0]
    else:
        raise BadInput("no encounter found to plot")
    a, b = chosen.vessels
    margin = 3 * 3600
    window = (positions.time >= chosen.start - margin) & (positions.time <= chosen.end + margin)
    mine = window & np.isin(positions.mmsi, [a, b])
    cleaned, _ = clean_positions(positions.take(mine))
    grid = resample(cleaned)
    fig, (ax_track, ax_dist) = plt.subplots(1, 2, figsize=(12, 5))
    for mmsi, colour in ((a, "tab:blue"), (b, "tab:orange")):
        sel = cleaned.mmsi == mmsi
        ax_track.plot(
            cleaned.lon[sel], cleaned.lat[sel], ".-", color=colour, ms=3, lw=0.8, label=str(mmsi)
        )
    ax_track.plot([chosen.lon], [chosen.lat], "k*", ms=12, label="mean position")
    ax_track.set_xlabel("longitude (°)")
    ax_track.set_ylabel("latitude (°)")
    ax_track.set_title("reported positions")
    ax_track.legend()
    sa = grid.mmsi == a
    sb = grid.mmsi == b
    common, ia, ib = np.intersect1d(grid.slot[sa], grid.slot[sb], return_indices=True)
    hours = (common * 600 - chosen.start) / 3600.0
    dist = haversine_km(grid.lat[sa][ia], grid.lon[sa][ia], grid.lat[sb][ib], grid.lon[sb][ib])
    broken = np.r_[False, np.diff(common) > 1]  # no line across a silence
    ax_dist.plot(
        np.insert(hours, np.flatnonzero(broken), np.nan),
        np.insert(np.maximum(dist, 0.001), np.flatnonzero(broken), np.nan),
        "o-",
        ms=3,
    )
    ax_dist.axhline(0.5, color="red", lw=0.8, ls="--", label="0.5 km")
    ax_dist.axvspan(
        0, (chosen.end - chosen.start) / 3600.0, color="green", alpha=0.15, label="encounter"
    )
    ax_dist.set_yscale("log")
    ax_dist.set_xlabel(f"hours from {rfc3339(chosen.start)}")
    ax_dist.set_ylabel("distance on the 10-min grid (km)")
    ax_dist.set_title(f"{a} – {b}")
    ax_dist.legend()
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=110)
    except OSError as exc:
        raise BadInput(f"cannot write plot {str(out)!r}: {exc.strerror}") from None
    finally:
        plt.close(fig)


def register(app: typer.Typer) -> None:
    """Add the maritime commands to the ``trilat analyze`` group."""
    app.command("encounters")(encounters)
    app.command("loitering")(loitering)
    app.command("gaps")(gaps)
