"""Maritime analytics at scale: encounters + loitering + gaps over ~10 M positions (SPEC §10).

Generates (and caches under ``bench/out/``) synthetic AIS traffic as CSV, then runs trilat's
batch engine end to end from the file in a fresh process and prints wall time and peak
memory; runs the straightforward pandas implementation (``bench/maritime_pandas.py``) of the
same definitions on a subset, and at full size unless it exceeds ``--baseline-timeout``;
prints the ratios and how far the two agree.

    .venv/bin/python bench/bench_maritime.py                  # 10k vessels, 10 days
    .venv/bin/python bench/bench_maritime.py --vessels 500 --days 2   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
TARGET_SECONDS = 60.0


def dataset(vessels: int, days: float, seed: int) -> Path:
    """The cached CSV for these settings, generated on first use."""
    path = OUT / f"maritime-{vessels}v-{days:g}d-s{seed}.csv"
    if path.exists():
        return path
    import numpy as np
    import pandas as pd

    from trilat.analytics.sim import generate

    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    positions, truth = generate(
        vessels=vessels,
        days=days,
        seed=seed,
        mean_interval_s=930.0,
        encounters=max(vessels // 200, 2),
        loiterers=max(vessels // 200, 2),
        dark_offshore=max(vessels // 400, 1),
        dark_in_port=max(vessels // 400, 1),
    )
    stamps = np.datetime_as_string(positions.time.astype("datetime64[s]"), unit="s")
    frame = pd.DataFrame(
        {
            "mmsi": positions.mmsi,
            "timestamp_utc": np.char.add(stamps, "Z"),
            "lat": positions.lat,
            "lon": positions.lon,
        }
    )
    partial = path.with_suffix(".part")
    frame.to_csv(partial, index=False, float_format="%.6f")
    partial.rename(path)
    truth_path = path.with_suffix(".truth.json")
    truth_path.write_text(json.dumps(truth.__dict__))
    print(
        f"generated {len(positions):,} positions in {time.perf_counter() - started:.1f} s: {path}"
    )
    return path


def subset(path: Path, vessels: int) -> Path:
    """The first *vessels* vessels (by MMSI) of a dataset, cached."""
    out = path.with_name(path.stem + f"-first{vessels}v.csv")
    if out.exists():
        return out
    import pandas as pd

    frame = pd.read_csv(path, dtype={"timestamp_utc": str})
    keep = sorted(frame["mmsi"].unique())[:vessels]
    frame[frame["mmsi"].isin(keep)].to_csv(out, index=False, float_format="%.6f")
    return out


def run_engine(engine: str, path: Path) -> dict[str, Any]:
    """Child-process body: one engine over one file; prints a JSON line with the figures."""
    started = time.perf_counter()
    cpu_started = time.process_time()
    if engine == "trilat":
        from trilat.analytics.maritime import analyze, parse_positions_csv

        positions = parse_positions_csv(path.read_bytes())
        analysis = analyze(positions)
        events = {
            "encounters": [(e.vessels, e.start, e.end) for e in analysis.encounters],
            "loitering": [(e.mmsi, e.start, e.end) for e in analysis.loitering],
            "gaps": [(g.mmsi, g.start, g.end, g.possible_disabling) for g in analysis.gaps],
        }
        rows = analysis.clean.input
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import maritime_pandas
        from trilat.analytics.maritime import default_shore_model

        found = maritime_pandas.run(path, default_shore_model())
        events = {
            "encounters": [
                (tuple(e["vessels"]), e["start"], e["end"]) for e in found["encounters"]
            ],
            "loitering": [(e["mmsi"], e["start"], e["end"]) for e in found["loitering"]],
            "gaps": [
                (g["mmsi"], g["start"], g["end"], g["possible_disabling"]) for g in found["gaps"]
            ],
        }
        rows = None
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak_mb = _peak_mb()
    return {
        "engine": engine,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_mb": peak_mb,
        "rows": rows,
        "events": {k: [list(map(_plain, e)) for e in v] for k, v in events.items()},
    }


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def measure(engine: str, path: Path, timeout: float | None = None) -> dict[str, Any] | None:
    command = [sys.executable, __file__, "--child", engine, str(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{engine} failed:\n{exc.stderr}") from None
    return json.loads(done.stdout.strip().splitlines()[-1])


def truth_scores(ours: dict[str, Any], truth_path: Path) -> str:
    """Recall and precision against what the generator planted (20 min tolerance)."""
    if not truth_path.exists():
        return "no truth file"
    truth = json.loads(truth_path.read_text())
    tol = 20 * 60

    def near(f: list[Any], p: list[Any], key: int) -> bool:
        same = list(f[:key]) == list(p[:key])
        return same and abs(f[key] - p[key]) <= tol and abs(f[key + 1] - p[key + 1]) <= tol

    found_enc = [[*e[0], e[1], e[2]] for e in ours["events"]["encounters"]]
    scores = []
    for name, found, planted, key in (
        ("encounters", found_enc, truth["encounters"], 2),
        ("loitering", ours["events"]["loitering"], truth["loitering"], 1),
    ):
        hit = sum(any(near(f, p, key) for f in found) for p in planted)
        true = sum(any(near(f, p, key) for p in planted) for f in found)
        scores.append(f"{name} recall {hit}/{len(planted)} precision {true}/{len(found)}")
    gaps = {tuple(g) for g in ours["events"]["gaps"]}
    expected = {tuple(g) for g in truth["gaps"]}
    scores.append(f"gaps {len(gaps & expected)}/{len(expected)} exact ({len(gaps)} found)")
    return ", ".join(scores)


def agreement(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    parts = []
    for kind in ("encounters", "loitering", "gaps"):
        a = {json.dumps(e) for e in ours["events"][kind]}
        b = {json.dumps(e) for e in theirs["events"][kind]}
        parts.append(f"{kind} {len(a & b)}/{len(a)} same (pandas {len(b)})")
    return ", ".join(parts)


def report(
    label: str,
    ours: dict[str, Any],
    theirs: dict[str, Any] | None,
    timeout: float,
    skipped_estimate: float | None = None,
) -> None:
    counts = {k: len(v) for k, v in ours["events"].items()}
    rows = ours["rows"]
    print(
        f"{label}: trilat {ours['wall_s']:.1f} s wall ({ours['cpu_s']:.1f} s CPU), "
        f"peak {ours['peak_mb']:.0f} MB, "
        f"{rows:,} positions ({rows / ours['wall_s']:,.0f}/s), events {counts}"
    )
    if theirs is None and skipped_estimate is not None:
        print(
            f"{label}: pandas not run: the subset's rate puts it at ≥ {skipped_estimate:.0f} s "
            f"wall (≥ {skipped_estimate / ours['wall_s']:.1f}x), beyond --baseline-timeout"
        )
        return
    if theirs is None:
        print(
            f"{label}: pandas did not finish within {timeout:.0f} s "
            f"(ratio > {timeout / ours['wall_s']:.1f}x)"
        )
        return
    print(
        f"{label}: pandas {theirs['wall_s']:.1f} s wall ({theirs['cpu_s']:.1f} s CPU), "
        f"peak {theirs['peak_mb']:.0f} MB; "
        f"ratio {theirs['wall_s'] / ours['wall_s']:.1f}x wall, "
        f"{theirs['cpu_s'] / ours['cpu_s']:.1f}x CPU, "
        f"{theirs['peak_mb'] / ours['peak_mb']:.1f}x memory"
    )
    print(f"{label}: agreement {agreement(ours, theirs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vessels", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--subset-vessels", type=int, default=1_000)
    parser.add_argument("--baseline-timeout", type=float, default=600.0)
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_engine(args.child[0], Path(args.child[1]))))
        return
    path = dataset(args.vessels, args.days, args.seed)
    small_ours = small_baseline = None
    if args.subset_vessels < args.vessels:
        small = subset(path, args.subset_vessels)
        small_ours = measure("trilat", small)
        assert small_ours is not None
        small_baseline = measure("pandas", small, args.baseline_timeout)
        report(
            f"subset ({args.subset_vessels} vessels)",
            small_ours,
            small_baseline,
            args.baseline_timeout,
        )
    ours = measure("trilat", path)
    assert ours is not None
    verdict = "meets" if ours["wall_s"] < TARGET_SECONDS else "MISSES"
    theirs = None
    skipped: float | None = None
    if small_baseline is not None and small_ours is not None:
        # pandas grows at least linearly: skip a full run that cannot finish in time
        estimate = small_baseline["wall_s"] * ours["rows"] / small_ours["rows"]
        if estimate > args.baseline_timeout:
            skipped = estimate
        else:
            theirs = measure("pandas", path, args.baseline_timeout)
    else:
        theirs = measure("pandas", path, args.baseline_timeout)
    label = f"full ({args.vessels} vessels, {args.days:g} days)"
    report(label, ours, theirs, args.baseline_timeout, skipped)
    print(f"full: against the planted truth: {truth_scores(ours, path.with_suffix('.truth.json'))}")
    print(
        f"target < {TARGET_SECONDS:.0f} s on 2 cores: {verdict} ({ours['wall_s']:.1f} s wall, "
        f"{ours['cpu_s']:.1f} s CPU; load average {os.getloadavg()[0]:.1f} on this machine)"
    )


if __name__ == "__main__":
    main()
