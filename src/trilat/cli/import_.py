"""``trilat import stix|misp DIR FILE --label LABEL --as USER``: foreign data in as items.

A STIX 2.1 bundle's objects, or a MISP event's attributes (as STIX 2.1 indicators), become
``indicator`` items with the label the operator gives; there is no default and no guess.
The label must be at least as restrictive as any marking the source carries (a STIX
object's markings, read fail-closed by the STIX adapter; a MISP ``tlp:`` tag): the roll-up
of the given label with the source's must be the given label, else the import is refused.
Everything is checked before anything is stored; each item is then sealed, stored and
audited (``accept``) by the node as if the user had posted it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from trilat.adapters.misp import misp_indicators
from trilat.adapters.stix import TRILAT_IDENTITY_ID, check_stix, item_from_stix, label_of
from trilat.api.node import NewItem, Node
from trilat.api.problems import Problem
from trilat.cli.errors import BadInput, stderr
from trilat.cli.export import open_node, user_named
from trilat.core.errors import DecodeError, LabelError
from trilat.core.labels import Classification, Label, Tlp, format_banner, parse_label, roll_up

app = typer.Typer(
    help="Import a STIX 2.1 bundle or a MISP event as items with a label you give.",
    no_args_is_help=True,
)

NodeDir = Annotated[Path, typer.Argument(help="The node directory made by `trilat init`.")]
SourceFile = Annotated[Path, typer.Argument(help="The file to import (JSON).")]
LabelOption = Annotated[
    str,
    typer.Option(
        "--label", help="The security label of every imported item (required; never guessed)."
    ),
]
AsUser = Annotated[str, typer.Option("--as", help="The node user who originates the items.")]
TopicOption = Annotated[str, typer.Option("--topic", help="Topic of the items.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

_TOPIC: Final = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_NOT_STORED: Final = frozenset({"marking-definition", "extension-definition"})


def _given_label(text: str, node: Node) -> Label:
    if not text.strip():
        raise BadInput("--label: a label is required (imported data is never labelled by guess)")
    return parse_label(text, owner=node.nation)


def _covers(given: Label, source: Label) -> bool:
    """Is *given* at least as restrictive as *source* (their roll-up is *given*)?"""
    source = replace(source, owner=given.owner)
    if given.classification > source.classification and source.tlp is Tlp.CLEAR:
        source = replace(source, tlp=None)  # public release is moot under a classification
    return roll_up([given, source]) == given


def _check_covered(given: Label, source: Label, what: str) -> None:
    if not _covers(given, source):
        raise BadInput(
            f"{what} is marked {format_banner(source)}; --label {format_banner(given)!r} is "
            f"less restrictive (use at least {format_banner(roll_up([given, source]))!r})"
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path}: not JSON: {exc}") from None


def stix_bodies(bundle: Any, given: Label) -> list[dict[str, Any]]:
    """The objects of a STIX 2.1 bundle to store, unmarked, each checked against *given*."""
    if not isinstance(bundle, Mapping) or bundle.get("type") != "bundle":
        raise BadInput("the STIX file is not a bundle (type 'bundle')")
    objects = bundle.get("objects")
    if not isinstance(objects, list) or not objects:
        raise BadInput("the STIX bundle has no objects")
    definitions = [o for o in objects if isinstance(o, Mapping)]
    bodies = []
    for position, obj in enumerate(objects):
        what = f"objects[{position}]"
        if not isinstance(obj, Mapping):
            raise BadInput(f"{what} is not a JSON object")
        if obj.get("type") in _NOT_STORED or obj.get("id") in (TRILAT_IDENTITY_ID,):
            continue
        if obj.get("object_marking_refs") or obj.get("granular_markings"):
            try:
                _check_covered(given, label_of(obj, definitions), f"{what} ({obj.get('id')})")
                bodies.append(dict(item_from_stix(obj, definitions).body))
            except DecodeError as exc:
                raise BadInput(f"{what}: {exc}") from None
        else:
            bodies.append(_unmarked_body(obj, what))
    if not bodies:
        raise BadInput("the STIX bundle holds only marking and extension definitions")
    return bodies


def _unmarked_body(obj: Mapping[str, Any], what: str) -> dict[str, Any]:
    """An unmarked STIX object, checked as STIX 2.1 (the given label will mark it)."""
    try:
        check_stix(obj)
    except DecodeError as exc:
        raise BadInput(f"{what}: {exc}") from None
    return dict(obj)


def misp_bodies(document: Any, given: Label) -> list[dict[str, Any]]:
    """The STIX 2.1 indicators of a MISP event, each checked against *given* (its TLP tags
    must be covered) and as STIX 2.1."""
    bodies = []
    for indicator in misp_indicators(document):
        if indicator.tlp is not None:
            source = Label(Classification.UNCLASSIFIED, owner=given.owner, tlp=indicator.tlp)
            _check_covered(given, source, indicator.where)
        bodies.append(_unmarked_body(indicator.body, indicator.where))
    return bodies


def _originate(
    node: Node, user_name: str, label: Label, topic: str, bodies: list[dict[str, Any]]
) -> list[str]:
    user = user_named(node, user_name)
    ids = []
    banner = format_banner(label)
    for body in bodies:
        try:
            visible = node.originate(
                NewItem(kind="indicator", label=banner, topics=(topic,), body=body), user
            )
        except Problem as exc:
            raise BadInput(f"{user.name} may not originate this: {exc.detail}") from None
        ids.append(visible.envelope.id)
    return ids


def _run(
    source: str,
    node_dir: Path,
    path: Path,
    label_text: str,
    as_user: str,
    topic: str,
    as_json: bool,
) -> None:
    if not _TOPIC.fullmatch(topic):
        raise BadInput(f"--topic: not a dotted topic: {topic!r}")
    node = open_node(node_dir)
    try:
        user_named(node, as_user)
        label = _given_label(label_text, node)
        document = _read_json(path)
        try:
            bodies = (stix_bodies if source == "stix" else misp_bodies)(document, label)
        except (DecodeError, LabelError) as exc:
            raise BadInput(str(exc)) from None
        ids = _originate(node, as_user, label, topic, bodies)
    finally:
        node.store.close()
    if as_json:
        print(json.dumps({"imported": len(ids), "label": format_banner(label), "items": ids}))
    else:
        print(len(ids))
    stderr.print(f"imported {len(ids)} item(s) from {path.name} as {format_banner(label)}")


@app.command("stix")
def import_stix(
    node_dir: NodeDir,
    path: SourceFile,
    label: LabelOption,
    as_user: AsUser,
    topic: TopicOption = "cyber",
    as_json: JsonOption = False,
) -> None:
    """Import the objects of a STIX 2.1 bundle as indicator items labelled LABEL."""
    _run("stix", node_dir, path, label, as_user, topic, as_json)


@app.command("misp")
def import_misp(
    node_dir: NodeDir,
    path: SourceFile,
    label: LabelOption,
    as_user: AsUser,
    topic: TopicOption = "cyber",
    as_json: JsonOption = False,
) -> None:
    """Import the attributes of a MISP event as STIX indicator items labelled LABEL."""
    _run("misp", node_dir, path, label, as_user, topic, as_json)
