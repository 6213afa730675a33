"""RFC 8785 JSON Canonicalization Scheme: the one encoding that is hashed and signed.

No IO. Deterministic. Accepts only JSON types (mappings with str keys, lists and tuples,
str, int, float, bool, None); anything else raises TypeError so nothing unsignable slips
in. Values JSON cannot carry faithfully raise ValueError: NaN and infinities, lone
surrogates, and integers that no IEEE 754 double stands for (RFC 8785 numbers are
doubles, so ``2**53 + 1`` would verify differently elsewhere). Keys sort by UTF-16 code
units; numbers print as ECMAScript's ``Number.prototype.toString``.

Most values take a fast path through the C ``json`` encoder: a pre-scan proves the value is
one whose ``json.dumps(sort_keys=True, ensure_ascii=False)`` text is already RFC 8785 (plain
dicts, lists and tuples; str keys without astral-plane characters, so code-point order is
UTF-16 order; ints within ±2**53; floats whose ``repr`` is the ECMAScript form, integral
ones rewritten as ints). Both encoders escape exactly ``"``, ``\\`` and U+0000..U+001F, with
the same short forms and lower-case ``\\u00xx``. Anything else takes the full encoder.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

_ESCAPES: dict[int, str] = {code: f"\\u{code:04x}" for code in range(0x20)}
_ESCAPES.update(
    {
        ord('"'): '\\"',
        ord("\\"): "\\\\",
        ord("\b"): "\\b",
        ord("\f"): "\\f",
        ord("\n"): "\\n",
        ord("\r"): "\\r",
        ord("\t"): "\\t",
    }
)
_SPECIAL = re.compile('[\x00-\x1f"\\\\\ud800-\udfff]')
_SURROGATE = re.compile("[\ud800-\udfff]")
_EXACT_INTEGER = 2**53


def _string(value: str) -> str:
    if _SPECIAL.search(value) is None:  # the common case: nothing to escape
        return f'"{value}"'
    if _SURROGATE.search(value):
        raise ValueError("a lone surrogate is not Unicode text and cannot be canonicalized")
    return f'"{value.translate(_ESCAPES)}"'


def _integer(value: int) -> str:
    """An integer as the IEEE 754 double it denotes (RFC 8785 numbers are doubles).

    Beyond ±2**53 an integer is accepted only if no information is lost: a double holds it
    exactly (``2**60``), or it is itself the canonical text of its double (what a parser
    returns for ``50460787963956990``). Others, such as ``2**53 + 1``, raise ValueError.
    """
    if -_EXACT_INTEGER <= value <= _EXACT_INTEGER:
        return str(int(value))
    try:
        as_float = float(value)
    except OverflowError as exc:
        raise ValueError("integer is beyond the IEEE 754 double range") from exc
    text = _number(as_float)
    if int(as_float) != value and text != str(int(value)):
        raise ValueError("integer is not exactly representable as an IEEE 754 double")
    return text


def _number(value: float) -> str:
    """ECMAScript Number.prototype.toString for finite doubles (RFC 8785 §3.2.2.3)."""
    if not math.isfinite(value):
        raise ValueError("NaN and Infinity cannot be canonicalized")
    magnitude = abs(value)
    if magnitude < 1e16:
        # Fast paths, both exact: an integral double below 1e16 has at most 16 digits and
        # no shorter spelling, so its integer text is ECMAScript's; and from 1e-4 up, repr
        # writes the shortest round-trip digits without an exponent, as ECMAScript does.
        if value.is_integer():
            return str(int(value))  # also -0.0 → "0"
        if magnitude >= 1e-4:
            return repr(value)
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip; split it into digits × 10**exponent.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    point = len(int_part) + int(exp_text or 0)  # decimal point position relative to int_part
    point -= len(int_part + frac_part) - len((int_part + frac_part).lstrip("0"))
    digits = digits.rstrip("0") or "0"
    k, n = len(digits), point  # value = 0.DIGITS × 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    exponent = n - 1
    tail = ("." + digits[1:]) if k > 1 else ""
    return f"{sign}{digits[0]}{tail}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


def _keys(value: Mapping[Any, Any]) -> list[str]:
    """The keys in RFC 8785 §3.2.3 order: by their UTF-16 code units."""
    keys = list(value)
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"object key must be str, not {type(key).__name__}")
    if all(key.isascii() for key in keys):
        return sorted(keys)  # code point order is UTF-16 order for ASCII
    for key in keys:
        if _SURROGATE.search(key):
            raise ValueError("a lone surrogate is not Unicode text and cannot be canonicalized")
    return sorted(keys, key=lambda key: key.encode("utf-16-be"))


def _encode(value: Any, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(_string(value))
    elif kind is dict or (kind is not list and isinstance(value, Mapping)):
        out.append("{")
        for i, key in enumerate(_keys(value)):
            if i:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif kind is list or kind is tuple:
        out.append("[")
        for i, element in enumerate(value):
            if i:
                out.append(",")
            _encode(element, out)
        out.append("]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(_integer(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, list | tuple):
        _encode(list(value), out)
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


class _NotFast(Exception):
    """The value needs the full encoder (raised by the pre-scan, never escapes)."""


_FAST_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False,
    allow_nan=False,
    sort_keys=True,
    separators=(",", ":"),
    check_circular=False,
)
_BMP_END: Final = "\U00010000"


def _fast_value(value: Any) -> Any:
    """*value* as the C encoder must see it to print RFC 8785, or raise _NotFast.

    Returns *value* itself when nothing needs rewriting, otherwise a copy in which integral
    floats are ints (``7600.0`` prints ``7600`` in ECMAScript).
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -_EXACT_INTEGER <= value <= _EXACT_INTEGER:
            return value
        raise _NotFast
    if kind is float:
        magnitude = abs(value)
        if magnitude < 1e16 and value.is_integer():
            return int(value)
        if 1e-4 <= magnitude < 1e16:
            return value  # repr is ECMAScript's form here (see _number)
        raise _NotFast
    if kind is dict:
        changed: dict[str, Any] | None = None
        for key, element in value.items():
            if type(key) is not str or (not key.isascii() and max(key) >= _BMP_END):
                raise _NotFast  # astral-plane keys sort differently by UTF-16 code units
            ready = _fast_value(element)
            if ready is not element:
                if changed is None:
                    changed = dict(value)
                changed[key] = ready
        return value if changed is None else changed
    if kind is list or kind is tuple:
        copied: list[Any] | None = None
        for i, element in enumerate(value):
            ready = _fast_value(element)
            if ready is not element:
                if copied is None:
                    copied = list(value)
                copied[i] = ready
        return value if copied is None else copied
    raise _NotFast


def canonical_json(value: Any) -> bytes:
    """Encode *value* as RFC 8785 canonical JSON, UTF-8."""
    try:
        text = _FAST_ENCODER.encode(_fast_value(value))
        return text.encode("utf-8")  # a lone surrogate fails here and takes the full path
    except (_NotFast, UnicodeEncodeError, RecursionError):
        return _full_canonical_json(value)


def _full_canonical_json(value: Any) -> bytes:
    """The pure-Python encoder every value can take (the reference for the fast path)."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")
