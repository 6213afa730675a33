"""``trilat analyze airspace|eez|missiles``: the air and missile picture on the command line."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.table import Table

from trilat.analytics.airspace import (
    TrackQuality,
    analyze_airspace,
    notices_from_mapping,
    parse_track_csv,
)
from trilat.analytics.eez import eez_check
from trilat.analytics.geodata import DEFAULT_VIEW, check_view
from trilat.analytics.missile_tests import observations_from_cns, summarize
from trilat.cli.errors import BadInput, stderr
from trilat.core.errors import DecodeError

__all__ = ["register"]

_VIEW_HELP = "Whose claims decide disputed features (a nation code; USA = administering state)."
_CHART_SUFFIXES = (".png", ".svg")


@contextmanager
def _open_text(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdin
        return
    try:
        handle = Path(path).open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise BadInput(f"no such file: {path!r}") from None
    except IsADirectoryError:
        raise BadInput(f"is a directory, not a file: {path!r}") from None
    try:
        yield handle
    finally:
        handle.close()


def _default_missile_data() -> Path:
    shared = os.environ.get("TRILAT_SHARED")
    base = Path(shared) if shared else Path.cwd().parent / "shared"
    return base / "data" / "missiles"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"no such file: {str(path)!r}") from None
    except json.JSONDecodeError as exc:
        raise DecodeError(f"{path}: line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def airspace(
    file: Annotated[
        str, typer.Argument(help="CSV track,timestamp_utc,lat,lon[,alt_m,nation,type] or -")
    ],
    view: Annotated[str, typer.Option("--view", help=_VIEW_HELP)] = DEFAULT_VIEW,
    notices: Annotated[
        Path | None,
        typer.Option("--notices", help="JSON list of flight notices {nation, zone, start, end}."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (the default output).")
    ] = False,
    table: Annotated[bool, typer.Option("--table", help="Print a table instead of JSON.")] = False,
) -> None:
    """Zone entries and exits (ADIZ, territorial airspace) and joint patrols, as a JSON list."""
    view = check_view(view.upper())
    notice_list = []
    if notices is not None:
        records = _read_json(notices)
        if not isinstance(records, list):
            raise DecodeError(f"{notices}: expected a JSON list of notices")
        notice_list = notices_from_mapping(records)
    with _open_text(file) as handle:
        fixes = parse_track_csv(handle)
    report = analyze_airspace(fixes, view=view, notices=notice_list)
    _warn_about_quality(report.quality)
    if table and not as_json:
        _print_airspace_table(report.as_dicts(), view)
        return
    print(json.dumps(report.as_dicts(), indent=1))


def _warn_about_quality(quality: Sequence[TrackQuality]) -> None:
    """One diagnostic line on stderr when input fixes were reordered, dropped or gapped."""
    totals = {
        "fixes out of order (sorted)": sum(q.out_of_order for q in quality),
        "duplicate fixes (dropped)": sum(q.duplicates for q in quality),
        "conflicting fixes (dropped)": sum(q.conflicts for q in quality),
        "gaps (not interpolated)": sum(q.gaps for q in quality),
    }
    found = ", ".join(f"{n} {what}" for what, n in totals.items() if n)
    if found:
        stderr.print(f"note: input over {len(quality)} track(s): {found}")


def _print_airspace_table(events: list[dict[str, Any]], view: str) -> None:
    grid = Table(title=f"Airspace events ({view} view)")
    grid.add_column("time / span", no_wrap=True)
    for column in ("event", "track(s)", "zone", "authority", "notified", "≈"):
        grid.add_column(column)
    for event in events:
        if event["type"] == "joint_patrol":
            grid.add_row(
                f"{event['start']} – {event['end']}",
                "joint patrol",
                ", ".join(event["tracks"]),
                "",
                "",
                "",
                "",
            )
        else:
            grid.add_row(
                event["time"],
                "entry" if event["type"] == "zone_entry" else "exit",
                event["track"],
                event["zone"],
                event["authority"],
                "yes" if event["notified"] else "",
                "≈" if event["approximate"] else "",
            )
    Console().print(grid)
    stderr.print("≈: crossing of an ADIZ edge whose end vertex is not a published value")


def eez(
    lat: Annotated[float, typer.Argument(help="Latitude, degrees north.")],
    lon: Annotated[
        float, typer.Argument(help="Longitude, degrees east (use -- before a negative value).")
    ],
    view: Annotated[str, typer.Option("--view", help=_VIEW_HELP)] = DEFAULT_VIEW,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Whether (LAT, LON) lies in the viewing nation's EEZ, by equidistance under its claims."""
    view = check_view(view.upper())
    if not math.isfinite(lat) or not math.isfinite(lon):
        raise BadInput(f"position is not a number: {lat!r}, {lon!r}")
    result = eez_check(lat, lon, view)
    if as_json:
        print(json.dumps(result.as_dict(), sort_keys=True))
        return
    owner = result.eez_of or "no nation (high seas)"
    verdict = "inside" if result.inside_eez else "outside"
    console = Console()
    console.print(
        f"{lat:.4f}, {lon:.4f} is {verdict} {view}'s EEZ in {view}'s view: EEZ of {owner}"
    )
    grid = Table("nation", "nearest coast km")
    for nation, km in sorted(result.nearest_coast_km.items(), key=lambda item: item[1]):
        grid.add_row(nation, f"{km:,.1f}")
    console.print(grid)


def missiles(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="Folder of the CNS database (default ../shared/data/missiles)."
        ),
    ] = None,
    summary: Annotated[bool, typer.Option("--summary", help="Tests per year and type.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Write a per-year chart (.png or .svg).")
    ] = None,
) -> None:
    """Replay the CNS DPRK missile-test database as observations, or summarise it."""
    if chart is not None and chart.suffix.lower() not in _CHART_SUFFIXES:
        raise BadInput(
            f"chart format not supported: {chart.suffix or str(chart)!r} (use .png or .svg)"
        )
    folder = data or _default_missile_data()
    if not folder.is_dir():
        raise BadInput(f"no CNS database folder at {str(folder)!r} (give --data DIR)")
    observations = observations_from_cns(
        _read_json(folder / "test.en.json"),
        _read_json(folder / "missile.en.json"),
        _read_json(folder / "facility.en.json"),
    )
    result = summarize(observations)
    if chart is not None:
        _write_chart(result, chart)
    if summary:
        if as_json:
            print(json.dumps(result.as_dict(), sort_keys=True))
        else:
            _print_summary(result)
        return
    if as_json:
        for observation in observations:
            print(
                json.dumps(
                    {
                        "kind": observation.kind,
                        "topics": list(observation.topics),
                        "label": "UNCLASSIFIED",
                        "body": observation.body,
                    },
                    sort_keys=True,
                )
            )
        return
    grid = Table("observed (UTC)", "missile", "type", "facility", "outcome")
    for observation in observations:
        attributes = observation.body["attributes"]
        grid.add_row(
            observation.body["observed"],
            str(attributes["missile_name"]),
            str(attributes["missile_type"]),
            str(attributes["facility_name"] or "unknown"),
            str(attributes["outcome"] or "unknown"),
        )
    Console().print(grid)


def _print_summary(result: Any) -> None:
    grid = Table(title="DPRK missile tests per year and type (CNS)")
    grid.add_column("year")
    for missile_type in result.types:
        grid.add_column(missile_type, justify="right")
    grid.add_column("total", justify="right")
    for year in result.years:
        grid.add_row(
            str(year),
            *[str(result.counts.get((year, t), "")) for t in result.types],
            str(result.total(year=year)),
        )
    grid.add_row(
        "total", *[str(result.total(missile_type=t)) for t in result.types], str(result.total())
    )
    Console().print(grid)


def _write_chart(result: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(11, 5))
    try:
        years = list(result.years)
        bottom = [0] * len(years)
        for missile_type in result.types:
            heights = [result.counts.get((year, missile_type), 0) for year in years]
            axes.bar([str(y) for y in years], heights, bottom=bottom, label=missile_type)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        axes.set_title("DPRK missile tests per year and type (CNS database)")
        axes.set_ylabel("missiles fired")
        axes.tick_params(axis="x", labelrotation=90)
        axes.legend(ncols=2, fontsize="small")
        figure.tight_layout()
        try:
            figure.savefig(path, format=path.suffix.lower().lstrip("."))
        except OSError as exc:
            raise BadInput(f"cannot write chart {str(path)!r}: {exc.strerror}") from None
    finally:
        plt.close(figure)


def register(app: typer.Typer) -> None:
    """Add ``airspace``, ``eez`` and ``missiles`` to the ``trilat analyze`` group."""
    app.command("airspace")(airspace)
    app.command("eez")(eez)
    app.command("missiles")(missiles)
