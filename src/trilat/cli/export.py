"""``trilat export geojson|kml|misp|stix DIR --as USER``: what USER may see, in a foreign format.

The node's store is read in insertion order and every item goes through ``Node.visible``,
the same viewer check the REST and TAXII APIs use (``Policy.may_view`` with the user's
nationality and clearance, the node's nation, now); DISPLAY ONLY views are audited there.
The export itself is one ``release`` audit leaf naming the user, the format, the filters
and the counts exported and withheld. Formats come from the adapters, which only translate.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from trilat.adapters.geojson import feature_collection
from trilat.adapters.kml import kml_document
from trilat.adapters.misp import misp_event
from trilat.adapters.stix import stix_bundle
from trilat.api.app import build_node
from trilat.api.node import Node
from trilat.cli.errors import BadInput, fail, stderr
from trilat.config import load_settings
from trilat.core.clock import format_time, parse_time
from trilat.core.items import KINDS, Envelope
from trilat.federation.clock import scenario_clock
from trilat.store import ItemFilter, User
from trilat.store.auditlog import audit_entry

app = typer.Typer(
    help="Export the items a user may see as GeoJSON, KML, a MISP event or a STIX bundle.",
    no_args_is_help=True,
)

NodeDir = Annotated[Path, typer.Argument(help="The node directory made by `trilat init`.")]
AsUser = Annotated[
    str, typer.Option("--as", help="Export what this user of the node may see (required).")
]
KindOption = Annotated[str | None, typer.Option("--kind", help="Only items of this kind.")]
TopicOption = Annotated[
    str | None, typer.Option("--topic", help="Only items on this topic or below it.")
]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="Only items created at or after this RFC 3339 time.")
]
OutputOption = Annotated[
    Path | None, typer.Option("-o", "--output", help="Write here instead of standard output.")
]

_TOPIC: Final = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_BATCH: Final = 1000


@dataclass(frozen=True, slots=True)
class Exported:
    """What an export released: the envelopes, and how many items were withheld."""

    envelopes: list[Envelope]
    withheld: int


def open_node(node_dir: Path) -> Node:
    """The node in *node_dir* with its store, key, agreements and (scenario) clock."""
    return build_node(load_settings(node_dir), clock=scenario_clock(node_dir))


def user_named(node: Node, name: str) -> User:
    """The node's user called *name*; BadInput when there is none."""
    if not name.strip():
        raise BadInput("--as: a user name is required")
    for user in node.store.users():
        if user.name == name:
            return user
    raise BadInput(f"--as: no user {name!r} on node {node.node_id}")


def item_filter(kind: str | None, topic: str | None, since: str | None) -> ItemFilter:
    """The store filter of the command's options; BadInput naming a malformed one."""
    if kind is not None and kind not in KINDS:
        raise BadInput(f"--kind: unknown kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    if topic is not None and not _TOPIC.fullmatch(topic):
        raise BadInput(f"--topic: not a dotted topic: {topic!r}")
    since_text = None
    if since is not None:
        try:
            since_text = format_time(parse_time(since))
        except ValueError:
            raise BadInput(f"--since: not an RFC 3339 time with an offset: {since!r}") from None
    return ItemFilter(kind=kind, topic=topic, since=since_text)


def released_to(node: Node, user: User, where: ItemFilter) -> Exported:
    """Every held item matching *where* that *user* may see, in insertion order."""
    envelopes: list[Envelope] = []
    withheld = 0
    cursor = 0
    while True:
        batch = node.store.read_after(cursor, _BATCH, where)
        if not batch:
            break
        shown = node.visible(batch, user)
        envelopes.extend(visible.envelope for visible in shown)
        withheld += sum(1 for stored in batch if stored.document is not None) - len(shown)
        cursor = batch[-1].seq
        if len(batch) < _BATCH:
            break
    return Exported(envelopes, withheld)


def audit_export(
    node: Node, user: User, format_name: str, where: ItemFilter, exported: Exported
) -> None:
    """One ``release`` leaf for the whole export, with its counts (never the content)."""
    kinds: dict[str, int] = {}
    for envelope in exported.envelopes:
        kinds[envelope.kind] = kinds.get(envelope.kind, 0) + 1
    entry = audit_entry(
        "release",
        at=node.clock.now(),
        actor=user.name,
        decision=f"allow: export of what {user.name} may view",
        nation=user.nationality,
        via="export",
        format=format_name,
        exported=len(exported.envelopes),
        withheld=exported.withheld,
        kinds=tuple(f"{kind}={count}" for kind, count in sorted(kinds.items())),
        kind=where.kind,
        topic=where.topic,
        since=where.since,
    )
    node.store.append_audit([entry])


def _write(data: bytes, output: Path | None) -> None:
    if output is None:
        binary = getattr(sys.stdout, "buffer", None)
        if binary is None:  # a text-only stdout (redirected in-process)
            sys.stdout.write(data.decode("utf-8"))
        else:
            binary.write(data)
            binary.flush()
    else:
        output.write_bytes(data)


def _json_bytes(document: Any) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _export(
    format_name: str,
    node_dir: Path,
    as_user: str,
    where: ItemFilter,
    output: Path | None,
    render: Callable[[Node, User, list[Envelope]], bytes],
) -> None:
    node = open_node(node_dir)
    try:
        user = user_named(node, as_user)
        exported = released_to(node, user, where)
        data = render(node, user, exported.envelopes)
        _write(data, output)
        audit_export(node, user, format_name, where, exported)
    finally:
        node.store.close()
    stderr.print(
        f"exported {len(exported.envelopes)} item(s) as {format_name} for {user.name} "
        f"({user.nationality}); {exported.withheld} withheld by their labels"
    )


@app.command("geojson")
def geojson(
    node_dir: NodeDir,
    as_user: AsUser,
    kind: KindOption = None,
    topic: TopicOption = None,
    since: SinceOption = None,
    output: OutputOption = None,
) -> None:
    """An RFC 7946 FeatureCollection of the items USER may see."""
    where = item_filter(kind, topic, since)
    _export(
        "geojson",
        node_dir,
        as_user,
        where,
        output,
        lambda node, user, envelopes: _json_bytes(feature_collection(envelopes)),
    )


@app.command("kml")
def kml(
    node_dir: NodeDir,
    as_user: AsUser,
    kind: KindOption = None,
    topic: TopicOption = None,
    since: SinceOption = None,
    output: OutputOption = None,
) -> None:
    """A KML 2.2 document of the items USER may see."""
    where = item_filter(kind, topic, since)
    _export(
        "kml",
        node_dir,
        as_user,
        where,
        output,
        lambda node, user, envelopes: kml_document(
            envelopes, name=f"trilat {node.node_id} export for {user.name}"
        ),
    )


@app.command("misp")
def misp(
    node_dir: NodeDir,
    as_user: AsUser,
    kind: KindOption = None,
    topic: TopicOption = None,
    since: SinceOption = None,
    output: OutputOption = None,
) -> None:
    """A MISP event (core format JSON) of the items USER may see."""
    where = item_filter(kind, topic, since)

    def render(node: Node, user: User, envelopes: list[Envelope]) -> bytes:
        if not envelopes:
            raise fail(f"nothing to export: {user.name} may see no matching item", 1)
        info = f"trilat {node.node_id} export for {user.name} ({user.nationality})"
        return _json_bytes(misp_event(envelopes, info=info))

    _export("misp", node_dir, as_user, where, output, render)


@app.command("stix")
def stix(
    node_dir: NodeDir,
    as_user: AsUser,
    kind: KindOption = None,
    topic: TopicOption = None,
    since: SinceOption = None,
    output: OutputOption = None,
) -> None:
    """A STIX 2.1 bundle of the indicator items USER may see, labels as marking definitions."""
    if kind not in (None, "indicator"):
        raise BadInput(f"--kind: only indicator items map to STIX objects, not {kind!r}")
    where = item_filter("indicator", topic, since)
    _export(
        "stix",
        node_dir,
        as_user,
        where,
        output,
        lambda node, user, envelopes: _json_bytes(stix_bundle(envelopes)),
    )
