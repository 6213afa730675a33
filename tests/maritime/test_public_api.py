"""The maritime package's public surface is exactly its ``__all__``; layering holds."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import trilat.analytics.maritime as maritime

PACKAGE = Path(maritime.__file__).parent


def test_maritime_exports_exactly_its_public_names() -> None:
    names = {n for n, v in vars(maritime).items() if not inspect.ismodule(v)}
    assert {n for n in names if not n.startswith("_")} == set(maritime.__all__)


def test_analytics_import_only_core_from_trilat() -> None:
    files = [*PACKAGE.glob("*.py"), PACKAGE.parent / "sim.py"]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("trilat")
            ):
                assert node.module.startswith(("trilat.core", "trilat.analytics.maritime")), (
                    f"{path.name} imports {node.module}"
                )


def test_no_clock_or_environment_is_read() -> None:
    for path in PACKAGE.glob("*.py"):
        text = path.read_text()
        for forbidden in ("time.time(", "datetime.now(", "os.environ", "date.today("):
            assert forbidden not in text, f"{path.name} uses {forbidden}"
