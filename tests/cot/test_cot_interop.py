"""Client mode against a real TAK server (taky), when the peer benchmark's venv is installed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cot.conftest import CLEARED, FOREIGN, TakClient, position, run, start_relay, until
from trilat.adapters.cot import decode_event
from trilat.core.labels import parse_label

TAKY = Path(os.environ.get("PEER_VENVS", "/tmp/peer-bench/venvs")) / "taky" / "bin" / "taky"  # noqa: S108


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def taky(tmp_path: Path) -> Iterator[int]:
    if not TAKY.exists():
        pytest.skip(f"taky is not installed at {TAKY}")
    port = _free_port()
    (tmp_path / "taky.conf").write_text(
        "[taky]\nhostname = interop.local\nnode_id = INTEROP\n"
        f"bind_ip = 127.0.0.1\nroot_dir = .\n\n[cot_server]\nport = {port}\n\n"
        "[dp_server]\nupload_path = ./dp\n\n[ssl]\nenabled = false\n"
    )
    process = subprocess.Popen(
        [str(TAKY), "-c", "taky.conf", "-l", "error"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(200):  # up to 20 s for taky to listen
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail("taky exited at start")
                time.sleep(0.1)  # polling the port: taky has no readiness signal
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_a_link_to_taky_relays_both_ways_and_filters_what_leaves(taky: int) -> None:
    async def scenario() -> None:
        relay = await start_relay({"ops": ("UNCLASSIFIED", CLEARED)})
        await relay.server.connect(
            "127.0.0.1", taky, label=parse_label("UNCLASSIFIED", owner="JPN"), viewer=FOREIGN
        )
        ours = await TakClient.open(f"tcp://127.0.0.1:{relay.ports['ops']}")
        theirs = await TakClient.open(f"tcp://127.0.0.1:{taky}")
        await until(lambda: len(relay.server.clients) == 2, "our client and the link")
        await theirs.send(position("taky-user", callsign="TAKY-1"))
        event = decode_event(await ours.receive())
        assert (event.uid, event.access) == ("taky-user", "UNCLASSIFIED")
        await ours.send(position("our-noforn", trilat="SECRET//NOFORN"))
        await ours.send(position("our-open", callsign="OURS"))
        got = [decode_event(e).uid for e in await theirs.receive_until(b'uid="our-open"')]
        assert got == ["our-open"]
        for client in (ours, theirs):
            await client.close()
        await relay.server.close()

    run(scenario())
