"""``trilat label``: check a marking, or roll portion marks up into a banner (SPEC §9)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from trilat.cli.errors import fail
from trilat.core.errors import LabelError
from trilat.core.labels import (
    Label,
    check_tetragraphs,
    dissem_markings,
    format_banner,
    format_portion,
    ordered_codes,
    parse_label,
    roll_up,
)

app = typer.Typer(
    help="Parse, normalise and roll up security labels (CAPCO-style banners and portions).",
    no_args_is_help=True,
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object instead of the banner.")
]
TetragraphOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tetragraph",
        metavar="CODE=NAT,NAT…",
        help="Define a user tetragraph, e.g. TRIL=USA,JPN,KOR (repeatable).",
    ),
]


def label_json(label: Label) -> dict[str, Any]:
    """The ``--json`` shape of SPEC §9: canonical, portion, classification, rel_to, dissem, tlp.

    ``dissem`` lists the banner's dissemination markings other than REL TO, rendered and in
    render order (so EYES ONLY and DISPLAY ONLY keep their nations).
    """
    return {
        "canonical": format_banner(label),
        "portion": format_portion(label),
        "classification": label.classification.banner,
        "rel_to": ordered_codes(label.rel_to),
        "dissem": dissem_markings(label),
        "tlp": None if label.tlp is None else label.tlp.value,
    }


def _tetragraphs(definitions: list[str] | None) -> dict[str, frozenset[str]] | None:
    if not definitions:
        return None
    table: dict[str, list[str]] = {}
    for definition in definitions:
        code, equals, members = definition.partition("=")
        if not equals:
            raise fail(f"--tetragraph {definition!r}: expected CODE=NAT,NAT (e.g. TRIL=USA,JPN)")
        table[code.strip().upper()] = [m.strip().upper() for m in members.split(",")]
    try:
        return check_tetragraphs(table)
    except LabelError as exc:
        raise fail(f"--tetragraph: {exc}") from exc


def _show(label: Label, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(label_json(label), ensure_ascii=False))
    else:
        typer.echo(format_banner(label))


@app.command("check")
def check(
    text: Annotated[str, typer.Argument(help="A banner or portion mark, e.g. '(S//NF)'.")],
    as_json: JsonOption = False,
    tetragraph: TetragraphOption = None,
) -> None:
    """Print the canonical banner of TEXT; exit 2 naming the bad token if it is illegal."""
    try:
        label = parse_label(text, tetragraphs=_tetragraphs(tetragraph))
    except LabelError as exc:
        raise fail(str(exc)) from exc
    _show(label, as_json)


@app.command("rollup")
def rollup(
    portions: Annotated[list[str], typer.Argument(help="Portion marks, e.g. '(S//NF)' '(U)'.")],
    as_json: JsonOption = False,
    tetragraph: TetragraphOption = None,
) -> None:
    """Roll PORTION marks up into the banner that covers them all."""
    tetragraphs = _tetragraphs(tetragraph)
    try:
        labels = [parse_label(portion, tetragraphs=tetragraphs) for portion in portions]
        label = roll_up(labels, tetragraphs=tetragraphs)
    except LabelError as exc:
        raise fail(str(exc)) from exc
    _show(label, as_json)
