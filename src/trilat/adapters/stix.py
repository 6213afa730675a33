"""STIX 2.1: security labels as marking definitions, both ways, and indicator items.

A trilat label becomes up to three marking definitions (``label_markings``):

* the **label marking**: a marking definition carrying the trilat security-label property
  extension (``LABEL_EXTENSION_ID``, schema in ``docs/stix-marking-extension.md``) with the
  classification, controls, release lists and owner as structured fields;
* a **statement marking** whose text is the full canonical banner, for tools that show
  markings only as text;
* the official **TLP 2.0** marking definition (fixed OASIS ids) when the label has a TLP.

Reading is fail-closed (``label_of``): every marking an object references, at object level
or in granular markings, must be one trilat understands (its label markings, its statement
markings that match a label present, TLP 2.0 or the STIX 2.1 TLP 1.0 definitions), else
DecodeError; an object with no object-level marking is refused; granular markings roll up
with the object-level label through ``core.labels.roll_up`` (never less restrictive).

Ids of label and statement markings are derived from their content (UUIDv4-shaped SHA-256),
so the same label always yields the same objects and a definition whose id does not match
its content is refused. Exports take envelopes already released by the policy; nothing here
decides releasability.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import cache, lru_cache
from typing import Any, Final

import stix2
import stix2.exceptions

from trilat.adapters._stix_check import certainly_valid, pattern_error
from trilat.core.errors import DecodeError, LabelError
from trilat.core.items import Envelope, Item
from trilat.core.labels import (
    CONTROL_ORDER,
    Classification,
    Label,
    Tlp,
    format_banner,
    format_portion,
    ordered_codes,
    parse_label,
    roll_up,
)

__all__ = [
    "LABEL_EXTENSION_ID",
    "TLP1_MARKING_IDS",
    "TLP_EXTENSION_ID",
    "TLP_MARKING_IDS",
    "TRILAT_IDENTITY_ID",
    "MarkingReader",
    "check_stix",
    "check_stix_all",
    "envelope_to_stix",
    "item_from_stix",
    "label_extension_definition",
    "label_from_refs",
    "label_markings",
    "label_of",
    "mark",
    "marking_refs",
    "stix_bundle",
    "tlp_marking",
    "trilat_identity",
]

TLP_EXTENSION_ID: Final = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
"""The OASIS TLP 2.0 marking-definition extension."""

TLP_MARKING_IDS: Final[Mapping[Tlp, str]] = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
"""The official TLP 2.0 marking definitions (OASIS cti-stix-common-objects)."""

TLP1_MARKING_IDS: Final[Mapping[str, Tlp]] = {
    stix2.TLP_WHITE.id: Tlp.CLEAR,
    stix2.TLP_GREEN.id: Tlp.GREEN,
    stix2.TLP_AMBER.id: Tlp.AMBER,
    stix2.TLP_RED.id: Tlp.RED,
}
"""The STIX 2.1 TLP 1.0 definitions, read as their TLP 2.0 equivalents (WHITE is CLEAR)."""

LABEL_EXTENSION_ID: Final = "extension-definition--8eaa8ce5-74c7-4650-85ac-6db89262ea94"
"""The trilat security-label property extension for marking definitions (fixed forever)."""

TRILAT_IDENTITY_ID: Final = "identity--3c0ba70d-7f8f-44f5-87ce-150e04f06f97"
"""The identity that defines the extension and creates label and statement markings."""

_TLP_NAMES: Final[Mapping[str, Tlp]] = {
    "clear": Tlp.CLEAR,
    "green": Tlp.GREEN,
    "amber": Tlp.AMBER,
    "amber+strict": Tlp.AMBER_STRICT,
    "red": Tlp.RED,
}
_TLP_CREATED: Final = "2022-10-01T00:00:00.000Z"
_TRILAT_CREATED: Final = "2025-01-01T00:00:00.000Z"
_POLICY: Final = "CAPCO"
_EXTENSION_MEMBERS: Final = frozenset(
    {
        "extension_type",
        "policy",
        "classification",
        "rel_to",
        "dissem",
        "eyes_only",
        "display_only",
        "owner",
        "banner",
        "portion",
    }
)
_LIST_MEMBERS: Final = ("rel_to", "dissem", "eyes_only", "display_only")
_CONTROL_RANK: Final = {name: rank for rank, name in enumerate(CONTROL_ORDER)}
_STIX_ID: Final = re.compile(
    r"[a-z0-9][a-z0-9-]*--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def _plain(obj: Any) -> dict[str, Any]:
    """A stix2 object as plain JSON data."""
    data: dict[str, Any] = json.loads(obj.serialize())
    return data


def _derived_uuid(*parts: str) -> str:
    """A UUIDv4-shaped identifier derived from *parts* (the same input, the same id)."""
    digest = hashlib.sha256("\n".join(("trilat", *parts)).encode("utf-8")).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


# --- fixed objects ---------------------------------------------------------------------------


@cache
def _tlp_marking(tlp: Tlp) -> dict[str, Any]:
    colour = next(name for name, value in _TLP_NAMES.items() if value is tlp)
    return _plain(
        stix2.MarkingDefinition(
            id=TLP_MARKING_IDS[tlp],
            created=_TLP_CREATED,
            name=str(tlp),
            extensions={
                TLP_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": colour}
            },
        )
    )


def tlp_marking(tlp: Tlp) -> dict[str, Any]:
    """The official TLP 2.0 marking-definition object for *tlp*."""
    return copy.deepcopy(_tlp_marking(tlp))


@lru_cache(maxsize=1)
def _identity() -> dict[str, Any]:
    return _plain(
        stix2.Identity(
            id=TRILAT_IDENTITY_ID,
            created=_TRILAT_CREATED,
            modified=_TRILAT_CREATED,
            name="trilat",
            description="The trilat federated information-sharing project, author of the "
            "trilat security-label marking extension.",
            identity_class="system",
        )
    )


def trilat_identity() -> dict[str, Any]:
    """The identity object that ``created_by_ref`` of trilat markings points to."""
    return copy.deepcopy(_identity())


@lru_cache(maxsize=1)
def _extension_definition() -> dict[str, Any]:
    return _plain(
        stix2.ExtensionDefinition(
            id=LABEL_EXTENSION_ID,
            created_by_ref=TRILAT_IDENTITY_ID,
            created=_TRILAT_CREATED,
            modified=_TRILAT_CREATED,
            name="trilat security label",
            description="A security label (classification, dissemination controls, REL TO, "
            "EYES ONLY and DISPLAY ONLY lists, originating nation) on a marking definition, "
            "with its canonical CAPCO-style banner and portion marks.",
            schema="trilat docs/stix-marking-extension.md: property-extension members "
            "policy, classification, rel_to, dissem, eyes_only, display_only, owner, "
            "banner, portion.",
            version="1.0.0",
            extension_types=["property-extension"],
        )
    )


def label_extension_definition() -> dict[str, Any]:
    """The ``extension-definition`` object of the trilat security-label extension."""
    return copy.deepcopy(_extension_definition())


# --- label → markings ------------------------------------------------------------------------


def _controls(label: Label) -> Label:
    """The part of *label* the label marking carries: everything but the TLP."""
    return replace(label, tlp=None)


def _label_marking_id(label: Label) -> str:
    controls = _controls(label)
    derived = _derived_uuid("label", format_banner(controls), controls.owner or "")
    return f"marking-definition--{derived}"


def _statement_marking_id(banner: str) -> str:
    return f"marking-definition--{_derived_uuid('statement', banner)}"


@lru_cache(maxsize=4096)
def _label_markings(label: Label) -> tuple[dict[str, Any], ...]:
    controls = _controls(label)
    banner = format_banner(controls)
    extension: dict[str, Any] = {
        "extension_type": "property-extension",
        "policy": _POLICY,
        "classification": controls.classification.banner,
        "banner": banner,
        "portion": format_portion(controls),
    }
    for member in _LIST_MEMBERS:
        values = getattr(controls, member)
        if values:
            extension[member] = _ordered(member, values)
    if controls.owner is not None:
        extension["owner"] = controls.owner
    label_marking = stix2.MarkingDefinition(
        id=_label_marking_id(label),
        created=_TRILAT_CREATED,
        created_by_ref=TRILAT_IDENTITY_ID,
        name=banner,
        extensions={LABEL_EXTENSION_ID: extension},
    )
    full_banner = format_banner(label)
    statement = stix2.MarkingDefinition(
        id=_statement_marking_id(full_banner),
        created=_TRILAT_CREATED,
        created_by_ref=TRILAT_IDENTITY_ID,
        definition_type="statement",
        definition=stix2.StatementMarking(statement=full_banner),
    )
    markings = [_plain(label_marking), _plain(statement)]
    if label.tlp is not None:
        markings.append(_tlp_marking(label.tlp))
    return tuple(markings)


def _ordered(member: str, values: frozenset[str]) -> list[str]:
    if member == "dissem":  # in banner order (SPEC §2)
        return sorted(values, key=lambda v: (_CONTROL_RANK.get(v, len(_CONTROL_RANK)), v))
    return ordered_codes(values)


def label_markings(label: Label) -> list[dict[str, Any]]:
    """The marking definitions that express *label*: label, statement, then TLP if any."""
    return copy.deepcopy(list(_label_markings(label)))


def marking_refs(label: Label) -> list[str]:
    """The ids to put in ``object_marking_refs`` for *label*."""
    return [marking["id"] for marking in _label_markings(label)]


def mark(obj: Mapping[str, Any], label: Label) -> dict[str, Any]:
    """A copy of the STIX object *obj* marked with *label* at object level.

    Existing ``object_marking_refs`` and ``granular_markings`` are replaced: the label
    given is the whole truth about the object (it is the item's roll-up label).
    """
    marked = {key: copy.deepcopy(value) for key, value in obj.items()}
    marked.pop("granular_markings", None)
    marked["object_marking_refs"] = marking_refs(label)
    return marked


# --- markings → label ------------------------------------------------------------------------


def _fail(reference: str, reason: str) -> DecodeError:
    return DecodeError(f"STIX marking {reference}: {reason}")


def _tlp_of(reference: str, definition: Mapping[str, Any] | None) -> Tlp | None:
    """The TLP a marking stands for, or None if it is not a TLP marking."""
    if reference in TLP1_MARKING_IDS:
        return TLP1_MARKING_IDS[reference]
    for tlp, marking_id in TLP_MARKING_IDS.items():
        if reference == marking_id:
            if definition is not None:
                extension = (definition.get("extensions") or {}).get(TLP_EXTENSION_ID)
                wanted = next(n for n, value in _TLP_NAMES.items() if value is tlp)
                if not isinstance(extension, Mapping) or extension.get("tlp_2_0") != wanted:
                    raise _fail(reference, f"does not define {tlp} as TLP 2.0 does")
            return tlp
    return None


def _label_from_extension(reference: str, definition: Mapping[str, Any]) -> Label:
    extension = definition["extensions"][LABEL_EXTENSION_ID]
    if not isinstance(extension, Mapping):
        raise _fail(reference, "the label extension is not an object")
    unknown = sorted(set(extension) - _EXTENSION_MEMBERS)
    if unknown:
        raise _fail(reference, f"unknown label extension member {unknown[0]!r}")
    if extension.get("extension_type") != "property-extension":
        raise _fail(reference, "the label extension must be a property-extension")
    if extension.get("policy", _POLICY) != _POLICY:
        raise _fail(reference, f"unknown label policy {extension.get('policy')!r}")
    banner, owner = extension.get("banner"), extension.get("owner")
    if not isinstance(banner, str):
        raise _fail(reference, "the label extension has no banner")
    if owner is not None and not isinstance(owner, str):
        raise _fail(reference, "the label owner is not a string")
    try:
        label = parse_label(banner, owner=owner)
    except LabelError as exc:
        raise _fail(reference, f"bad banner: {exc}") from exc
    if label.tlp is not None:
        raise _fail(reference, "a TLP belongs in a TLP marking, not in the label marking")
    expected = _label_markings(label)[0]["extensions"][LABEL_EXTENSION_ID]
    if dict(extension) != expected:
        raise _fail(reference, "structured members do not match the banner")
    if reference != _label_marking_id(label):
        raise _fail(reference, "id does not match the label it carries")
    return label


def _resolve(reference: object, definitions: Mapping[str, Mapping[str, Any]]) -> Label | str | Tlp:
    """A label marking's label, a TLP, or a statement marking's text."""
    if not isinstance(reference, str) or _STIX_ID.fullmatch(reference) is None:
        raise _fail(repr(reference)[:80], "not a STIX identifier")
    if not reference.startswith("marking-definition--"):
        raise _fail(reference, "is not a marking-definition")
    definition = definitions.get(reference)
    tlp = _tlp_of(reference, definition)
    if tlp is not None:
        return tlp
    if definition is None:
        raise _fail(reference, "its definition is not given (unknown markings are refused)")
    if definition.get("id") != reference or definition.get("type") != "marking-definition":
        raise _fail(reference, "the definition given has another id or type")
    extensions = definition.get("extensions") or {}
    if LABEL_EXTENSION_ID in extensions:
        if set(extensions) != {LABEL_EXTENSION_ID} or "definition_type" in definition:
            raise _fail(reference, "a label marking carries nothing but the label extension")
        return _label_from_extension(reference, definition)
    if definition.get("definition_type") == "statement" and not extensions:
        statement = (definition.get("definition") or {}).get("statement")
        if isinstance(statement, str) and reference == _statement_marking_id(statement):
            return statement
    raise _fail(reference, "unknown marking (only trilat labels and TLP are understood)")


def _portion(parts: Sequence[Label | str | Tlp], owner: str | None) -> tuple[Label, list[str]]:
    """Combine what one set of marking refs says into one label, and the statements seen."""
    labels = [part for part in parts if isinstance(part, Label)]
    tlps = [part for part in parts if isinstance(part, Tlp)]
    statements = [part for part in parts if isinstance(part, str) and not isinstance(part, Tlp)]
    if not labels and not tlps:
        raise DecodeError("STIX markings: a statement alone does not make a label")
    if labels:
        base = labels[0] if len(labels) == 1 else roll_up(labels)
    else:
        base = Label(Classification.UNCLASSIFIED, owner=owner)
    if tlps:
        tlp = max(tlps, key=list(TLP_MARKING_IDS).index)  # the most restrictive
        classified = base.classification is not Classification.UNCLASSIFIED
        # TLP:CLEAR (public) never sits on classified material; the classification governs
        base = replace(base, tlp=None if classified and tlp is Tlp.CLEAR else tlp)
    return base, statements


def label_from_refs(
    references: Iterable[str], definitions: Mapping[str, Mapping[str, Any]]
) -> Label:
    """The label that a list of ``object_marking_refs`` expresses; fail closed."""
    parts = [_resolve(reference, definitions) for reference in references]
    if not parts:
        raise DecodeError("STIX object has no object-level marking (unmarked data is refused)")
    label, statements = _portion(parts, None)
    _check_statements(statements, [label])
    return label


def _check_statements(statements: Iterable[str], labels: Sequence[Label]) -> None:
    banners = {format_banner(label) for label in labels}
    for statement in statements:
        if statement not in banners:
            raise DecodeError(
                f"STIX statement marking {statement[:80]!r} matches no label on the object"
            )


def _definitions(
    definitions: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]],
) -> Mapping[str, Mapping[str, Any]]:
    if isinstance(definitions, Mapping):
        return definitions
    found: dict[str, Mapping[str, Any]] = {}
    for obj in definitions:
        if obj.get("type") == "marking-definition" and isinstance(obj.get("id"), str):
            found[obj["id"]] = obj
    return found


def label_of(
    obj: Mapping[str, Any],
    definitions: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]],
) -> Label:
    """The label of a STIX object: its object-level markings rolled up with its granular ones.

    *definitions* maps marking ids to marking-definition objects (or is the objects of the
    bundle). Raises DecodeError for an unmarked object or any marking not understood.
    """
    table = _definitions(definitions)
    refs = obj.get("object_marking_refs") or []
    if not isinstance(refs, list):
        raise DecodeError("STIX object_marking_refs is not a list")
    object_parts = [_resolve(reference, table) for reference in refs]
    if not object_parts:
        raise DecodeError(
            f"STIX object {str(obj.get('id'))[:80]} has no object-level marking "
            "(unmarked data is refused)"
        )
    object_label, statements = _portion(object_parts, None)
    portions = [object_label]
    granular = obj.get("granular_markings") or []
    if not isinstance(granular, list):
        raise DecodeError("STIX granular_markings is not a list")
    by_selectors: dict[tuple[str, ...], list[Label | str | Tlp]] = {}
    for position, marking in enumerate(granular):
        if not isinstance(marking, Mapping) or "lang" in marking:
            raise DecodeError(f"STIX granular_markings[{position}]: only marking_ref is understood")
        selectors = marking.get("selectors")
        if not isinstance(selectors, list) or not selectors:
            raise DecodeError(f"STIX granular_markings[{position}]: selectors missing")
        part = _resolve(marking.get("marking_ref"), table)
        for selector in selectors:
            by_selectors.setdefault((str(selector),), []).append(part)
    for parts in by_selectors.values():
        portion, seen = _portion(parts, object_label.owner)
        portions.append(portion)
        statements.extend(seen)
    _check_statements(statements, portions)
    if len(portions) == 1:
        return object_label
    rolled = roll_up(portions)
    owners = {portion.owner for portion in portions if portion.owner is not None}
    if rolled.owner is None and len(owners) == 1:
        rolled = replace(rolled, owner=owners.pop())
    return rolled


# --- envelopes and items ----------------------------------------------------------------------


def envelope_to_stix(envelope: Envelope) -> list[dict[str, Any]]:
    """The STIX object of an ``indicator`` envelope, marked with its label, with the
    marking definitions it references (the object first). The caller has already released
    the envelope to its destination; this only translates."""
    if envelope.kind != "indicator":
        raise DecodeError(f"only indicator items map to STIX objects, not {envelope.kind!r}")
    body = _thaw(envelope.body)
    if body.get("spec_version") != "2.1" or not isinstance(body.get("type"), str):
        raise DecodeError("indicator body is not a STIX 2.1 object")
    return [mark(body, envelope.label), *label_markings(envelope.label)]


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(element) for key, element in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(element) for element in value]
    return value


def stix_bundle(envelopes: Iterable[Envelope], *, bundle_id: str | None = None) -> dict[str, Any]:
    """A STIX 2.1 bundle of indicator envelopes with every marking definition they need,
    once each, plus the trilat identity and extension definition."""
    objects: list[dict[str, Any]] = [trilat_identity(), label_extension_definition()]
    seen: set[str] = {TRILAT_IDENTITY_ID, LABEL_EXTENSION_ID}
    ids: list[str] = []
    for envelope in envelopes:
        for obj in envelope_to_stix(envelope):
            if obj["id"] not in seen:
                seen.add(obj["id"])
                objects.append(obj)
        ids.append(envelope.id)
    if bundle_id is None:
        bundle_id = f"bundle--{_derived_uuid('bundle', *ids)}"
    return {"type": "bundle", "id": bundle_id, "objects": objects}


_CHECKED_PATTERN_TYPE: Final = "x-trilat-pattern-checked"
_pattern_error: Final = pattern_error  # cached by pattern text and version


def check_stix(obj: Mapping[str, Any]) -> None:
    """Raise DecodeError unless *obj* is a valid STIX 2.1 object (``stix2``, custom ``x_``
    properties allowed), naming the object and the reason.

    Exactly the checks of ``stix2.parse``. An object of a common type in plain form that
    ``_stix_check.certainly_valid`` vouches for is accepted without it (that check says
    "valid" only where ``stix2`` does); any other object goes through ``stix2.parse``, the
    pattern of a ``stix`` indicator checked through a cache keyed by its text and version.
    """
    if obj.get("spec_version") != "2.1":
        raise DecodeError("STIX object is not spec_version 2.1")
    identifier = obj.get("id")
    if not isinstance(identifier, str) or _STIX_ID.fullmatch(identifier) is None:
        raise DecodeError(f"STIX object id is not a STIX identifier: {str(identifier)[:80]!r}")
    if not identifier.startswith(f"{obj.get('type')}--"):
        raise DecodeError(f"STIX object id {identifier[:80]!r} does not match its type")
    if certainly_valid(obj):
        return
    thawed = _thaw(obj)
    pattern, version = thawed.get("pattern"), thawed.get("pattern_version") or "2.1"
    if (
        thawed.get("type") == "indicator"
        and thawed.get("pattern_type") == "stix"
        and isinstance(pattern, str)
        and pattern
        and isinstance(version, str)
    ):
        try:
            error = _pattern_error(pattern, version)
        except (ValueError, TypeError) as exc:
            error = str(exc) or type(exc).__name__
        if error is not None:
            raise DecodeError(
                f"STIX object {identifier[:80]} is not valid STIX 2.1: "
                f"pattern {pattern[:80]!r}: {error}"
            )
        # every other property still goes through stix2; only the pattern is done
        thawed["pattern_version"] = version
        thawed["pattern_type"] = _CHECKED_PATTERN_TYPE
    try:
        stix2.parse(thawed, allow_custom=True)
    except Exception as exc:  # stix2 raises AttributeError and others on some bad shapes
        if isinstance(exc, (RecursionError, MemoryError)):
            raise
        raise DecodeError(f"STIX object {identifier[:80]} is not valid STIX 2.1: {exc}") from exc


_MARKING_KEYS: Final = frozenset({"object_marking_refs", "granular_markings"})
_SHARED_LABELS: Final[dict[tuple[Any, ...], Label]] = {}
_SHARED_CAPACITY: Final = 1024


def _fingerprint(definition: Mapping[str, Any] | None) -> str | None:
    """The content of a marking definition as text (None when the bundle gives none)."""
    if definition is None:
        return None
    return json.dumps(_thaw(definition), sort_keys=True, ensure_ascii=False)


@lru_cache(maxsize=4096)
def _owned(label: Label, owner: str) -> Label:
    return parse_label(format_banner(label), owner=owner)


class MarkingReader:
    """``label_of`` for the objects of one bundle or envelope, reading each distinct set of
    object-level markings once.

    An object without granular markings whose ``object_marking_refs`` are the same as an
    earlier object's gets the label read for that one; the same references with the same
    definitions (compared by content) reuse a label read for an earlier reader. What is cached
    is a function of the references and their definitions alone, and only labels are cached:
    an object whose markings are refused is read, and refused, on its own.
    """

    def __init__(
        self, definitions: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]]
    ) -> None:
        self.definitions = _definitions(definitions)
        self._labels: dict[tuple[str, ...], Label] = {}

    def label(self, obj: Mapping[str, Any]) -> Label:
        """``label_of(obj, definitions)``."""
        refs = obj.get("object_marking_refs")
        if obj.get("granular_markings") or type(refs) is not list or not refs:
            return label_of(obj, self.definitions)
        if not all(type(reference) is str for reference in refs):
            return label_of(obj, self.definitions)
        key = tuple(refs)
        found = self._labels.get(key)
        if found is not None:
            return found
        try:
            shared: tuple[Any, ...] = (
                key,
                tuple(_fingerprint(self.definitions.get(r)) for r in key),
            )
        except (TypeError, ValueError):  # a definition that is not JSON: read it every time
            return label_of(obj, self.definitions)
        found = _SHARED_LABELS.get(shared)
        if found is None:
            found = label_of(obj, self.definitions)
            if len(_SHARED_LABELS) >= _SHARED_CAPACITY:
                _SHARED_LABELS.clear()
            _SHARED_LABELS[shared] = found
        self._labels[key] = found
        return found


def item_from_stix(
    obj: Mapping[str, Any],
    definitions: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]] | MarkingReader,
    *,
    topics: tuple[str, ...] = ("cyber",),
    recipients: tuple[str, ...] = (),
    checked: bool = False,
    owner: str | None = None,
) -> Item:
    """An ``indicator`` item for a STIX 2.1 object, labelled from its markings (fail closed).

    The object must be valid STIX 2.1 (``check_stix``; custom ``x_`` properties are kept);
    pass ``checked=True`` only for an object that ``check_stix`` has just accepted (a
    caller that validates in worker processes). The body is the object without its
    markings: the item's label replaces them, as the roll-up of object-level and granular
    markings. *definitions* may be a ``MarkingReader`` shared by the objects of one bundle.

    The label's owner, if the markings name one, must be the sealing node's nation: with
    *owner* (that nation) given, another owner is refused here (DecodeError) and the label
    is owned by *owner*; without it, ``seal`` checks it.
    """
    if not checked:
        check_stix(obj)
    if isinstance(definitions, MarkingReader):
        label = definitions.label(obj)
    else:
        label = label_of(obj, definitions)
    if owner is not None:
        if label.owner is not None and label.owner != owner:
            raise DecodeError(
                f"STIX markings: the label is owned by {label.owner}; "
                f"this node originates only {owner}"
            )
        label = _owned(label, owner)
    body = {key: value for key, value in obj.items() if key not in _MARKING_KEYS}
    return Item(kind="indicator", label=label, topics=topics, body=body, recipients=recipients)


def check_stix_all(objects: Sequence[Mapping[str, Any]]) -> list[str | None]:
    """``check_stix`` of each object: None where it is valid, else the reason. Module-level
    and plain-data in and out, so that worker processes can run it on chunks."""
    errors: list[str | None] = []
    for obj in objects:
        try:
            check_stix(obj)
        except DecodeError as exc:
            errors.append(str(exc))
        else:
            errors.append(None)
    return errors
