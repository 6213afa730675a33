"""``trilat analyze``: maritime and air analytics share one sub-command group."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="Run analytics over track files and print JSON events.", no_args_is_help=True
)

for _module in ("trilat.cli.analyze_maritime", "trilat.cli.analyze_air"):
    try:
        importlib.import_module(_module).register(app)
    except ModuleNotFoundError as exc:  # that area is not built yet
        if exc.name != _module:
            raise
