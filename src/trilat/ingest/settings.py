"""The ``[ingest]`` section of ``trilat.toml``: feeds, CoT listeners and live analytics.

Read once at start-up from the raw table ``trilat.config`` keeps; every value is checked and a
bad one raises :class:`~trilat.config.ConfigError` naming the key (``ingest.ais[1].label``).
Unknown keys are refused (fail closed), and so is an input without a label: a feed's data is
never stored unmarked.

Example::

    [ingest]
    min_interval_s = 60          # per vessel / CoT uid: at most one stored track item a minute
    view = "USA"                 # whose claims airspace and EEZ checks follow (default: nation)
    maritime = true              # live engines (each on by default once [ingest] exists)
    airspace = true
    missile = true
    watchlist = "watch.json"     # optional: Watchlist.as_dict JSON (vessels and areas)
    max_vessels = 200000         # vessel chains and engine state kept (least recent forgotten)
    queue = 10000                # AIS items waiting for the writer (network feeds drop beyond)

    [[ingest.ais]]
    name = "commercial"
    source = "tcp"               # "file", "tcp" (client of a feed) or "udp" (listener)
    address = "127.0.0.1:10110"  # file: path = "…"
    label = "UNCLASSIFIED"
    topics = ["maritime.track"]

    [[ingest.cot]]
    name = "tak"
    listen = "127.0.0.1:8089"
    label = "SECRET//REL TO USA, JPN, KOR"
    tls_cert = "cot.pem"         # with tls_ca: clients present certificates, CN = user name
    tls_key = "cot.key"
    tls_ca = "ca.pem"
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from trilat.config import ConfigError
from trilat.core.errors import LabelError
from trilat.core.labels import Label, parse_label

DEFAULT_MIN_INTERVAL_S: Final = 60.0
"""Per-MMSI minimum interval between stored track items: a vessel reporting every 10 s makes
1,440 items a day rather than 8,640. Set ``min_interval_s = 0`` to store every report."""

DEFAULT_MAX_VESSELS: Final = 200_000
"""Vessels whose chain state is kept; the least recently heard is forgotten beyond this."""

_TOPIC: Final = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_SOURCE = "trilat.toml [ingest]"


@dataclass(frozen=True, slots=True)
class AisInput:
    """One AIS feed and the marking its data carries."""

    name: str
    source: Literal["file", "tcp", "udp"]
    label: Label
    topics: tuple[str, ...]
    path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    min_interval_s: float = DEFAULT_MIN_INTERVAL_S


@dataclass(frozen=True, slots=True)
class CotInput:
    """One CoT listener: address, the label of what its clients send, TLS material."""

    name: str
    host: str
    port: int
    label: Label
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    auth: Literal["certificate", "token"] = "certificate"


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """Everything the ingest runner starts with."""

    ais: tuple[AisInput, ...] = ()
    cot: tuple[CotInput, ...] = ()
    min_interval_s: float = DEFAULT_MIN_INTERVAL_S
    max_vessels: int = DEFAULT_MAX_VESSELS
    view: str | None = None
    maritime: bool = True
    airspace: bool = True
    missile: bool = True
    watchlist: Path | None = None
    queue: int = 10_000

    @property
    def empty(self) -> bool:
        return not self.ais and not self.cot


def _fail(key: str, reason: str) -> ConfigError:
    return ConfigError(f"ingest.{key}", _SOURCE, reason)


def _table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(key, "must be a table")
    return value


def _only(table: Mapping[str, Any], key: str, known: set[str]) -> None:
    for name in table:
        if name not in known:
            raise _fail(f"{key}.{name}", "unknown setting")


def _string(table: Mapping[str, Any], key: str, name: str, default: str | None = None) -> str:
    value = table.get(name, default)
    if not isinstance(value, str) or not value:
        raise _fail(f"{key}.{name}", "required text" if value is None else "must be text")
    return value


def _number(table: Mapping[str, Any], key: str, name: str, default: float) -> float:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _fail(f"{key}.{name}", f"must be a number ≥ 0, got {value!r}")
    return float(value)


def _flag(table: Mapping[str, Any], name: str, default: bool) -> bool:
    value = table.get(name, default)
    if not isinstance(value, bool):
        raise _fail(name, f"must be true or false, got {value!r}")
    return value


def _label(table: Mapping[str, Any], key: str, nation: str) -> Label:
    text = _string(table, key, "label")
    try:
        return parse_label(text, owner=nation)
    except LabelError as exc:
        raise _fail(f"{key}.label", str(exc)) from exc


def _topics(table: Mapping[str, Any], key: str, default: Sequence[str]) -> tuple[str, ...]:
    value = table.get("topics", list(default))
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise _fail(f"{key}.topics", "must be a list of topics")
    for topic in value:
        if not _TOPIC.match(topic):
            raise _fail(f"{key}.topics", f"not a dotted lower-case topic: {topic!r}")
    return tuple(value)


def _address(text: str, key: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise _fail(key, f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _path(value: Any, key: str, base: Path) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(key, "must be a file path")
    path = Path(value)
    return path if path.is_absolute() else base / path


def _ais(table: Mapping[str, Any], key: str, nation: str, base: Path, interval: float) -> AisInput:
    _only(table, key, {"name", "source", "label", "topics", "path", "address", "min_interval_s"})
    name = _string(table, key, "name")
    if not _NAME.match(name):
        raise _fail(f"{key}.name", f"use letters, digits, '.', '_' or '-': {name!r}")
    source = _string(table, key, "source")
    if source not in ("file", "tcp", "udp"):
        raise _fail(f"{key}.source", f"must be file, tcp or udp, got {source!r}")
    label = _label(table, key, nation)
    topics = _topics(table, key, ("maritime.track",))
    if not topics:
        raise _fail(f"{key}.topics", "an AIS input needs at least one topic")
    minimum = _number(table, key, "min_interval_s", interval)
    if source == "file":
        path = _path(table.get("path"), f"{key}.path", base)
        if path is None:
            raise _fail(f"{key}.path", "required for source = file")
        return AisInput(name, "file", label, topics, path=path, min_interval_s=minimum)
    host, port = _address(_string(table, key, "address"), f"{key}.address")
    return AisInput(
        name,
        source,
        label,
        topics,
        host=host,
        port=port,
        min_interval_s=minimum,  # type: ignore[arg-type]
    )


def _cot(table: Mapping[str, Any], key: str, nation: str, base: Path) -> CotInput:
    _only(table, key, {"name", "listen", "label", "tls_cert", "tls_key", "tls_ca", "auth"})
    name = _string(table, key, "name", "cot")
    if not _NAME.match(name):
        raise _fail(f"{key}.name", f"use letters, digits, '.', '_' or '-': {name!r}")
    host, port = _address(_string(table, key, "listen"), f"{key}.listen")
    cert = _path(table.get("tls_cert"), f"{key}.tls_cert", base)
    key_path = _path(table.get("tls_key"), f"{key}.tls_key", base)
    ca = _path(table.get("tls_ca"), f"{key}.tls_ca", base)
    if (cert is None) != (key_path is None):
        raise _fail(f"{key}.tls_cert", "tls_cert and tls_key go together")
    if ca is not None and cert is None:
        raise _fail(f"{key}.tls_ca", "client certificates need tls_cert and tls_key")
    auth = _string(table, key, "auth", "certificate" if ca is not None else "token")
    if auth not in ("certificate", "token"):
        raise _fail(f"{key}.auth", f"must be certificate or token, got {auth!r}")
    if auth == "certificate" and ca is None:
        raise _fail(f"{key}.auth", "certificate authentication needs tls_ca")
    if auth == "token" and cert is None and host not in ("127.0.0.1", "::1", "localhost"):
        raise _fail(f"{key}.auth", "tokens travel in the clear without TLS: loopback only")
    return CotInput(
        name=name,
        host=host,
        port=port,
        label=_label(table, key, nation),
        tls_cert=cert,
        tls_key=key_path,
        tls_ca=ca,
        auth=auth,  # type: ignore[arg-type]
    )


def _list(value: Any, key: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        raise _fail(key, "must be an array of tables ([[ingest." + key + "]])")
    return [_table(entry, f"{key}[{index}]") for index, entry in enumerate(value)]


def ingest_settings(raw: Mapping[str, Any], *, nation: str, base: Path) -> IngestSettings:
    """Check the raw ``[ingest]`` table; relative paths are taken from *base* (the node dir)."""
    table = _table(raw, "ingest") if raw else {}
    _only(
        table,
        "",
        {
            "ais",
            "cot",
            "min_interval_s",
            "max_vessels",
            "view",
            "maritime",
            "airspace",
            "missile",
            "watchlist",
            "queue",
        },
    )
    interval = _number(table, "", "min_interval_s", DEFAULT_MIN_INTERVAL_S)
    max_vessels = int(_number(table, "", "max_vessels", DEFAULT_MAX_VESSELS))
    queue = int(_number(table, "", "queue", 10_000))
    if max_vessels < 1 or queue < 1:
        raise _fail("max_vessels", "max_vessels and queue must be positive")
    view = table.get("view")
    if view is not None and (not isinstance(view, str) or not re.fullmatch(r"[A-Z]{3}", view)):
        raise _fail("view", f"must be a nation trigraph, got {view!r}")
    ais = tuple(
        _ais(entry, f"ais[{index}]", nation, base, interval)
        for index, entry in enumerate(_list(table.get("ais"), "ais"))
    )
    cot = tuple(
        _cot(entry, f"cot[{index}]", nation, base)
        for index, entry in enumerate(_list(table.get("cot"), "cot"))
    )
    names = [entry.name for entry in ais] + [entry.name for entry in cot]
    for name in names:
        if names.count(name) > 1:
            raise _fail("name", f"two inputs are named {name!r}")
    return IngestSettings(
        ais=ais,
        cot=cot,
        min_interval_s=interval,
        max_vessels=max_vessels,
        view=view,
        maritime=_flag(table, "maritime", True),
        airspace=_flag(table, "airspace", True),
        missile=_flag(table, "missile", True),
        watchlist=_path(table.get("watchlist"), "watchlist", base),
        queue=queue,
    )
