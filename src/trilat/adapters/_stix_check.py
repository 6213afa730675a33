"""A fast, strict check of the common STIX 2.1 object types; ``stix2`` stays the judge.

``certainly_valid(obj)`` is True only when *obj* is one of the types below, written in the
plain form the STIX 2.1 specification describes, and every one of its properties is
understood and valid: the properties of its type and the common ones, with their JSON types
(strings, booleans, integers in range, non-empty lists), identifiers
``<type>--<RFC 4122 UUID>`` in lower case and of the types a reference may name,
timestamps ``YYYY-MM-DDTHH:MM:SS[.s{1,6}]Z`` that are real instants, the order rules
(``modified >= created``, ``valid_until > valid_from``, ``last_seen >= first_seen``,
``stop_time > start_time``, ``last_observed >= first_observed``), custom properties named
``x_...`` and, for a ``stix`` indicator, its pattern (the common shape by the small parser
below, any other by the ANTLR validator, cached by text).

Anything else — another type, ``extensions``, ``granular_markings``, hashes in an external
reference, a string where a list belongs, a null or empty list, an unknown property, any
value it cannot place — gives False, and the caller runs ``stix2.parse``, which decides
and words the error. So this module never refuses an object by itself: it may only say
"valid" where ``stix2`` says valid too (``tests/stix/test_stix_fast_check.py`` checks that on
generated, mutated and published objects), and it is stricter than ``stix2`` in places
(``stix2`` turns ``"name": 5`` into ``"5"``; this check leaves such objects to it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from stix2patterns.validator import run_validator  # type: ignore[import-untyped]

__all__ = [
    "COVERED_TYPES",
    "SCO_TYPES",
    "SDO_TYPES",
    "certainly_valid",
    "common_pattern_valid",
    "instant",
    "pattern_error",
]

_PATTERN_CACHE: Final = 8192


@lru_cache(maxsize=_PATTERN_CACHE)
def pattern_error(pattern: str, version: str) -> str | None:
    """The first error of a STIX pattern (None when valid), cached by pattern text: the
    ANTLR parse is most of the cost of validating an indicator, and feeds repeat patterns."""
    errors = run_validator(pattern, version)
    return str(errors[0]) if errors else None


# --- patterns ----------------------------------------------------------------------------------
#
# The common shape of a STIX pattern, checked without the ANTLR parser (whose parse costs
# about half a millisecond): observation expressions ``[...]`` joined by AND, OR and
# FOLLOWEDBY, with parentheses; inside, comparisons ``path = literal`` or ``path != literal``
# (NOT allowed) joined by AND and OR, with parentheses; a path is ``type:property`` followed by
# ``.property``, ``.'quoted'``, ``[n]`` or ``[*]``; a literal is a quoted string (escapes
# ``\'`` and ``\\`` only) or a non-negative integer; tokens are separated by spaces only.
# Qualifiers, other operators and literals, comments, other whitespace, and any path that
# might name ``hashes`` (whose values the validator checks) are left to the ANTLR validator.

_TOKEN: Final = re.compile(
    r" *(?:(?P<word>[A-Za-z_][A-Za-z0-9_-]*)|(?P<string>'(?:[^'\\]|\\['\\])*')"
    r"|(?P<number>0|[1-9][0-9]*)|(?P<symbol>!=|[=\[\]():.*]))"
)
_KEYWORDS: Final = frozenset(
    {
        "AND",
        "OR",
        "NOT",
        "FOLLOWEDBY",
        "LIKE",
        "MATCHES",
        "ISSUPERSET",
        "ISSUBSET",
        "EXISTS",
        "LAST",
        "IN",
        "START",
        "STOP",
        "SECONDS",
        "true",
        "false",
        "WITHIN",
        "REPEATS",
        "TIMES",
    }
)
_PROPERTY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_AFTER_WORD: Final = frozenset(" =!:.[]()")
_AFTER_NUMBER: Final = frozenset(" =!:[]()")


def _tokens(pattern: str) -> list[tuple[str, str]] | None:
    """(kind, text) tokens of *pattern*, or None if it leaves the common shape."""
    tokens: list[tuple[str, str]] = []
    position, end = 0, len(pattern)
    match_at = _TOKEN.match
    while True:
        while position < end and pattern[position] == " ":
            position += 1
        if position == end:
            return tokens
        found = match_at(pattern, position)
        if found is None:
            return None
        kind = found.lastgroup
        text = found.group(kind) if kind is not None else None
        if kind is None or text is None:
            return None
        position = found.end()
        follower = pattern[position] if position < end else " "
        if kind == "word":
            if follower not in _AFTER_WORD:
                return None  # h'..', t'..' and b'..' are literals of their own
            if text in _KEYWORDS:
                kind = "keyword"
        elif kind == "number" and follower not in _AFTER_NUMBER:
            return None  # 1.5, 01: other literals
        tokens.append((kind, text))


class _Parser:
    """Recursive descent over the tokens of the common shape; ``ok`` says it all matched."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def _take(self, kind: str, text: str | None = None) -> bool:
        token = self._peek()
        if token[0] == kind and (text is None or token[1] == text):
            self.at += 1
            return True
        return False

    def ok(self) -> bool:
        return self._observations(0) and self._peek()[0] == "end"

    def _observations(self, depth: int) -> bool:
        if depth > 32:
            return False
        while True:
            if not self._observation(depth):
                return False
            if not (
                self._take("keyword", "AND")
                or self._take("keyword", "OR")
                or self._take("keyword", "FOLLOWEDBY")
            ):
                return True

    def _observation(self, depth: int) -> bool:
        if self._take("symbol", "("):
            return self._observations(depth + 1) and self._take("symbol", ")")
        return self._take("symbol", "[") and self._comparison(depth) and self._take("symbol", "]")

    def _comparison(self, depth: int) -> bool:
        if depth > 32:
            return False
        while True:
            if self._take("symbol", "("):
                if not (self._comparison(depth + 1) and self._take("symbol", ")")):
                    return False
            elif not self._test():
                return False
            if not (self._take("keyword", "AND") or self._take("keyword", "OR")):
                return True

    def _test(self) -> bool:
        if not (self._take("word") and self._take("symbol", ":") and self._property()):
            return False
        while True:
            if self._take("symbol", "."):
                if not (self._property() or self._take("string")):
                    return False
            elif self._take("symbol", "["):
                if not (
                    (self._take("number") or self._take("symbol", "*"))
                    and self._take("symbol", "]")
                ):
                    return False
            else:
                break
        self._take("keyword", "NOT")
        if not (self._take("symbol", "=") or self._take("symbol", "!=")):
            return False
        return self._take("string") or self._take("number")

    def _property(self) -> bool:
        kind, text = self._peek()
        if kind == "word" and _PROPERTY.fullmatch(text) is not None:
            self.at += 1
            return True
        return kind == "string" and self._take("string")


# The commonest case of that shape, without parentheses, as one regular expression (tried
# first; the tokens and the parser above take what it does not match).
_STRING_LITERAL: Final = r"'(?:[^'\\]|\\['\\])*'"
_KEYWORD: Final = "(?:" + "|".join(sorted(_KEYWORDS)) + ")"
_OBJECT_TYPE: Final = rf"(?!{_KEYWORD}:)[A-Za-z_][A-Za-z0-9_-]*"
_NAME: Final = rf"(?!{_KEYWORD}(?![A-Za-z0-9_]))[A-Za-z_][A-Za-z0-9_]*"
_PATH: Final = (
    rf"{_OBJECT_TYPE}:(?:{_NAME}|{_STRING_LITERAL})"
    rf"(?:\.{_NAME}|\.{_STRING_LITERAL}|\[(?:0|[1-9][0-9]*|\*)\])*"
)
_COMPARISON: Final = rf"{_PATH} *(?:NOT +)?!?= *(?:{_STRING_LITERAL}|0|[1-9][0-9]*)"
_OBSERVATION: Final = rf"\[ *{_COMPARISON}(?: +(?:AND|OR) +{_COMPARISON})* *\]"
_FLAT: Final = re.compile(rf" *{_OBSERVATION}(?: *(?:AND|OR|FOLLOWEDBY) *{_OBSERVATION})* *")


def common_pattern_valid(pattern: str) -> bool:
    """True only if *pattern* has the common shape above and is valid STIX 2.1 pattern
    syntax; False means "ask the validator"."""
    if "hashes" in pattern or not pattern.isprintable():
        return False
    if _FLAT.fullmatch(pattern) is not None:
        return True
    tokens = _tokens(pattern)
    return tokens is not None and _Parser(tokens).ok()


# --- types ---------------------------------------------------------------------------------------

SDO_TYPES: Final = frozenset(
    {
        "attack-pattern",
        "campaign",
        "course-of-action",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "location",
        "malware",
        "malware-analysis",
        "note",
        "observed-data",
        "opinion",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
    }
)
"""The STIX 2.1 domain object types (§4)."""

SCO_TYPES: Final = frozenset(
    {
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    }
)
"""The STIX 2.1 cyber-observable object types (§6)."""

_SRO_TYPES: Final = frozenset({"relationship", "sighting"})

_UUID: Final = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_REFERENCE: Final = re.compile(rf"([a-z][a-z0-9]*(?:-[a-z0-9]+)*)--{_UUID}")
_TIMESTAMP: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z", re.ASCII
)
_CUSTOM: Final = re.compile(r"x_[a-z0-9_]{1,248}", re.ASCII)
_MAX_COUNT: Final = 999_999_999
_INSTANTS: Final = 4096

Check = Callable[[Any], bool]


# --- values ----------------------------------------------------------------------------------


def _string(value: Any) -> bool:
    return type(value) is str


def _boolean(value: Any) -> bool:
    return type(value) is bool


def _integer(low: int, high: int) -> Check:
    def check(value: Any) -> bool:
        return type(value) is int and low <= value <= high

    return check


_instants: dict[str, datetime] = {}


def instant(value: Any) -> datetime | None:
    """The UTC instant a STIX timestamp names, or None unless it is in the strict form
    (``Z``, at most microsecond digits) and a real date and time."""
    if type(value) is not str:
        return None
    found = _instants.get(value)
    if found is not None:
        return found
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        found = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int(fraction.ljust(6, "0")) if fraction else 0,
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if len(_instants) >= _INSTANTS:
        _instants.clear()
    _instants[value] = found
    return found


def _timestamp(value: Any) -> bool:
    return instant(value) is not None


def _list(element: Check) -> Check:
    def check(value: Any) -> bool:
        kind = type(value)
        if (kind is not list and kind is not tuple) or not value:
            return False
        return all(element(item) for item in value)

    return check


def _reference(types: frozenset[str]) -> Check:
    def check(value: Any) -> bool:
        if type(value) is not str:
            return False
        match = _REFERENCE.fullmatch(value)
        return match is not None and match.group(1) in types

    return check


def _members(
    value: Any, required: frozenset[str], checks: Mapping[str, Check]
) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping) or not required <= value.keys():
        return None
    for key, element in value.items():
        check = checks.get(key)
        if check is None or not check(element):
            return None
    return value


_KILL_CHAIN_PHASE: Final[Mapping[str, Check]] = {"kill_chain_name": _string, "phase_name": _string}
_EXTERNAL_REFERENCE: Final[Mapping[str, Check]] = {
    "source_name": _string,
    "description": _string,
    "url": _string,
    "external_id": _string,
}


def _kill_chain_phase(value: Any) -> bool:
    return _members(value, frozenset(_KILL_CHAIN_PHASE), _KILL_CHAIN_PHASE) is not None


def _external_reference(value: Any) -> bool:
    found = _members(value, frozenset({"source_name"}), _EXTERNAL_REFERENCE)
    return found is not None and not {"description", "url", "external_id"}.isdisjoint(found)


_STRINGS: Final = _list(_string)
_ANY_OBJECT: Final = _reference(SDO_TYPES | SCO_TYPES | _SRO_TYPES)

_COMMON: Final[Mapping[str, Check]] = {
    "type": _string,
    "spec_version": _string,
    "id": _string,
    "created_by_ref": _reference(frozenset({"identity"})),
    "created": _timestamp,
    "modified": _timestamp,
    "revoked": _boolean,
    "labels": _STRINGS,
    "confidence": _integer(0, 100),
    "lang": _string,
    "external_references": _list(_external_reference),
    "object_marking_refs": _list(_reference(frozenset({"marking-definition"}))),
}


# --- types -------------------------------------------------------------------------------------


def _typed(**checks: Check) -> Mapping[str, Check]:
    return {**_COMMON, **checks}


_PROPERTIES: Final[Mapping[str, Mapping[str, Check]]] = {
    "indicator": _typed(
        name=_string,
        description=_string,
        indicator_types=_STRINGS,
        pattern=_string,
        pattern_type=_string,
        pattern_version=_string,
        valid_from=_timestamp,
        valid_until=_timestamp,
        kill_chain_phases=_list(_kill_chain_phase),
    ),
    "attack-pattern": _typed(
        name=_string,
        description=_string,
        aliases=_STRINGS,
        kill_chain_phases=_list(_kill_chain_phase),
    ),
    "identity": _typed(
        name=_string,
        description=_string,
        roles=_STRINGS,
        identity_class=_string,
        sectors=_STRINGS,
        contact_information=_string,
    ),
    "malware": _typed(
        name=_string,
        description=_string,
        malware_types=_STRINGS,
        is_family=_boolean,
        aliases=_STRINGS,
        kill_chain_phases=_list(_kill_chain_phase),
        first_seen=_timestamp,
        last_seen=_timestamp,
        operating_system_refs=_list(_reference(frozenset({"software"}))),
        architecture_execution_envs=_STRINGS,
        implementation_languages=_STRINGS,
        capabilities=_STRINGS,
        sample_refs=_list(_reference(frozenset({"artifact", "file"}))),
    ),
    "vulnerability": _typed(name=_string, description=_string),
    "note": _typed(
        abstract=_string,
        content=_string,
        authors=_STRINGS,
        object_refs=_list(_ANY_OBJECT),
    ),
    "report": _typed(
        name=_string,
        description=_string,
        report_types=_STRINGS,
        published=_timestamp,
        object_refs=_list(_ANY_OBJECT),
    ),
    "observed-data": _typed(
        first_observed=_timestamp,
        last_observed=_timestamp,
        number_observed=_integer(1, _MAX_COUNT),
        object_refs=_list(_reference(SCO_TYPES | _SRO_TYPES)),
    ),
    "relationship": _typed(
        relationship_type=_string,
        description=_string,
        source_ref=_reference(SDO_TYPES | SCO_TYPES),
        target_ref=_reference(SDO_TYPES | SCO_TYPES),
        start_time=_timestamp,
        stop_time=_timestamp,
    ),
    "sighting": _typed(
        description=_string,
        first_seen=_timestamp,
        last_seen=_timestamp,
        count=_integer(0, _MAX_COUNT),
        sighting_of_ref=_reference(SDO_TYPES),
        observed_data_refs=_list(_reference(frozenset({"observed-data"}))),
        where_sighted_refs=_list(_reference(frozenset({"identity", "location"}))),
        summary=_boolean,
    ),
}

_REQUIRED: Final[Mapping[str, frozenset[str]]] = {
    "indicator": frozenset({"pattern", "pattern_type"}),
    "attack-pattern": frozenset({"name"}),
    "identity": frozenset({"name"}),
    "malware": frozenset({"is_family"}),
    "vulnerability": frozenset({"name"}),
    "note": frozenset({"content", "object_refs"}),
    "report": frozenset({"name", "published", "object_refs"}),
    "observed-data": frozenset(
        {"first_observed", "last_observed", "number_observed", "object_refs"}
    ),
    "relationship": frozenset({"relationship_type", "source_ref", "target_ref"}),
    "sighting": frozenset({"sighting_of_ref"}),
}

COVERED_TYPES: Final = frozenset(_PROPERTIES)
"""The types ``certainly_valid`` can vouch for; every other type goes to ``stix2``."""

# (earlier, later, strictly later): the later instant, when both are given
_ORDER: Final[Mapping[str, tuple[tuple[str, str, bool], ...]]] = {
    "indicator": (("valid_from", "valid_until", True),),
    "malware": (("first_seen", "last_seen", False),),
    "observed-data": (("first_observed", "last_observed", False),),
    "relationship": (("start_time", "stop_time", True),),
    "sighting": (("first_seen", "last_seen", False),),
}


def _in_order(obj: Mapping[str, Any], earlier: str, later: str, strictly: bool) -> bool:
    first, second = obj.get(earlier), obj.get(later)
    if second is None:
        return True
    if first is None:
        return False  # stix2 may default the earlier one to the current time: let it decide
    start, end = instant(first), instant(second)
    if start is None or end is None:
        return False
    return end > start if strictly else end >= start


def _pattern_ok(obj: Mapping[str, Any]) -> bool:
    pattern = obj["pattern"]
    if not pattern:
        return False
    if obj["pattern_type"] != "stix":
        return True
    version = obj.get("pattern_version", "2.1")
    if version != "2.1":
        return False
    if common_pattern_valid(pattern):
        return True
    try:
        return pattern_error(pattern, version) is None
    except (ValueError, TypeError):
        return False


def certainly_valid(obj: Mapping[str, Any]) -> bool:
    """True only if *obj* is a valid STIX 2.1 object of a covered type in plain form (see the
    module docstring); False means "ask ``stix2``", not "invalid"."""
    kind = obj.get("type")
    properties = _PROPERTIES.get(kind) if type(kind) is str else None
    if properties is None or obj.get("spec_version") != "2.1":
        return False
    identifier = obj.get("id")
    if type(identifier) is not str:
        return False
    match = _REFERENCE.fullmatch(identifier)
    if match is None or match.group(1) != kind:
        return False
    if not _REQUIRED[kind] <= obj.keys():
        return False
    for key, value in obj.items():
        check = properties.get(key)
        if check is None:
            if type(key) is not str or _CUSTOM.fullmatch(key) is None or value is None:
                return False
        elif not check(value):
            return False
    created, modified = obj.get("created"), obj.get("modified")
    if created is None or modified is None:
        return False  # stix2 fills either in with the current time
    first, last = instant(created), instant(modified)
    if first is None or last is None or last < first:
        return False
    for earlier, later, strictly in _ORDER.get(kind, ()):
        if not _in_order(obj, earlier, later, strictly):
            return False
    if kind == "indicator":
        return _pattern_ok(obj)
    if kind == "malware" and obj["is_family"]:
        return "name" in obj
    return True
