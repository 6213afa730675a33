"""The README's Python transcript runs as written."""

from __future__ import annotations

import doctest
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_transcript_runs_as_written() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```pycon\n")[1:]]
    assert blocks, "the README has no pycon transcript"
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for number, block in enumerate(blocks):
        test = parser.get_doctest(block, {}, f"README block {number}", str(README), 0)
        runner.run(test)
    assert runner.failures == 0


def test_readme_names_the_two_commands_first() -> None:
    head = README.read_text(encoding="utf-8")[:1200]
    assert "make demo" in head
    assert "make test" in head
