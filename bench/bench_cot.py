"""CoT relay: trilat against taky, side by side, through the shared peer harness.

Starts taky (``peers.py serve taky``) and ``trilat cot serve`` on 127.0.0.1, runs the shared
``cot_bench.py`` against both targets in one invocation (scenarios interleaved, so a noisy
neighbour hits both), then prints delivered events/s, p50/p99 latency and loss for each, and
the throughput ratio. Both servers are stopped by their own process ids.

    .venv/bin/python bench/bench_cot.py                 # default scenarios
    .venv/bin/python bench/bench_cot.py --quick         # a short run while developing

The harness lives in ``../shared/bench/peers`` (``TRILAT_PEERS``), its virtual environments in
``/tmp/peer-bench/venvs`` (``PEER_VENVS``); without them the benchmark says so and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEERS = Path(os.environ.get("TRILAT_PEERS", REPO.parent / "shared" / "bench" / "peers"))
VENVS = Path(os.environ.get("PEER_VENVS", "/tmp/peer-bench/venvs"))  # noqa: S108 - harness default
TRILAT = REPO / ".venv" / "bin" / "trilat"

DEFAULT_SCENARIOS = [
    ("--burst", "1,1,100000"),
    ("--burst", "1,4,50000"),
    ("--burst", "1,10,30000"),
    ("--burst", "4,4,10000"),
    ("--rate", "1,1,500,10"),
    ("--rate", "2,8,500,10"),
]
QUICK_SCENARIOS = [("--burst", "1,1,20000"), ("--burst", "1,4,5000"), ("--rate", "1,1,500,3")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_line(process: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """The first stdout line of *process* that starts with *prefix* (bounded in time)."""
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(prefix):
            return line.strip()
        if not line and process.poll() is not None:
            break
    raise RuntimeError(f"no {prefix!r} line from {process.args!r}")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short scenarios")
    parser.add_argument("--json-out", help="keep the harness's JSON lines here")
    args = parser.parse_args()

    client = VENVS / "client" / "bin" / "python"
    if not (PEERS / "cot_bench.py").is_file() or not client.is_file():
        print(f"peer harness not found ({PEERS}, {client}); see its README", file=sys.stderr)
        return 1
    scenarios = QUICK_SCENARIOS if args.quick else DEFAULT_SCENARIOS
    with tempfile.TemporaryDirectory(prefix="bench-cot-") as work:
        json_out = args.json_out or str(Path(work) / "cot.jsonl")
        taky = subprocess.Popen(
            [
                str(client),
                "peers.py",
                "serve",
                "taky",
                "--venvs",
                str(VENVS),
                "--workdir",
                str(Path(work) / "taky"),
                "--port",
                str(free_port()),
            ],
            cwd=PEERS,
            stdout=subprocess.PIPE,
            text=True,
        )
        ours = subprocess.Popen(
            [str(TRILAT), "cot", "serve", "--listen", "127.0.0.1:0", "--node-nation", "USA"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "TRILAT_LOG_LEVEL": "ERROR"},
        )
        try:
            taky_target = read_line(taky, "TARGET ", 60).split(" ", 1)[1]
            address = read_line(ours, "listening ", 30).split(" ", 1)[1]
            ours_target = f"trilat={address},pid={ours.pid}"
            command = [
                str(client),
                "cot_bench.py",
                "--target",
                taky_target,
                "--target",
                ours_target,
                "--json-out",
                json_out,
            ]
            for option, value in scenarios:
                command += [option, value]
            subprocess.run(command, cwd=PEERS, check=True, stdout=subprocess.DEVNULL, timeout=1800)
        finally:
            stop(ours)
            stop(taky)
        records = [json.loads(line) for line in Path(json_out).read_text().splitlines()]
    report([r for r in records if r.get("bench") == "cot" and "scenario" in r])
    return 0


def report(records: list[dict[str, object]]) -> None:
    """One row per scenario and target; the ratio rows compare trilat with taky.

    ``per CPU-s`` is events delivered per second of server CPU (whole process tree), which
    stays meaningful when the shared bench client, not the server, limits the rate.
    """
    by_scenario: dict[str, dict[str, dict[str, object]]] = {}
    for record in records:
        by_scenario.setdefault(str(record["scenario"]), {})[str(record["target"])] = record
    header = (
        f"{'scenario':<22} {'target':<7} {'deliv/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'lost':>6} {'srvCPU%':>8} {'per CPU-s':>10}"
    )
    print(header)
    print("-" * len(header))
    for scenario, targets in by_scenario.items():
        for name in ("taky", "trilat"):
            r = targets.get(name)
            if r is None:
                continue
            print(
                f"{scenario:<22} {name:<7} {fmt(r.get('delivered_per_s'), ',.0f'):>10} "
                f"{fmt(r.get('lat_p50_ms'), '.1f'):>8} {fmt(r.get('lat_p99_ms'), '.1f'):>8} "
                f"{fmt(r.get('lost'), 'd'):>6} {fmt(r.get('server_cpu_pct'), '.0f'):>8} "
                f"{fmt(efficiency(r), ',.0f'):>10}"
            )
        theirs, mine = targets.get("taky", {}), targets.get("trilat", {})
        rate = ratio(mine.get("delivered_per_s"), theirs.get("delivered_per_s"))
        cpu = ratio(efficiency(mine), efficiency(theirs))
        if rate is not None:
            print(f"{'':<22} {'ratio':<7} {rate:>9.1f}x {'':>35} {fmt(cpu, '.1f'):>9}x")


def efficiency(record: dict[str, object]) -> float | None:
    """Delivered events per server CPU-second, when the window is long enough to measure.

    The harness samples the server's CPU every 0.25 s, so a window under a second (or under
    0.1 CPU-s) gives no usable figure.
    """
    delivered, cpu = record.get("delivered"), record.get("server_cpu_s")
    duration = record.get("duration_s")
    if not isinstance(duration, int | float) or duration < 1.0:
        return None
    if isinstance(delivered, int | float) and isinstance(cpu, int | float) and cpu >= 0.1:
        return delivered / cpu
    return None


def ratio(mine: object, theirs: object) -> float | None:
    if isinstance(mine, int | float) and isinstance(theirs, int | float) and theirs:
        return mine / theirs
    return None


def fmt(value: object, spec: str) -> str:
    if isinstance(value, bool) or value is None:
        return "-"
    if isinstance(value, int | float):
        return format(value, spec) if not (spec == "d" and isinstance(value, float)) else str(value)
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
