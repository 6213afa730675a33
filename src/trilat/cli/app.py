"""The ``trilat`` command: one Typer app with a sub-app per area.

Exit codes are part of the contract: 0 success, 1 operational failure, 2 bad input.
Each area registers its commands in its own module; this file only wires them.
"""

from __future__ import annotations

import importlib
import sys

import typer

from trilat.cli.errors import run_guarded

app = typer.Typer(
    name="trilat",
    help="Federated, label-enforcing information sharing for allied partners.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, attribute, sub-command name or None to merge its commands at top level)
_AREAS: tuple[tuple[str, str, str | None], ...] = (
    ("trilat.cli.label", "app", "label"),
    ("trilat.cli.policy", "app", "policy"),
    ("trilat.cli.agreements", "app", "agreements"),
    ("trilat.cli.analyze", "app", "analyze"),
    ("trilat.cli.ais", "app", "ais"),
    ("trilat.cli.cot", "app", "cot"),
    ("trilat.cli.export", "app", "export"),
    ("trilat.cli.import_", "app", "import"),
    ("trilat.cli.demo", "register", None),
    ("trilat.cli.node", "register", None),
    ("trilat.cli.peer", "register", None),
)


def _wire() -> None:
    for module_name, attribute, name in _AREAS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # area not built yet
                continue
            raise
        target = getattr(module, attribute)
        if name is None:
            target(app)
        else:
            app.add_typer(target, name=name)


_wire()


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_guarded(app))
