"""``trilat ais``: decode AIS NMEA files to JSON (SPEC §9)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, Annotated, Any

import msgspec
import typer

from trilat.adapters.ais import DecodeStats
from trilat.adapters.ais_feed import read_stream
from trilat.cli.errors import EXIT_BAD_INPUT, fail, stderr

app = typer.Typer(help="Decode AIS (NMEA 0183 AIVDM/AIVDO) sentences.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Decode AIS (NMEA 0183 AIVDM/AIVDO) sentences."""


@app.command("decode")
def decode(
    source: Annotated[
        str, typer.Argument(metavar="FILE|-", help="NMEA file (plain or gzip), or - for stdin.")
    ],
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Also print the summary of bad sentences as JSON on stderr."),
    ] = False,
) -> None:
    """Print one JSON object per decoded message, with pyais's field names.

    Multi-sentence messages are reassembled; sentences that fail their checksum, carry
    bad characters or break fragment order are counted, and the counts are printed on
    stderr when the input ends.
    """
    out = sys.stdout.buffer
    encode = msgspec.json.Encoder().encode

    def sink(message: dict[str, Any], _received_at: object) -> None:
        out.write(encode(message) + b"\n")

    stream: IO[bytes]
    if source == "-":
        stream = sys.stdin.buffer
    else:
        try:
            stream = open(source, "rb")
        except OSError as exc:
            raise fail(f"cannot read {source}: {exc.strerror or exc}", EXIT_BAD_INPUT) from None
    try:
        stats = read_stream(stream, sink)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except (OSError, EOFError) as exc:  # unreadable or corrupt (e.g. truncated gzip)
        name = "stdin" if source == "-" else source
        raise fail(f"cannot read {name}: {exc}", EXIT_BAD_INPUT) from None
    finally:
        if source != "-":
            stream.close()
    out.flush()
    _summary(stats, Path(source).name if source != "-" else "stdin", as_json)


def _summary(stats: DecodeStats, name: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"source": name, **stats.as_dict()}, sort_keys=True), file=sys.stderr)
    else:
        stderr.print(f"{name}: {stats.summary()}", highlight=False, soft_wrap=True)
