"""Node commands: ``init``, ``serve``, ``user``, ``store`` and ``audit`` (SPEC §9).

``register(app)`` adds ``init`` and ``serve`` at the top level and the ``user``, ``store``
and ``audit`` groups. Tokens are printed once and stored only as SHA-256 hashes.
"""

from __future__ import annotations

import base64
import gc
import json
import logging
import os
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from trilat.api.auth import check_roles, new_token, token_hash
from trilat.cli.errors import BadInput, fail, stderr
from trilat.config import (
    ADMIN_TOKEN_FILE,
    CONFIG_FILE,
    KEY_FILE,
    ConfigError,
    Settings,
    load_settings,
    render_config,
)
from trilat.core._crypto import generate_private_key
from trilat.core.agreements import parse_classification
from trilat.core.errors import TrilatError
from trilat.core.labels import is_nation
from trilat.store import Store, StoredItem, User, open_store
from trilat.store.auditlog import audit_entry, verify_log

user_app = typer.Typer(
    help="Manage the node's users and their bearer tokens.", no_args_is_help=True
)
store_app = typer.Typer(
    help="Inspect the node's store (local operator view).", no_args_is_help=True
)
audit_app = typer.Typer(help="Check and show the node's audit log.", no_args_is_help=True)

NodeDir = Annotated[Path, typer.Argument(help="The node directory made by `trilat init`.")]
TLS_CERT_FILE = "tls.crt"
TLS_KEY_FILE = "tls.key"

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _write_private(path: Path, text: str) -> None:
    """Create *path* with mode 0600 (refusing to overwrite) and write *text*."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _settings(node_dir: Path) -> Settings:
    try:
        return load_settings(node_dir)
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc


def _nation(code: str, option: str) -> str:
    if not is_nation(code):
        raise BadInput(f"{option}: unknown nation code {code!r}")
    return code


def _add_user(
    store: Store, name: str, nationality: str, clearance: str, roles: list[str], actor: str
) -> str:
    if (
        not name
        or len(name) > 64
        or not name.replace("-", "").replace("_", "").replace(".", "").isalnum()
    ):
        raise BadInput(f"--name: use letters, digits, '-', '_' or '.': {name!r}")
    _nation(nationality, "--nationality")
    try:
        level = parse_classification(clearance)
        checked_roles = check_roles(roles)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    token = new_token()
    store.add_user(User(name, nationality, int(level), checked_roles, token_hash(token)))
    store.append_audit(
        [
            audit_entry(
                "user",
                at=datetime.now(UTC),
                actor=actor,
                user=name,
                nationality=nationality,
                clearance=level.name,
                roles=checked_roles,
            )
        ]
    )
    return token


def init(
    node_dir: NodeDir,
    nation: Annotated[str, typer.Option("--nation", help="The nation owning the node (USA…).")],
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT for the REST API.")
    ] = "127.0.0.1:8700",
    db: Annotated[
        str | None,
        typer.Option("--db", help="Store URL (default: SQLite in DIR). postgresql://… works."),
    ] = None,
    node_id: Annotated[
        str | None, typer.Option("--node-id", help="Node id (default: nation lower case + -1).")
    ] = None,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls", help="Also make a self-signed TLS certificate and serve HTTPS with it."
        ),
    ] = False,
) -> None:
    """Create a node: configuration, Ed25519 key, store and an admin token (shown once);
    with --tls a self-signed ECDSA P-256 certificate (tls.crt, tls.key) for HTTPS."""
    nation = _nation(nation.upper(), "--nation")
    if (node_dir / CONFIG_FILE).exists():
        raise BadInput(f"{node_dir} already holds a node ({CONFIG_FILE} exists)")
    node_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings_doc: dict[str, Any] = {"nation": nation, "listen": listen}
    if node_id is not None:
        settings_doc["node_id"] = node_id
    if db is not None:
        settings_doc["database"] = db
    if tls:
        settings_doc["tls_cert"], settings_doc["tls_key"] = TLS_CERT_FILE, TLS_KEY_FILE
    (node_dir / CONFIG_FILE).write_text(render_config(settings_doc), encoding="utf-8")
    try:
        settings = load_settings(node_dir, environ={})
    except ConfigError as exc:
        (node_dir / CONFIG_FILE).unlink()
        raise BadInput(str(exc)) from exc
    _write_private(
        node_dir / KEY_FILE, base64.b64encode(generate_private_key()).decode("ascii") + "\n"
    )
    if tls:
        write_tls_certificate(node_dir, settings.host, datetime.now(UTC))
    store = open_store(settings.database_url)
    try:
        token = _add_user(store, "admin", nation, "TOP SECRET", ["admin"], actor="init")
    finally:
        store.close()
    for path in node_dir.glob("store.sqlite3*"):
        path.chmod(0o600)  # the store holds classified items: owner only
    _write_private(node_dir / ADMIN_TOKEN_FILE, token + "\n")
    stderr.print(
        f"node {settings.node_id} ({nation}) initialised in {node_dir}; "
        f"admin token written to {node_dir / ADMIN_TOKEN_FILE} (mode 0600), shown once:"
    )
    print(token)


def write_tls_certificate(node_dir: Path, host: str, now: datetime) -> None:
    """A self-signed ECDSA P-256 certificate for *host*, localhost and 127.0.0.1, valid two
    years: ``tls.crt`` and ``tls.key`` (mode 0600) in *node_dir*. Partners pin its public
    key through the node card, so no CA takes part."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    addresses = {ipaddress.ip_address("127.0.0.1")}
    bare = host.strip("[]")
    try:
        addresses.add(ipaddress.ip_address(bare))
    except ValueError:
        if bare and bare != "localhost":
            names.append(x509.DNSName(bare))
    names.extend(x509.IPAddress(address) for address in sorted(addresses, key=str))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, bare or "localhost")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=730))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(node_dir / TLS_KEY_FILE, key_pem.decode("ascii"))
    (node_dir / TLS_CERT_FILE).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def tls_pin(settings: Settings) -> str | None:
    """The SPKI pin of the node's TLS certificate, after checking that certificate and key
    load together; None when the node serves plain HTTP. Raises BadInput naming the file."""
    import ssl

    from trilat.federation.transport import certificate_pin

    if settings.tls_cert is None or settings.tls_key is None:
        return None
    try:
        pin = certificate_pin(settings.tls_cert)
    except OSError as exc:
        raise BadInput(f"tls_cert: cannot read {settings.tls_cert}: {exc.strerror}") from exc
    except ValueError as exc:
        raise BadInput(f"tls_cert: {settings.tls_cert} holds no PEM certificate") from exc
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except OSError as exc:
        detail = exc.strerror or getattr(exc, "reason", None) or type(exc).__name__
        raise BadInput(
            f"tls_key: cannot use {settings.tls_key} with {settings.tls_cert}: {detail}"
        ) from exc
    return pin


def serve(
    node_dir: NodeDir,
    listen: Annotated[
        str | None, typer.Option("--listen", help="HOST:PORT (port 0 picks a free port).")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "warning",
    get: Annotated[
        str | None,
        typer.Option(
            "--get",
            metavar="PATH",
            help="Answer one GET in-process (no socket) as the admin, print it and exit.",
        ),
    ] = None,
) -> None:
    """Run the node's REST API (uvicorn); prints the URL it listens on."""
    import uvicorn

    from trilat.api.app import app_for
    from trilat.federation.transport import Outbound

    settings = _settings(node_dir)
    if get is not None:
        raise typer.Exit(_get_once(node_dir, get))
    _log_to_stderr(os.environ.get("TRILAT_LOG_LEVEL", "WARNING"))
    host, _, port = (listen or settings.listen).rpartition(":")
    if not host or not port.isdigit():
        raise BadInput(f"--listen: expected HOST:PORT, got {listen!r}")
    pin = tls_pin(settings)
    app = app_for(node_dir)
    federation = app.state.federation
    federation.tls_sha256 = pin  # the card served at /federation/card pins this key
    federation.outbound = Outbound(
        allow_plain_http=settings.federation_allow_plain_http,
        ca_bundle=settings.federation_ca_bundle,
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: no Nagle wait between a response's header and body
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host.strip("[]"), int(port)))
    sock.listen(2048)  # clients may connect as soon as the URL is printed; they queue
    bound = sock.getsockname()
    url = f"{'https' if pin else 'http'}://{host}:{bound[1]}"
    config = uvicorn.Config(
        app,
        log_level=log_level,
        timeout_graceful_shutdown=3,
        access_log=False,
        lifespan="on",
        ssl_certfile=str(settings.tls_cert) if pin else None,
        ssl_keyfile=str(settings.tls_key) if pin else None,
    )
    config.load()
    # Everything imported and built so far lives as long as the process: collect once, then
    # leave it out of every later collection, so a full pass while serving walks only what
    # requests create (on a 2-core box a full pass over the start-up heap took 50-70 ms,
    # the TAXII page latency outliers).
    gc.collect()
    gc.freeze()

    class Announcing(uvicorn.Server):
        """Prints ``listening on URL`` once the node serves: its lifespan (federation links,
        CoT and AIS listeners) has started, so whoever waits for the line may use them all."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                print(f"listening on {url}", flush=True)

    server = Announcing(config)
    try:
        server.run(sockets=[sock])
    finally:
        app.state.node.store.close()


def _log_to_stderr(level: str) -> None:
    """Send the ``trilat`` logger (not the root) to stderr at *level* (TRILAT_LOG_LEVEL)."""
    logger = logging.getLogger("trilat")
    try:
        logger.setLevel(level.upper())
    except ValueError as exc:
        raise BadInput(f"TRILAT_LOG_LEVEL: unknown level {level!r}") from exc
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)


def _get_once(node_dir: Path, path: str) -> int:
    """One in-process GET as the admin (the token in DIR/admin.token); exit 0 on 2xx."""
    import asyncio

    import httpx

    from trilat.api.app import app_for

    if not path.startswith("/"):
        raise BadInput(f"--get: a path starts with '/': {path!r}")
    token = (node_dir / ADMIN_TOKEN_FILE).read_text(encoding="ascii").strip()
    app = app_for(node_dir)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            return await client.get(path, headers={"Authorization": f"Bearer {token}"})

    try:
        response = asyncio.run(call())
    finally:
        app.state.node.store.close()
    sys.stdout.write(response.text + ("" if response.text.endswith("\n") else "\n"))
    return 0 if response.status_code < 400 else 1


@user_app.command("add")
def user_add(
    node_dir: NodeDir,
    name: Annotated[str, typer.Option("--name", help="Login name, unique on the node.")],
    nationality: Annotated[str, typer.Option("--nationality", help="Trigraph, e.g. JPN.")],
    clearance: Annotated[str, typer.Option("--clearance", help="e.g. SECRET, TOP_SECRET.")],
    role: Annotated[
        list[str],
        typer.Option(
            "--role", help="admin, operator, analyst, disclosure_officer, liaison, public."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Add a user and print their bearer token once (it is stored hashed)."""
    settings = _settings(node_dir)
    store = open_store(settings.database_url)
    try:
        token = _add_user(store, name, nationality.upper(), clearance, role, actor="cli")
    finally:
        store.close()
    if as_json:
        print(json.dumps({"name": name, "token": token}))
    else:
        stderr.print(f"user {name} added; bearer token (shown once):")
        print(token)


@user_app.command("rm")
def user_rm(
    node_dir: NodeDir,
    name: Annotated[str, typer.Option("--name", help="The user to remove.")],
) -> None:
    """Remove a user; their token stops working at once (audited)."""
    store = open_store(_settings(node_dir).database_url)
    try:
        if name == "admin" or not store.remove_user(name):
            raise fail(f"--name: no removable user {name!r}", 1)
        store.append_audit(
            [audit_entry("user", at=datetime.now(UTC), actor="cli", user=name, action="removed")]
        )
    finally:
        store.close()
    stderr.print(f"user {name} removed")


@user_app.command("ls")
def user_ls(node_dir: NodeDir, as_json: JsonOption = False) -> None:
    """List the node's users (never their tokens)."""
    store = open_store(_settings(node_dir).database_url)
    try:
        users = store.users()
    finally:
        store.close()
    from trilat.core.labels import Classification

    for user in users:
        clearance = Classification(user.clearance).name.replace("_", " ")
        if as_json:
            print(
                json.dumps(
                    {
                        "name": user.name,
                        "nationality": user.nationality,
                        "clearance": clearance,
                        "roles": list(user.roles),
                    }
                )
            )
        else:
            print("\t".join([user.name, user.nationality, clearance, ",".join(user.roles)]))


@store_app.command("ls")
def store_ls(node_dir: NodeDir, as_json: JsonOption = False) -> None:
    """Every envelope the node holds, whatever its label (local inventory; never served)."""
    store = open_store(_settings(node_dir).database_url)
    try:
        cursor = 0
        while True:
            batch = store.read_after(cursor, 1000)
            for item in batch:
                cursor = item.seq
                if item.document is None:
                    continue
                if as_json:
                    print(item.document)
                    continue
                document = json.loads(item.document)
                print(
                    "\t".join(
                        [
                            document["id"],
                            document["kind"],
                            document["created"],
                            document["originator"]["nation"],
                            document["label"],
                            ",".join(document["topics"]),
                        ]
                    )
                )
            if len(batch) < 1000:
                break
    finally:
        store.close()


@audit_app.command("verify")
def audit_verify(node_dir: NodeDir, as_json: JsonOption = False) -> None:
    """Recompute every leaf hash and the tree, check checkpoints and item digests (exit 1
    naming the first bad leaf or item if the store was altered)."""
    from trilat.api.app import read_private_key
    from trilat.core._crypto import public_key_of
    from trilat.core.audit import VerifierKey, verify_checkpoint
    from trilat.core.items import envelope_from_document, verify

    settings = _settings(node_dir)
    public_key = public_key_of(read_private_key(settings.key_path))
    origin = f"trilat/{settings.node_id}"
    verifier = VerifierKey(origin, public_key)

    def check(stored: Any) -> None:
        checkpoint = verify_checkpoint(stored.text, verifier, origin=origin)
        if checkpoint.size != stored.size or checkpoint.root != stored.root:
            raise TrilatError("checkpoint text disagrees with its stored size or root")

    def check_item(stored: StoredItem) -> None:
        envelope = envelope_from_document(json.loads(stored.document or "{}"))
        if envelope.originator.node == settings.node_id:
            verify(envelope, public_key)  # our own items carry our signature

    store = open_store(settings.database_url)
    try:
        result = verify_log(store, check, check_item)
    finally:
        store.close()
    if as_json:
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "leaves": result.leaves,
                    "items": result.items,
                    "checkpoints": result.checkpoints,
                    "root": base64.b64encode(result.root).decode("ascii"),
                    "problems": result.problems,
                }
            )
        )
    if not result.ok:
        if not as_json:
            raise fail(f"audit log does not verify: {result.problems[0]}", 1)
        raise typer.Exit(1)
    if not as_json:
        print(
            f"audit log verified: {result.leaves} leaves, {result.items} items, "
            f"{result.checkpoints} signed checkpoints, root "
            f"{base64.b64encode(result.root).decode('ascii')}"
        )


@audit_app.command("checkpoint")
def audit_checkpoint(
    node_dir: NodeDir,
    cosigned: Annotated[
        bool,
        typer.Option(
            "--witnessed", help="The newest checkpoint partners cosigned, with their cosignatures."
        ),
    ] = False,
) -> None:
    """Sign and print a checkpoint of the audit log as it stands (or, with --witnessed, the
    newest one partner nodes have cosigned and returned)."""
    from trilat.api.app import build_node
    from trilat.federation.service import witnessed
    from trilat.store.federation import FederationTables

    node = build_node(_settings(node_dir))
    try:
        if not cosigned:
            sys.stdout.write(node.checkpoint())
            return
        found = witnessed(FederationTables(node.store))
        if found is None:
            raise fail("no partner has returned a cosignature of this node's checkpoints yet", 1)
        sys.stdout.write(found["checkpoint"])
        stderr.print(f"size {found['size']}, cosigned by {', '.join(found['cosigners'])}")
    finally:
        node.store.close()


def register(app: typer.Typer) -> None:
    """Add the node commands to the ``trilat`` app."""
    app.command("init")(init)
    app.command("serve")(serve)
    app.add_typer(user_app, name="user")
    app.add_typer(store_app, name="store")
    app.add_typer(audit_app, name="audit")
