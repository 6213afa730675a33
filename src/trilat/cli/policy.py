"""``trilat policy explain``: show whether an item may go from a holder to a destination, and why.

A decision exits 0 whether it allows or denies (SPEC §9); a bad label, date, nation or topic
exits 2 naming it. An agreements directory that cannot be loaded does not stop the command:
the policy fails closed (every classified decision denies, quoting the reason) and a warning
goes to stderr.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from trilat.agreement_files import load_policy
from trilat.cli.errors import fail, stderr
from trilat.core.agreements import topic_is_valid
from trilat.core.clock import parse_time
from trilat.core.errors import LabelError
from trilat.core.labels import format_banner, is_nation, parse_label
from trilat.core.policy import Consent, Decision, Policy, Subject

app = typer.Typer(help="Explain releasability decisions (SPEC §4).", no_args_is_help=True)

PROBE_ID = "cli-probe"


def parse_nation(text: str, option: str) -> str:
    """An upper-case known nation, or exit 2 naming the option and the code."""
    code = text.strip().upper()
    if not is_nation(code):
        raise fail(f"{option} {text!r}: unknown nation (ISO 3166-1 alpha-3, e.g. USA, JPN, KOR)")
    return code


def parse_day(text: str | None, option: str = "--at") -> datetime:
    """``YYYY-MM-DD`` (00:00 UTC) or an RFC 3339 time; None means now."""
    if text is None:
        return datetime.now(UTC)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        return parse_time(text)
    except ValueError:
        raise fail(f"{option} {text!r}: expected a date YYYY-MM-DD or an RFC 3339 time") from None


def load_cli_policy(directory: Path | None) -> Policy:
    """The policy over *directory* (None = shipped); warns on stderr if it failed closed."""
    policy = load_policy(directory)
    for problem in policy.problems:
        stderr.print(
            f"[yellow]warning:[/yellow] {problem}; every classified decision will deny",
            markup=True,
            soft_wrap=True,
        )
    return policy


def render_decision(decision: Decision, console: Console) -> None:
    """A short rich rendering of a decision for a duty officer."""
    verdict = Text(
        "ALLOW" if decision.allowed else "DENY",
        style="bold green" if decision.allowed else "bold red",
    )
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("decision", verdict)
    table.add_row("agreement", decision.agreement or "—")
    table.add_row("route", " → ".join(decision.route) if decision.route else "—")
    table.add_row("requires", ", ".join(decision.requires) if decision.requires else "—")
    table.add_row("rule", decision.rule)
    for index, reason in enumerate(decision.reasons):
        table.add_row("because" if index == 0 else "", reason)
    for warning in decision.warnings:
        table.add_row("warning", Text(warning, style="yellow"))
    console.print(table)


@app.command("explain")
def explain(
    label: Annotated[
        str, typer.Option("--label", help="Banner or portion, e.g. 'SECRET//REL TO USA, JPN, KOR'.")
    ],
    originator: Annotated[
        str, typer.Option("--originator", help="Originating nation (label owner).")
    ],
    holder: Annotated[str, typer.Option("--holder", help="Nation holding the copy.")],
    to: Annotated[str, typer.Option("--to", help="Destination nation.")],
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", help="Item topic (repeatable), e.g. dprk.missile."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Date YYYY-MM-DD (UTC) or RFC 3339 time; default now."),
    ] = None,
    consent: Annotated[
        bool,
        typer.Option(
            "--consent", help="The originator consented to this item for this destination."
        ),
    ] = False,
    disclosure: Annotated[
        bool,
        typer.Option("--disclosure", help="The holder's disclosure officer released it (RELIDO)."),
    ] = False,
    recipient: Annotated[
        list[str] | None,
        typer.Option("--recipient", help="Item recipient for TLP:AMBER (repeatable)."),
    ] = None,
    agreements: Annotated[
        Path | None,
        typer.Option(
            "--agreements", help="Directory of agreement TOML files; default: the shipped set."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Show whether an item labelled LABEL may go from HOLDER to TO at a date, and why."""
    owner = parse_nation(originator, "--originator")
    holder_code = parse_nation(holder, "--holder")
    destination = parse_nation(to, "--to")
    recipients = tuple(parse_nation(r, "--recipient") for r in recipient or ())
    topics = tuple(topic or ())
    for name in topics:
        if not topic_is_valid(name):
            raise fail(f"--topic {name!r}: expected a dotted lower-case topic like dprk.missile")
    try:
        parsed = parse_label(label, owner=owner)
    except LabelError as exc:
        raise fail(f"--label: {exc}") from exc
    when = parse_day(at)
    consents = []
    if consent:
        consents.append(Consent(owner, frozenset({destination}), item_id=PROBE_ID))
    if disclosure:
        consents.append(
            Consent(holder_code, frozenset({destination}), item_id=PROBE_ID, kind="disclosure")
        )
    subject = Subject(parsed, topics, recipients, PROBE_ID)
    decision = load_cli_policy(agreements).decide(subject, holder_code, destination, when, consents)
    if as_json:
        document = decision.as_dict()
        document["label"] = format_banner(parsed)
        document["at"] = when.isoformat().replace("+00:00", "Z")
        typer.echo(json.dumps(document, ensure_ascii=False))
        return
    console = Console(highlight=False)
    console.print(
        f"{format_banner(parsed)} from {owner}, held by {holder_code}, to {destination} "
        f"on {when.date().isoformat()} ({', '.join(topics) or 'no topic'})"
    )
    render_decision(decision, console)
