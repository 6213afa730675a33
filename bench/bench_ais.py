"""AIS decoding: trilat against pyais on the same corpus, one core, rates and ratios.

    .venv/bin/python bench/bench_ais.py [--sentences 200000] [--passes 3] [--rebuild]

The corpus is made with pyais's encoder (``pyais.encode_dict``) and cached under
``bench/out/``: a fleet of class A and B vessels, base stations and aids to navigation in
the Sea of Japan, the Yellow Sea and the East China Sea, with a receiver's usual mix
(class A positions most, then class B, static data, two-sentence voyage reports).

Measured, by CPU time of this process, best of ``--passes``:

- pyais: ``IterMessages`` + ``decode()`` (objects), and + ``asdict()`` (dicts);
- trilat per message: ``Decoder.feed`` line by line (returns dicts);
- trilat batch: ``Decoder.decode_batch`` (numpy columns), and + ``to_dicts()``.

Each on the position reports (types 1, 2, 3, 18), on the rest, and on everything; every
decoder must produce the same number of messages. trilat also checks every checksum,
which pyais's stream does not.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyais
from pyais.exceptions import AISBaseException

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from trilat.adapters.ais import Decoder

OUT = Path(__file__).resolve().parent / "out"
POSITION_TYPES = frozenset({1, 2, 3, 18})
SEAS = (  # (south, north, west, east)
    (35.0, 44.0, 129.0, 139.5),  # Sea of Japan
    (33.0, 39.0, 119.5, 126.0),  # Yellow Sea
    (25.0, 33.0, 121.0, 129.5),  # East China Sea
)
FLAGS = (431, 432, 440, 441, 412, 413, 414, 416, 273, 445, 351, 636, 538, 477)
PORTS = ("BUSAN", "INCHEON", "ULSAN", "TOKYO", "YOKOHAMA", "KOBE", "NIIGATA", "MAIZURU",
         "SHANGHAI", "NINGBO", "QINGDAO", "DALIAN", "VLADIVOSTOK", "NAMPO", "KEELUNG")  # fmt: skip
WORDS = ("HANJIN", "KOREA", "MARU", "STAR", "OCEAN", "PACIFIC", "HYUNDAI", "NIPPON", "COSCO",
         "HAE", "SUN", "DAWN", "GLORY", "PIONEER", "EXPRESS", "NO", "7")  # fmt: skip
MIX = ((1, 40), (2, 4), (3, 14), (18, 16), (5, 8), (24, 9), (19, 2), (27, 2), (4, 3), (21, 2))


class Vessel:
    def __init__(self, rnd: random.Random, class_b: bool) -> None:
        south, north, west, east = rnd.choice(SEAS)
        self.mmsi = rnd.choice(FLAGS) * 1_000_000 + rnd.randrange(1_000_000)
        self.lat, self.lon = rnd.uniform(south, north), rnd.uniform(west, east)
        self.class_b = class_b
        self.speed = round(rnd.uniform(0, 16 if class_b else 22), 1)
        self.course = rnd.uniform(0, 360)
        self.name = " ".join(rnd.sample(WORDS, 2))[:20]
        self.callsign = f"{rnd.choice('JDHB3')}{rnd.choice('ABCDEFGHLNRS')}{rnd.randrange(10**4)}"
        self.ship_type = rnd.choice((30, 31, 52, 60, 70, 71, 79, 80, 84, 89, 37))
        self.imo = 9_000_000 + rnd.randrange(999_999)
        self.size = (rnd.randrange(5, 250), rnd.randrange(5, 60), rnd.randrange(2, 30),
                     rnd.randrange(2, 30))  # fmt: skip
        self.destination = rnd.choice(PORTS)
        self.draught = round(rnd.uniform(2, 16), 1)

    def step(self, rnd: random.Random) -> None:
        self.course = (self.course + rnd.uniform(-4, 4)) % 360
        self.lat = min(44.5, max(24.5, self.lat + rnd.uniform(-1, 1) * self.speed * 1e-4))
        self.lon = min(141.0, max(119.0, self.lon + rnd.uniform(-1, 1) * self.speed * 1e-4))


def _message(rnd: random.Random, msg_type: int, v: Vessel, second: int) -> dict[str, Any]:
    where = {"lat": round(v.lat, 5), "lon": round(v.lon, 5)}
    motion = {"speed": v.speed, "course": round(v.course, 1), "heading": int(v.course) % 360}
    if msg_type in (1, 2, 3):
        return {"msg_type": msg_type, "mmsi": v.mmsi, **where, **motion, "second": second,
                "status": rnd.choice((0, 0, 0, 1, 5, 7, 8)), "turn": rnd.randrange(-30, 31),
                "accuracy": rnd.random() < 0.4, "radio": rnd.getrandbits(19)}  # fmt: skip
    if msg_type == 18:
        return {"msg_type": 18, "mmsi": v.mmsi, **where, **motion, "second": second, "cs": True,
                "band": True, "msg22": True, "radio": rnd.getrandbits(20)}  # fmt: skip
    if msg_type == 19:
        return {"msg_type": 19, "mmsi": v.mmsi, **where, **motion, "second": second,
                "shipname": v.name, "ship_type": v.ship_type, "epfd": 1}  # fmt: skip
    if msg_type == 27:
        return {"msg_type": 27, "mmsi": v.mmsi, **where, "speed": min(62, int(v.speed)),
                "course": int(v.course), "status": 0}  # fmt: skip
    if msg_type == 5:
        bow, stern, port, starboard = v.size
        return {"msg_type": 5, "mmsi": v.mmsi, "imo": v.imo, "callsign": v.callsign,
                "shipname": v.name, "ship_type": v.ship_type, "to_bow": bow, "to_stern": stern,
                "to_port": port, "to_starboard": starboard, "epfd": 1,
                "month": rnd.randrange(1, 13), "day": rnd.randrange(1, 29),
                "hour": rnd.randrange(24), "minute": rnd.randrange(60), "draught": v.draught,
                "destination": v.destination}  # fmt: skip
    if msg_type == 24:
        if rnd.random() < 0.5:
            return {"msg_type": 24, "mmsi": v.mmsi, "partno": 0, "shipname": v.name}
        bow, stern, port, starboard = v.size
        return {"msg_type": 24, "mmsi": v.mmsi, "partno": 1, "ship_type": v.ship_type,
                "vendorid": "SRT", "model": 2, "serial": rnd.getrandbits(20),
                "callsign": v.callsign, "to_bow": bow, "to_stern": stern, "to_port": port,
                "to_starboard": starboard}  # fmt: skip
    if msg_type == 4:
        return {"msg_type": 4, "mmsi": rnd.choice(FLAGS) * 10_000 + rnd.randrange(10_000),
                "year": 2024, "month": 3, "day": 1, "hour": 12, "minute": second % 60,
                "second": second, **where, "epfd": 7, "radio": rnd.getrandbits(19)}  # fmt: skip
    return {"msg_type": 21, "mmsi": 990_000_000 + rnd.randrange(10**6), "aid_type": 30,
            "name": v.name, **where, "epfd": 7, "second": second}  # fmt: skip


def build_corpus(path: Path, sentences: int, seed: int = 20241128) -> None:
    rnd = random.Random(seed)
    class_a = [Vessel(rnd, False) for _ in range(3000)]
    class_b = [Vessel(rnd, True) for _ in range(1000)]
    types = [t for t, _ in MIX]
    weights = [w for _, w in MIX]
    lines: list[str] = []
    sequence = 0
    tick = 0
    while len(lines) < sentences:
        msg_type = rnd.choices(types, weights)[0]
        vessel = rnd.choice(class_b if msg_type in (18, 19, 24) else class_a)
        vessel.step(rnd)
        tick += 1
        channel = rnd.choice("AB")
        sequence = (sequence + 1) % 10
        lines += pyais.encode_dict(_message(rnd, msg_type, vessel, tick % 60), talker_id="AI",
                                   sentence_type="VDM", radio_channel=channel,
                                   seq_id=sequence)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


def split_corpus(lines: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(position report sentences, every other sentence), by each message's type.

    Position reports are single sentences whose payload starts with the armour of type 1, 2,
    3 or 18 ('1', '2', '3', 'B'); fragments of multi-sentence messages all go to the rest.
    """
    positions, rest = [], []
    for line in lines:
        fields = line.split(b",")
        single = fields[1] == b"1"
        (positions if single and fields[5][:1] in (b"1", b"2", b"3", b"B") else rest).append(line)
    return positions, rest


def best_of(passes: int, run: Callable[[], int]) -> tuple[float, int]:
    """Fastest CPU time of *passes* runs, and the message count (checked constant)."""
    counts, times = set(), []
    run()  # warm-up
    for _ in range(passes):
        gc.collect()
        start = time.process_time()
        counts.add(run())
        times.append(time.process_time() - start)
    if len(counts) != 1:
        raise SystemExit(f"message counts differ between passes: {counts}")
    return min(times), counts.pop()


def pyais_objects(lines: list[bytes]) -> int:
    count = 0
    for nmea in pyais.IterMessages(lines):
        try:
            nmea.decode()
        except AISBaseException:
            continue
        count += 1
    return count


def pyais_dicts(lines: list[bytes]) -> int:
    count = 0
    for nmea in pyais.IterMessages(lines):
        try:
            nmea.decode().asdict()
        except AISBaseException:
            continue
        count += 1
    return count


def trilat_feed(lines: list[bytes]) -> int:
    feed = Decoder().feed
    return sum(1 for line in lines if feed(line) is not None)


def trilat_batch(lines: list[bytes]) -> int:
    return len(Decoder().decode_batch(lines))


def trilat_batch_dicts(lines: list[bytes]) -> int:
    return len(Decoder().decode_batch(lines).to_dicts())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=200_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="make the corpus again")
    parser.add_argument("--json", action="store_true", help="also print one JSON line per row")
    parser.add_argument("--out", type=Path, default=OUT, help="where the corpus is cached")
    args = parser.parse_args()
    if not 1_000 <= args.sentences <= 5_000_000 or not 1 <= args.passes <= 20:
        raise SystemExit("--sentences must be 1,000..5,000,000 and --passes 1..20")
    corpus = args.out / f"ais-corpus-{args.sentences}.nmea"
    if args.rebuild or not corpus.exists():
        started = time.perf_counter()
        build_corpus(corpus, args.sentences)
        print(f"built {corpus} in {time.perf_counter() - started:.1f} s")
    lines = [line for line in corpus.read_bytes().splitlines() if line]
    positions, rest = split_corpus(lines)
    by_type = Counter(d["msg_type"] for d in Decoder().decode_batch(lines).to_dicts())
    mix = ", ".join(f"{t}: {n}" for t, n in sorted(by_type.items()))
    print(f"corpus {corpus.name}: {len(lines):,} sentences, {sum(by_type.values()):,} messages "
          f"({mix}); best of {args.passes} passes, CPU time, one core")  # fmt: skip
    header = (f"{'messages':<22}{'decoder':<26}{'msgs/s':>12}{'pyais msgs/s':>14}"
              f"{'ratio':>8}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for label, subset in (("position (1,2,3,18)", positions), ("the rest", rest),
                          ("all", lines)):  # fmt: skip
        objects, n_objects = best_of(args.passes, lambda s=subset: pyais_objects(s))
        dicts, n_dicts = best_of(args.passes, lambda s=subset: pyais_dicts(s))
        rows = (
            ("trilat feed (dicts)", trilat_feed, dicts, "pyais decode+asdict"),
            ("trilat batch (columns)", trilat_batch, objects, "pyais decode"),
            ("trilat batch+to_dicts", trilat_batch_dicts, dicts, "pyais decode+asdict"),
        )
        print(f"{label:<22}{'pyais decode':<26}{n_objects / objects:>12,.0f}")
        print(f"{'':<22}{'pyais decode+asdict':<26}{n_dicts / dicts:>12,.0f}")
        for name, run, baseline, baseline_name in rows:
            seconds, count = best_of(args.passes, lambda r=run, s=subset: r(s))
            if count != n_objects:
                raise SystemExit(f"{name}: {count} messages, pyais {n_objects}, on {label}")
            ratio = baseline / seconds
            print(f"{'':<22}{name:<26}{count / seconds:>12,.0f}{count / baseline:>14,.0f}"
                  f"{ratio:>7.1f}x")  # fmt: skip
            if args.json:
                print(json.dumps({"bench": "ais", "messages": label, "decoder": name,
                                  "msgs_per_s": round(count / seconds),
                                  "baseline": baseline_name,
                                  "baseline_msgs_per_s": round(count / baseline),
                                  "ratio": round(ratio, 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
