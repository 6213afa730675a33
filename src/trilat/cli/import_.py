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
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import stix2
import stix2.exceptions
import typer

from trilat.adapters.stix import (
    TRILAT_IDENTITY_ID,
    item_from_stix,
    label_of,
)
from trilat.api.node import NewItem, Node
from trilat.api.problems import Problem
from trilat.cli.errors import BadInput, stderr
from trilat.cli.export import open_node, user_named
from trilat.core.clock import format_time
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
_MISP_NAMESPACE: Final = uuid.UUID("9f0e8a52-2f4c-4d8e-b7a5-3c1f6e2d8b47")
# MISP attribute type → STIX 2.1 object path of a one-comparison indicator pattern
_MISP_PATTERNS: Final[Mapping[str, str]] = {
    "ip-dst": "ipv4-addr:value",
    "ip-src": "ipv4-addr:value",
    "domain": "domain-name:value",
    "hostname": "domain-name:value",
    "url": "url:value",
    "email-src": "email-addr:value",
    "email-dst": "email-addr:value",
    "filename": "file:name",
    "md5": "file:hashes.MD5",
    "sha1": "file:hashes.'SHA-1'",
    "sha256": "file:hashes.'SHA-256'",
    "sha512": "file:hashes.'SHA-512'",
}
_MISP_TLP: Final[Mapping[str, Tlp]] = {
    "tlp:clear": Tlp.CLEAR,
    "tlp:white": Tlp.CLEAR,
    "tlp:green": Tlp.GREEN,
    "tlp:amber": Tlp.AMBER,
    "tlp:amber+strict": Tlp.AMBER_STRICT,
    "tlp:red": Tlp.RED,
}


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
    if obj.get("spec_version") != "2.1":
        raise BadInput(f"{what}: not a STIX 2.1 object (spec_version)")
    try:
        stix2.parse(dict(obj), allow_custom=True)
    except (stix2.exceptions.STIXError, ValueError, TypeError) as exc:
        raise BadInput(f"{what}: not valid STIX 2.1: {exc}") from None
    return dict(obj)


def _misp_time(value: Any) -> str:
    try:
        seconds = int(str(value))
    except ValueError:
        raise BadInput(f"MISP timestamp is not an integer: {str(value)[:40]!r}") from None
    return format_time(datetime.fromtimestamp(seconds, UTC))


def _misp_tlp(tags: Any, what: str) -> Tlp | None:
    tlps = []
    for tag in tags or ():
        name = str(tag.get("name", "")).strip().lower() if isinstance(tag, Mapping) else ""
        if name in _MISP_TLP:
            tlps.append(_MISP_TLP[name])
        elif name.startswith("tlp:"):
            raise BadInput(f"{what}: unknown TLP tag {name!r}")
    order = [Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED]
    return max(tlps, key=order.index) if tlps else None


def _misp_attributes(event: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for position, attribute in enumerate(event.get("Attribute") or ()):
        yield f"Attribute[{position}]", attribute
    for index, obj in enumerate(event.get("Object") or ()):
        if not isinstance(obj, Mapping):
            raise BadInput(f"Object[{index}] is not a JSON object")
        for position, attribute in enumerate(obj.get("Attribute") or ()):
            yield f"Object[{index}].Attribute[{position}]", attribute


def _pattern_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def misp_bodies(document: Any, given: Label) -> list[dict[str, Any]]:
    """STIX 2.1 indicators for the attributes of a MISP event that name an observable.

    Attributes of other types (free text, geolocation, ...) are refused: the whole import
    fails, naming the first, so nothing is silently dropped.
    """
    event = document.get("Event") if isinstance(document, Mapping) else None
    if not isinstance(event, Mapping):
        raise BadInput("the MISP file is not an event ({'Event': {...}})")
    event_tlp = _misp_tlp(event.get("Tag"), "Event")
    bodies = []
    for what, attribute in _misp_attributes(event):
        if not isinstance(attribute, Mapping):
            raise BadInput(f"{what} is not a JSON object")
        kind, value = str(attribute.get("type")), attribute.get("value")
        if kind not in _MISP_PATTERNS:
            raise BadInput(f"{what}: MISP type {str(kind)[:40]!r} has no STIX indicator pattern")
        if not isinstance(value, str) or not value:
            raise BadInput(f"{what}: no value")
        tlps = [t for t in (event_tlp, _misp_tlp(attribute.get("Tag"), what)) if t is not None]
        for tlp in tlps:
            source = Label(Classification.UNCLASSIFIED, owner=given.owner, tlp=tlp)
            _check_covered(given, source, what)
        when = _misp_time(attribute.get("timestamp", event.get("timestamp", 0)))
        raw_uuid = str(attribute.get("uuid", ""))
        try:
            identifier = uuid.UUID(raw_uuid)
        except ValueError:
            identifier = uuid.uuid5(_MISP_NAMESPACE, f"{kind}\n{value}")
        body: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{identifier}",
            "created": when,
            "modified": when,
            "name": f"MISP {kind} {value}"[:200],
            "pattern": f"[{_MISP_PATTERNS[kind]} = '{_pattern_value(value)}']",
            "pattern_type": "stix",
            "valid_from": when,
        }
        comment = attribute.get("comment")
        if isinstance(comment, str) and comment.strip():
            body["description"] = comment
        _unmarked_body(body, what)
        bodies.append(body)
    if not bodies:
        raise BadInput("the MISP event has no attributes")
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
