"""``trilat demo``: three real nodes (USA, JPN, KOR) on 127.0.0.1 replay a scenario.

Each node is initialised in a work directory with its own SQLite store and key, all three
cards are pinned on every node (every partner's signature verifies everywhere; the policy
decides what actually moves), and ``trilat serve`` runs each one as a child process. The
scenario is posted through the public REST API. Release decisions are evaluated at
scenario dates: before each phase the demo writes the date into every node's
``scenario.clock`` (``trilat.federation.clock``), so the nodes stamp items and decide
releases on that day, as the rules stood then:

1. 2015-06-01, TISA only: a Japanese missile report reaches Korea through the US hub, and
   only once Japan consents; a Japanese NOFORN note stays home.
2. 2017-03-01, GSOMIA in force: the same kind of report goes straight from Japan to Korea.
3. 2019-07-23: the Chinese–Russian air patrol through the KADIZ and over Dokdo, analysed by
   ``trilat.analytics.airspace`` on Korea's node, shared as ``zone_entry`` items.
4. 2023-11-16: a ship-to-ship transfer found by ``trilat.analytics.maritime`` on US AIS.
5. 2024-01-15: one DPRK launch reported by all three nations' sensors as ``missile_event``
   items on ``dprk.missile.warning`` (MWDS-2023).

The demo ends with a table of what each node holds and why (the deciding reason from the
audit log), the URLs and the admin-token files. Every child process is stopped at the end or
on Ctrl-C; ``--keep-running`` leaves the nodes up until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final

import httpx
import typer
from rich.console import Console
from rich.table import Table

from trilat.cli.errors import BadInput, stderr
from trilat.config import ADMIN_TOKEN_FILE, SQLITE_FILE
from trilat.core.audit import decode_entry
from trilat.federation.clock import SCENARIO_CLOCK_FILE
from trilat.store import open_store
from trilat.store.federation import FederationTables

NATIONS: Final = ("USA", "JPN", "KOR")
REL_ALL: Final = "SECRET//REL TO USA, JPN, KOR"
_AIR_SCENARIO: Final = (
    Path(__file__).resolve().parents[3] / "tests" / "air" / "data" / "kadiz-2019-07-23.csv"
)


@dataclass
class DemoNode:
    nation: str
    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.directory / ADMIN_TOKEN_FILE).read_text(encoding="ascii").strip()


@dataclass
class Scenario:
    """What the demo posted: (title, item id, owner) in order, and the nodes."""

    nodes: dict[str, DemoNode]
    posted: list[tuple[str, str, str]] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _trilat() -> list[str]:
    return [sys.executable, "-c", "from trilat.cli.app import main; main()"]


def _quiet(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args, **kwargs)


def _set_date(nodes: dict[str, DemoNode], day: str) -> None:
    for node in nodes.values():
        (node.directory / SCENARIO_CLOCK_FILE).write_text(f"{day}T00:00:00Z\n", encoding="utf-8")


def _setup(root: Path, console: Console) -> dict[str, DemoNode]:
    from trilat.cli.node import init
    from trilat.cli.peer import add

    nodes: dict[str, DemoNode] = {}
    for nation in NATIONS:
        directory = root / nation.lower()
        port = _free_port()
        with contextlib.redirect_stderr(io.StringIO()):
            _quiet(
                init, directory, nation=nation, listen=f"127.0.0.1:{port}", db=None, node_id=None
            )
        nodes[nation] = DemoNode(nation, directory, port)
    _set_date(nodes, "2015-06-01")
    for nation, node in nodes.items():
        card = root / f"{nation.lower()}.card.json"
        exported = _quiet_export(node)
        card.write_text(exported, encoding="utf-8")
    for holder in nodes.values():
        for other in nodes.values():
            if other is not holder:
                with contextlib.redirect_stderr(io.StringIO()):
                    _quiet(add, holder.directory, root / f"{other.nation.lower()}.card.json", False)
    console.print(f"[dim]nodes initialised and peered in {root}[/dim]")
    return nodes


def _quiet_export(node: DemoNode) -> str:
    from trilat.cli.peer import export

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        export(node.directory, url=node.url)
    return buffer.getvalue()


def _start(nodes: dict[str, DemoNode]) -> None:
    for node in nodes.values():
        node.process = subprocess.Popen(  # noqa: S603 - this Python running trilat itself
            [*_trilat(), "serve", str(node.directory), "--listen", f"127.0.0.1:{node.port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops them in order
        )
    for node in nodes.values():
        stdout = node.process.stdout if node.process is not None else None
        line = stdout.readline().decode() if stdout is not None else ""
        if not line.startswith("listening on"):
            raise BadInput(f"the {node.nation} node did not start")


def _stop(nodes: dict[str, DemoNode]) -> None:
    for node in nodes.values():
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)
    for node in nodes.values():
        if node.process is None:
            continue
        try:
            node.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(timeout=10)
        node.process = None


def _client(node: DemoNode) -> httpx.Client:
    return httpx.Client(
        base_url=node.url,
        headers={"Authorization": f"Bearer {node.token}"},
        timeout=30.0,
        trust_env=False,
    )


def _post(node: DemoNode, payload: dict[str, Any], path: str = "/api/v1/items") -> dict[str, Any]:
    with _client(node) as client:
        response = client.post(path, json=payload)
    if response.status_code != 201:
        raise BadInput(f"{node.nation} refused a scenario item: {response.text[:300]}")
    return dict(response.json())


def _settle(nodes: dict[str, DemoNode], timeout: float = 20.0) -> None:
    """Wait until no link has anything left to send (bounded by *timeout* seconds)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    heads: dict[str, int] = {}
    while time.monotonic() < deadline and quiet < 3:
        now: dict[str, int] = {}
        behind = 0
        for node in nodes.values():
            with _client(node) as client:
                status = client.get("/api/v1/federation/status").json()
            now[node.nation] = int(status["head"])
            behind += sum(int(p["behind"]) for p in status["peers"] if p["link"])
        quiet = quiet + 1 if behind == 0 and now == heads else 0
        heads = now
        time.sleep(0.2)


def _report(title: str, banner: str, topics: list[str], text: str) -> dict[str, Any]:
    return {
        "kind": "report",
        "label": banner,
        "topics": topics,
        "body": {"title": title, "text": text},
    }


def _phase(console: Console, day: str, text: str) -> None:
    console.rule(f"[bold]{day}[/bold]  {text}")


def _air_items() -> list[tuple[str, dict[str, Any]]]:
    """KADIZ and Dokdo events of 2019-07-23 in Korea's view, as item payloads."""
    from trilat.analytics.airspace import JointPatrol, analyze_airspace, parse_track_csv

    if not _AIR_SCENARIO.is_file():
        return []
    with _AIR_SCENARIO.open(encoding="utf-8") as handle:
        report = analyze_airspace(parse_track_csv(handle), view="KOR")
    items: list[tuple[str, dict[str, Any]]] = []
    for event in report.events:
        if isinstance(event, JointPatrol):
            body = event.as_dict()
            items.append(
                (
                    f"joint patrol {', '.join(event.nations)}",
                    _report(
                        "joint patrol",
                        REL_ALL,
                        ["air.adiz"],
                        f"{' + '.join(event.tracks)} flew together {body['start']}–{body['end']}",
                    ),
                )
            )
        elif event.type == "zone_entry" and len(items) < 4:
            items.append(
                (
                    f"{event.track} enters {event.zone}",
                    {
                        "kind": "zone_entry",
                        "label": REL_ALL,
                        "topics": ["air.adiz"],
                        "body": event.item_body(),
                    },
                )
            )
    return items[:5]


def _sts_item() -> tuple[str, dict[str, Any]] | None:
    """A planted ship-to-ship transfer found by the maritime analytics on generated AIS."""
    from trilat.analytics.maritime.batch import analyze
    from trilat.analytics.maritime.events import events_of
    from trilat.analytics.sim import generate

    positions, _ = generate(
        vessels=12, days=1.5, seed=3, encounters=1, loiterers=0, dark_offshore=0, dark_in_port=0
    )
    found = events_of(analyze(positions, detectors=("encounters",)).encounters)
    if not found:
        return None
    event = found[0]
    body = {key: event[key] for key in ("vessels", "start", "end", "lat", "lon")}
    for key in ("median_distance_km", "median_speed_knots"):
        if event.get(key) is not None:
            body[key] = event[key]
    return (
        f"STS {event['vessels'][0]}/{event['vessels'][1]}",
        {
            "kind": "encounter",
            "label": "CONFIDENTIAL//REL TO USA, JPN, KOR",
            "topics": ["maritime.sts"],
            "body": body,
        },
    )


def _missile(nation: str, sensor: str, lat: float, lon: float) -> dict[str, Any]:
    return {
        "kind": "missile_event",
        "label": REL_ALL,
        "topics": ["dprk.missile.warning"],
        "body": {
            "launch_time": "2024-01-14T05:55:00Z",
            "launch_point": {"lat": 39.02, "lon": 125.75},
            "impact_point": {"lat": lat, "lon": lon},
            "impact_time": "2024-01-14T06:08:00Z",
            "apogee_km": 50.0,
            "missile_type": "IRBM",
            "source_sensor": sensor,
            "source_nation": nation,
        },
    }


def run_scenario(nodes: dict[str, DemoNode], console: Console) -> Scenario:
    scenario = Scenario(nodes)

    def post(title: str, nation: str, payload: dict[str, Any], path: str = "/api/v1/items") -> str:
        document = _post(nodes[nation], payload, path)
        scenario.posted.append((title, str(document["id"]), nation))
        console.print(f"  {nation} posts [bold]{title}[/bold]  ({document['label']})")
        return str(document["id"])

    _phase(console, "2015-06-01", "TISA: Japan → US hub → Korea, with Japan's consent")
    _set_date(nodes, "2015-06-01")
    report = _report("DPRK SLBM ejection test", REL_ALL, ["dprk.missile"], "Sinpo, 2015")
    item = post("JPN missile report (2015)", "JPN", report)
    post("JPN NOFORN note", "JPN", _report("internal", "SECRET//NOFORN", ["dprk.missile"], "x"))
    _settle(nodes)
    console.print("  the hub holds it; Korea does not (Japan has not consented yet)")
    _post(nodes["JPN"], {"to": ["KOR"]}, f"/api/v1/items/{item}/consent")
    console.print("  JPN consents to release to KOR → the US hub relays it")
    _settle(nodes)

    _phase(console, "2017-03-01", "GSOMIA in force: Japan → Korea directly")
    _set_date(nodes, "2017-03-01")
    post(
        "JPN missile report (2017)",
        "JPN",
        _report("DPRK ballistic missiles", REL_ALL, ["dprk.missile"], "four missiles"),
    )
    _settle(nodes)

    _phase(console, "2019-07-23", "Chinese–Russian air patrol (Korea's analysis)")
    _set_date(nodes, "2019-07-23")
    air = _air_items()
    if not air:
        console.print("  [yellow]air scenario data not present: skipped[/yellow]")
    for title, payload in air:
        post(title, "KOR", payload)
    _settle(nodes)

    _phase(console, "2023-11-16", "a ship-to-ship transfer in US AIS analysis")
    _set_date(nodes, "2023-11-16")
    sts = _sts_item()
    if sts is None:
        console.print("  [yellow]no encounter found in the generated traffic[/yellow]")
    else:
        post(sts[0], "USA", sts[1])
    _settle(nodes)

    _phase(console, "2024-01-15", "one DPRK launch, three nations' sensors (MWDS-2023)")
    _set_date(nodes, "2024-01-15")
    post("USA launch report", "USA", _missile("USA", "AN/TPY-2", 40.05, 131.2))
    post("JPN launch report", "JPN", _missile("JPN", "JS Kongo SPY-1", 40.1, 131.3))
    post("KOR launch report", "KOR", _missile("KOR", "Green Pine", 40.0, 131.25))
    _settle(nodes)
    return scenario


def _why(directory: Path, node_id: str) -> dict[tuple[str, str], str]:
    """(item, peer) → the reason of the last release decision this node audited."""
    store = open_store(f"sqlite:///{directory / SQLITE_FILE}")
    try:
        reasons: dict[tuple[str, str], str] = {}
        size = store.audit_size()
        for leaf in store.audit_leaves(0, size):
            if leaf.event != "release":
                continue
            entry = decode_entry(leaf.data)
            agreement = entry.detail.get("agreement")
            text = entry.decision or ""
            if agreement:
                text = f"{text} [{agreement}]"
            items = entry.detail.get("items") or (leaf.item_id,)
            for item_id in items if isinstance(items, tuple) else ():
                if isinstance(item_id, str):
                    reasons[(item_id, entry.peer or "")] = text
        return reasons
    finally:
        store.close()


def _holdings(directory: Path) -> tuple[set[str], dict[str, tuple[str, ...]]]:
    store = open_store(f"sqlite:///{directory / SQLITE_FILE}")
    try:
        ids: set[str] = set()
        cursor = 0
        while True:
            batch = store.read_after(cursor, 1000)
            for row in batch:
                cursor = row.seq
                ids.add(row.id)
            if len(batch) < 1000:
                break
        return ids, FederationTables(store).paths(sorted(ids))
    finally:
        store.close()


def holdings_table(scenario: Scenario) -> Table:
    nodes = scenario.nodes
    node_ids = {nation: f"{nation.lower()}-1" for nation in nodes}
    held = {nation: _holdings(node.directory) for nation, node in nodes.items()}
    why = {nation: _why(node.directory, node_ids[nation]) for nation, node in nodes.items()}
    table = Table(title="what each node holds, and why", show_lines=True)
    table.add_column("item", no_wrap=False)
    for nation in nodes:
        table.add_column(nation)
    for title, item_id, owner in scenario.posted:
        cells = []
        for nation in nodes:
            ids, paths = held[nation]
            if nation == owner:
                cells.append("[green]originated here[/green]")
                continue
            if item_id in ids:
                path = paths.get(item_id, ())
                sender = path[-2] if len(path) >= 2 else ""
                sender_nation = sender.split("-")[0].upper()
                reason = why.get(sender_nation, {}).get((item_id, node_ids[nation]), "")
                route = " → ".join(hop.split("-")[0].upper() for hop in path)
                cells.append(f"[green]held[/green] via {route}\n{reason}")
            else:
                reason = why[owner].get((item_id, node_ids[nation]), "not offered")
                cells.append(f"[red]not held[/red]\n{reason}")
        table.add_row(f"{title}\n[dim]{item_id[:13]}…[/dim]", *cells)
    return table


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _work_dir(directory: Path | None, keep: bool) -> Iterator[Path]:
    if directory is not None:
        if directory.exists() and any(directory.iterdir()):
            raise BadInput(f"--dir {directory} is not empty")
        directory.mkdir(parents=True, exist_ok=True)
        yield directory
        return
    made = Path(tempfile.mkdtemp(prefix="trilat-demo-"))
    try:
        yield made
    finally:
        if not keep:
            shutil.rmtree(made, ignore_errors=True)


def demo(
    walkthrough: Annotated[
        bool,
        typer.Option("--walkthrough", help="Only the in-process walk through policy decisions."),
    ] = False,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the nodes up until Ctrl-C.")
    ] = False,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Work directory (default: a temporary one, removed after)."),
    ] = None,
) -> None:
    """Three nodes (USA, JPN, KOR) on 127.0.0.1 replay a scenario; a table shows who holds what."""
    if walkthrough:
        from trilat.cli.demo import walkthrough as run_walkthrough

        run_walkthrough()
        return
    console = Console(highlight=False)
    signal.signal(signal.SIGTERM, _interrupted)  # a terminated demo still stops its nodes
    with _work_dir(directory, keep_running) as root:
        nodes = _setup(root, console)
        try:
            _start(nodes)
            console.print(
                "nodes running: " + ", ".join(f"{n.nation} {n.url}" for n in nodes.values())
            )
            scenario = run_scenario(nodes, console)
            console.print(holdings_table(scenario))
            kept = keep_running or directory is not None
            for node in nodes.values():
                console.print(
                    f"{node.nation}  {node.url}/  admin token: {node.directory / ADMIN_TOKEN_FILE}"
                    + ("" if kept else "  (removed at exit; --keep-running to browse)")
                )
            if keep_running:
                console.print("nodes stay up; Ctrl-C stops them")
                while all(
                    n.process is not None and n.process.poll() is None for n in nodes.values()
                ):
                    time.sleep(0.5)
        except KeyboardInterrupt:
            stderr.print("interrupted: stopping the nodes")
        finally:
            _stop(nodes)
