"""Node settings, read once: ``TRILAT_*`` environment, then ``DIR/trilat.toml``, then defaults.

``load_settings(node_dir)`` returns one frozen ``Settings``; everything below the CLI and
``api.create_app`` receives plain arguments. Secrets (a database URL may carry a password)
are wrapped in ``Secret`` so that a repr or a log line shows ``'********'``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from trilat.core.errors import TrilatError

CONFIG_FILE: Final = "trilat.toml"
KEY_FILE: Final = "node.key"
ADMIN_TOKEN_FILE: Final = "admin.token"  # noqa: S105 - a file name, not a secret
SQLITE_FILE: Final = "store.sqlite3"
_TABLES: Final = ("node", "ingest", "taxii")
_TOPIC: Final = re.compile(r"[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*){0,15}")


class ConfigError(TrilatError, ValueError):
    """A setting is malformed: names the setting, where it came from and why."""

    def __init__(self, name: str, source: str, reason: str) -> None:
        self.name, self.source, self.reason = name, source, reason
        super().__init__(f"setting {name!r} from {source}: {reason}")

    def extensions(self) -> dict[str, Any]:
        return {"setting": self.name}


class Secret:
    """A value that never shows itself in a repr, str or log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The wrapped value; call only where it is used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _nation(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise ValueError(f"not a nation trigraph: {value!r}")
    return value


def _listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return value


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(f"must be positive, got {number}")
    return number


def _node_id(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", value):
        raise ValueError(f"node id must be lower-case letters, digits and dashes: {value!r}")
    return value


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One documented setting: its TOML key, environment variable, parser and help text."""

    name: str
    help: str
    parse: Any
    default: Any = None
    secret: bool = False

    @property
    def env(self) -> str:
        return f"TRILAT_{self.name.upper()}"


SETTINGS: Final[tuple[SettingSpec, ...]] = (
    SettingSpec("nation", "The nation that owns this node (trigraph, e.g. USA).", _nation),
    SettingSpec(
        "node_id", "This node's id in envelopes (default: nation in lower case + '-1').", _node_id
    ),
    SettingSpec(
        "listen", "HOST:PORT the REST API binds (loopback by default).", _listen, "127.0.0.1:8700"
    ),
    SettingSpec(
        "database",
        "Store URL: sqlite:///PATH or postgresql://... (default: the "
        "node directory's SQLite file).",
        str,
        None,
        secret=True,
    ),
    SettingSpec(
        "body_limit",
        "Largest JSON request body in bytes, enforced while reading.",
        _positive,
        1024 * 1024,
    ),
    SettingSpec(
        "document_limit",
        "Largest document upload in bytes, enforced while reading.",
        _positive,
        64 * 1024 * 1024,
    ),
    SettingSpec(
        "agreements_dir", "Directory of agreement TOML files (default: the shipped set).", str, None
    ),
    SettingSpec(
        "sse_queue",
        "Events buffered per SSE subscriber before it falls back to the store.",
        _positive,
        1024,
    ),
    SettingSpec("page_limit", "Largest page size of GET /items.", _positive, 500),
    SettingSpec(
        "checkpoint_interval",
        "Seconds between signed audit checkpoints while the log grows (one more at a clean stop).",
        _positive,
        60,
    ),
    SettingSpec(
        "tls_cert",
        "PEM certificate the node serves HTTPS with (relative to the node directory; "
        "set together with tls_key).",
        str,
        None,
    ),
    SettingSpec(
        "tls_key",
        "PEM private key of tls_cert (relative to the node directory; keep it mode 0600).",
        str,
        None,
    ),
    SettingSpec(
        "federation_allow_plain_http",
        "Allow plain http to peers that are not on loopback (false: only pinned https).",
        _boolean,
        False,
    ),
    SettingSpec(
        "federation_ca_bundle",
        "PEM CA bundle that verifies https peers whose card carries no TLS pin (unset: "
        "such peers are refused).",
        str,
        None,
    ),
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a node needs to run; built by ``load_settings`` and never changed."""

    node_dir: Path
    nation: str
    node_id: str
    listen: str = "127.0.0.1:8700"
    database: Secret = field(default_factory=lambda: Secret(""))
    body_limit: int = 1024 * 1024
    document_limit: int = 64 * 1024 * 1024
    agreements_dir: Path | None = None
    sse_queue: int = 1024
    page_limit: int = 500
    checkpoint_interval: int = 60
    ingest: Mapping[str, Any] = field(default_factory=dict)  # raw [ingest]: trilat.ingest checks it
    taxii_collections: tuple[str, ...] | None = None  # [taxii] collections; None: the defaults
    tls_cert: Path | None = None  # with tls_key: serve HTTPS
    tls_key: Path | None = None
    federation_allow_plain_http: bool = False
    federation_ca_bundle: Path | None = None

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def key_path(self) -> Path:
        return self.node_dir / KEY_FILE

    @property
    def database_url(self) -> str:
        """The store URL (revealed: pass only to the store)."""
        return self.database.reveal() or f"sqlite:///{self.node_dir / SQLITE_FILE}"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def load_settings(node_dir: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the node's settings: environment over ``DIR/trilat.toml`` over defaults.

    Raises ConfigError naming the setting and its source when a value is malformed or
    unknown, and when the node directory has no configuration.
    """
    environ = os.environ if environ is None else environ
    path = node_dir / CONFIG_FILE
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("node_dir", str(node_dir), "no trilat.toml: run `trilat init`") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("trilat.toml", str(path), str(exc)) from exc
    node = document.get("node", {})
    if not isinstance(node, dict):
        raise ConfigError("node", str(path), "[node] must be a table")
    for table in document:
        if table not in _TABLES:
            raise ConfigError(table, str(path), f"unknown table; known: {', '.join(_TABLES)}")
    ingest = document.get("ingest", {})
    if not isinstance(ingest, dict):
        raise ConfigError("ingest", str(path), "[ingest] must be a table")
    known = {spec.name for spec in SETTINGS}
    for key in node:
        if key not in known:
            raise ConfigError(key, str(path), "unknown setting")
    values: dict[str, Any] = {}
    for spec in SETTINGS:
        source, raw = "default", spec.default
        if spec.name in node:
            source, raw = str(path), node[spec.name]
        if spec.env in environ:
            source, raw = f"${spec.env}", environ[spec.env]
        if raw is None:
            values[spec.name] = None
            continue
        try:
            values[spec.name] = spec.parse(str(raw))
        except ValueError as exc:
            raise ConfigError(spec.name, source, str(exc)) from exc
    if values["nation"] is None:
        raise ConfigError("nation", str(path), "required")
    if (values["tls_cert"] is None) != (values["tls_key"] is None):
        missing = "tls_key" if values["tls_key"] is None else "tls_cert"
        raise ConfigError(missing, str(path), "tls_cert and tls_key are set together or not at all")
    return Settings(
        node_dir=node_dir,
        nation=values["nation"],
        node_id=values["node_id"] or f"{values['nation'].lower()}-1",
        listen=values["listen"],
        database=Secret(values["database"] or ""),
        body_limit=values["body_limit"],
        document_limit=values["document_limit"],
        agreements_dir=Path(values["agreements_dir"]) if values["agreements_dir"] else None,
        sse_queue=values["sse_queue"],
        page_limit=values["page_limit"],
        checkpoint_interval=values["checkpoint_interval"],
        ingest=ingest,
        taxii_collections=_taxii_collections(document.get("taxii"), str(path)),
        tls_cert=_node_path(node_dir, values["tls_cert"]),
        tls_key=_node_path(node_dir, values["tls_key"]),
        federation_allow_plain_http=values["federation_allow_plain_http"],
        federation_ca_bundle=_node_path(node_dir, values["federation_ca_bundle"]),
    )


def _node_path(node_dir: Path, value: str | None) -> Path | None:
    """A path setting: absolute as given, else relative to the node directory."""
    if not value:
        return None
    return Path(value) if Path(value).is_absolute() else node_dir / value


def _taxii_collections(table: object, source: str) -> tuple[str, ...] | None:
    """``[taxii] collections``: the topic prefixes served as TAXII collections, or None."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError("taxii", source, "[taxii] must be a table")
    for key in table:
        if key != "collections":
            raise ConfigError(f"taxii.{key}", source, "unknown setting")
    if "collections" not in table:
        return None
    topics = table["collections"]
    if not isinstance(topics, list) or not topics:
        raise ConfigError("taxii.collections", source, "a non-empty list of topic prefixes")
    for topic in topics:
        if not isinstance(topic, str) or _TOPIC.fullmatch(topic) is None:
            raise ConfigError(
                "taxii.collections", source, f"not a dotted lower-case topic: {str(topic)[:64]!r}"
            )
    if len(set(topics)) != len(topics):
        raise ConfigError("taxii.collections", source, "a topic is listed twice")
    return tuple(topics)


def render_config(settings: Mapping[str, Any]) -> str:
    """The TOML text of a ``[node]`` table (strings, integers and booleans)."""
    lines = ["# trilat node configuration; TRILAT_<NAME> environment variables override.", "[node]"]
    for spec in SETTINGS:
        if spec.name in settings and settings[spec.name] is not None:
            value = settings[spec.name]
            if isinstance(value, bool):
                rendered = "true" if value else "false"
            elif isinstance(value, int):
                rendered = str(value)
            else:
                rendered = _toml_string(str(value))
            lines.append(f"# {spec.help}")
            lines.append(f"{spec.name} = {rendered}")
    return "\n".join(lines) + "\n"


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
