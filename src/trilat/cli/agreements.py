"""``trilat agreements list|show|validate``: read the agreement files (SPEC §3, §9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from trilat.agreement_files import check_agreements, load_agreements, shipped_directory
from trilat.cli.errors import EXIT_BAD_INPUT, fail, stderr
from trilat.cli.policy import parse_day
from trilat.core.agreements import Agreement, classification_name
from trilat.core.errors import AgreementError

app = typer.Typer(help="List, show and validate agreement files.", no_args_is_help=True)

DirectoryOption = Annotated[
    Path | None,
    typer.Option(
        "--agreements", help="Directory of agreement TOML files; default: the shipped set."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AtOption = Annotated[
    str | None, typer.Option("--at", help="Status as of this date (YYYY-MM-DD); default today.")
]


def agreement_json(agreement: Agreement) -> dict[str, Any]:
    """The stable JSON form of an agreement (the TOML keys, with dates as ISO strings)."""
    markings: dict[str, dict[str, str]] = {}
    for entry in agreement.markings:
        markings.setdefault(entry.nation, {})[classification_name(entry.classification)] = (
            entry.text
        )
    return {
        "id": agreement.id,
        "name": agreement.name,
        "parties": sorted(agreement.parties),
        "topology": str(agreement.topology),
        "hub": agreement.hub,
        "binding": agreement.binding,
        "topics": list(agreement.topics),
        "max_classification": classification_name(agreement.max_classification),
        "third_party": str(agreement.third_party),
        "periods": [
            {
                "from": p.start.isoformat(),
                "to": None if p.end is None else p.end.isoformat(),
                "status": str(p.status),
                "note": p.note,
            }
            for p in agreement.periods
        ],
        "renewal": agreement.renewal,
        "notices": [
            {
                "from": n.start.isoformat(),
                "to": None if n.end is None else n.end.isoformat(),
                "text": n.text,
            }
            for n in agreement.notices
        ],
        "markings": markings,
        "source": agreement.source,
    }


def _load(directory: Path | None) -> list[Agreement]:
    try:
        return load_agreements(directory)
    except AgreementError as exc:
        raise fail(f"agreements: {exc}", code=1) from exc


@app.command("list")
def list_agreements(
    agreements: DirectoryOption = None, at: AtOption = None, as_json: JsonOption = False
) -> None:
    """List the agreements with their parties, scope and status on a date."""
    loaded = _load(agreements)
    when = parse_day(at)
    if as_json:
        rows = []
        for agreement in loaded:
            in_force, why = agreement.state_at(when)
            rows.append(
                {
                    **agreement_json(agreement),
                    "in_force": in_force,
                    "status": why,
                    "warnings": list(agreement.warnings(when)),
                }
            )
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title=f"Agreements on {when.date().isoformat()}")
    table.add_column("id", no_wrap=True, min_width=19)
    for column in ("parties", "topology", "topics", "ceiling", "third party", "status"):
        table.add_column(column)
    for agreement in loaded:
        in_force, _ = agreement.state_at(when)
        parties = ", ".join(sorted(agreement.parties))
        topology = str(agreement.topology)
        if agreement.hub:
            topology += f" ({agreement.hub})"
        notices = " ⚠" if agreement.warnings(when) and agreement.notices else ""
        table.add_row(
            agreement.id,
            parties,
            topology,
            ", ".join(agreement.topics),
            classification_name(agreement.max_classification),
            str(agreement.third_party),
            ("[green]in force[/green]" if in_force else "[red]not in force[/red]") + notices,
        )
    Console().print(table)


@app.command("show")
def show(
    agreement_id: Annotated[
        str, typer.Argument(metavar="ID", help="Agreement id, e.g. TISA-2014.")
    ],
    agreements: DirectoryOption = None,
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every field of one agreement, its status on a date and its warnings."""
    loaded = {a.id: a for a in _load(agreements)}
    agreement = loaded.get(agreement_id.strip().upper())
    if agreement is None:
        known = ", ".join(sorted(loaded))
        raise fail(f"unknown agreement {agreement_id!r} (known: {known})")
    when = parse_day(at)
    in_force, why = agreement.state_at(when)
    if as_json:
        document = agreement_json(agreement)
        document.update(in_force=in_force, status=why, warnings=list(agreement.warnings(when)))
        typer.echo(json.dumps(document, ensure_ascii=False))
        return
    console = Console(highlight=False)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    data = agreement_json(agreement)
    table.add_row("id", agreement.id)
    table.add_row("name", agreement.name)
    table.add_row("parties", ", ".join(data["parties"]))
    table.add_row(
        "topology", data["topology"] + (f", hub {agreement.hub}" if agreement.hub else "")
    )
    table.add_row("binding", "yes" if agreement.binding else "no (political arrangement)")
    table.add_row("topics", ", ".join(agreement.topics))
    table.add_row("ceiling", data["max_classification"])
    table.add_row("third party", data["third_party"])
    for period in agreement.periods:
        note = f" — {period.note}" if period.note else ""
        table.add_row("period", f"{period.describe()} {period.status}{note}")
    if agreement.renewal:
        table.add_row("renewal", agreement.renewal)
    for notice in agreement.notices:
        table.add_row("notice", f"{notice.start.isoformat()}: {notice.text}")
    for nation, levels in data["markings"].items():
        rendered = "; ".join(f"{level} = {text}" for level, text in levels.items())
        table.add_row("markings", f"{nation}: {rendered}")
    table.add_row("source", agreement.source)
    colour = "green" if in_force else "red"
    table.add_row(f"on {when.date().isoformat()}", f"[{colour}]{why}[/{colour}]")
    for warning in agreement.warnings(when):
        table.add_row("warning", f"[yellow]{warning}[/yellow]")
    console.print(table)


@app.command("validate")
def validate(
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="[DIR]", help="Directory of agreement files; default: the shipped set."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check every agreement file of DIR; exit 2 listing each problem if any is invalid."""
    folder = shipped_directory() if directory is None else directory
    agreements, errors = check_agreements(directory)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "directory": str(folder),
                    "valid": not errors,
                    "agreements": [a.id for a in agreements],
                    "errors": [
                        {"source": e.source, "key": e.key, "reason": e.reason} for e in errors
                    ],
                },
                ensure_ascii=False,
            )
        )
    else:
        for agreement in agreements:
            typer.echo(f"ok  {agreement.id}")
        for error in errors:
            stderr.print(f"[red]error:[/red] {error}", markup=True, soft_wrap=True)
    if errors:
        raise typer.Exit(EXIT_BAD_INPUT)
