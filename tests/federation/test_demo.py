"""``trilat demo`` runs three real nodes, replays the scenario, prints who holds what and
why, and leaves no process behind."""

from __future__ import annotations

import os
import re
import subprocess

import httpx

from tests.federation.support import TRILAT


def test_demo_relays_through_the_hub_in_2015_goes_direct_in_2017_and_stops_its_nodes() -> None:
    completed = subprocess.run(
        [TRILAT, "demo"],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
        env={**os.environ, "COLUMNS": "220", "NO_COLOR": "1"},
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    rows = out[out.index("what each node holds") :].split("├")
    relayed = next(row for row in rows if "JPN missile report (2015)" in row)
    assert "held via JPN → USA → KOR" in relayed
    assert "consented" in relayed
    direct = next(row for row in rows if "JPN missile report (2017)" in row)
    assert "held via JPN → KOR" in direct
    assert "GSOMIA-JPN-KOR-2016" in direct
    noforn = next(row for row in rows if "JPN NOFORN note" in row)
    assert noforn.count("not held") == 2
    assert "MWDS-2023" in out
    urls = re.findall(r"(http://127\.0\.0\.1:\d+)/\s+admin token", out)
    assert len(urls) == 3
    for url in urls:  # every node the demo started is gone
        try:
            httpx.get(url + "/api/v1/health", timeout=2.0)
        except httpx.TransportError:
            continue
        raise AssertionError(f"{url} still answers after the demo")
