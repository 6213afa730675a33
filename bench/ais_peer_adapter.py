"""trilat's AIS decoders as plug-ins for the shared peer harness (``ais_bench.py``).

    PYTHONPATH=/work/main/src:/work/main/bench python ais_bench.py --corpus corpus.nmea \\
        --decoder pyais=ais_adapters:pyais_adapter \\
        --decoder trilat=ais_peer_adapter:make \\
        --decoder trilat-stream=ais_peer_adapter:make_stream

``make`` decodes the whole list of lines with ``Decoder.decode_batch`` (numpy columns);
``make_stream`` feeds them one by one to ``Decoder.feed``. Both reassemble multi-sentence
messages and validate every checksum (pyais's stream does not check checksums).
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import trilat
except ImportError:  # run from a checkout without installing: use its src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import trilat

from trilat.adapters.ais import Decoder


class BatchAdapter:
    """``Decoder.decode_batch`` over the whole corpus: one columnar pass."""

    name = "trilat"

    def __init__(self) -> None:
        self.version = getattr(trilat, "__version__", "dev")
        self.errors = 0

    def decode(self, lines: list[bytes]) -> int:
        decoder = Decoder()
        count = len(decoder.decode_batch(lines))
        decoder.flush()
        self.errors = decoder.stats.bad
        return count

    def to_dicts(self, lines: list[bytes]) -> int:
        decoder = Decoder()
        count = len(decoder.decode_batch(lines).to_dicts())
        decoder.flush()
        self.errors = decoder.stats.bad
        return count


class StreamAdapter:
    """``Decoder.feed`` line by line: the per-message path a live feed uses."""

    name = "trilat-stream"

    def __init__(self) -> None:
        self.version = getattr(trilat, "__version__", "dev")
        self.errors = 0

    def decode(self, lines: list[bytes]) -> int:
        decoder = Decoder()
        feed = decoder.feed
        count = 0
        for line in lines:
            if feed(line) is not None:
                count += 1
        decoder.flush()
        self.errors = decoder.stats.bad
        return count

    def to_dicts(self, lines: list[bytes]) -> int:
        # Decoder.feed already returns each message as a dict.
        return self.decode(lines)


def make() -> BatchAdapter:
    return BatchAdapter()


def make_stream() -> StreamAdapter:
    return StreamAdapter()
