"""Turn trilat errors into one red line on stderr and the contract's exit codes."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
import typer
from rich.console import Console

from trilat.core.errors import DecodeError, LabelError, TrilatError

stderr = Console(stderr=True, highlight=False)

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(TrilatError, ValueError):
    """A command-line argument is malformed: names the token."""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print *message* as one red line and return the Exit to raise."""
    stderr.print(f"[red]error:[/red] {message}", markup=True, soft_wrap=True)
    return typer.Exit(code)


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, LabelError | DecodeError | BadInput | ValueError):
        return EXIT_BAD_INPUT
    return EXIT_FAILURE


def run_guarded(app: Any) -> int:
    """Run the Typer app; a TrilatError becomes a message, never a traceback."""
    debug = "--debug" in sys.argv or os.environ.get("TRILAT_DEBUG") == "1"
    if "--debug" in sys.argv:
        sys.argv.remove("--debug")
    try:
        # Without standalone mode click *returns* the code of a raised typer.Exit
        # (e.g. from fail()) instead of raising it; a command's own return value is None.
        returned = app(standalone_mode=False)
    except (click.exceptions.Exit, typer.Exit) as exc:
        return int(exc.exit_code or 0)
    except (click.exceptions.Abort, typer.Abort):
        stderr.print("aborted")
        return EXIT_FAILURE
    except click.ClickException as exc:  # usage errors: bad option, missing argument
        exc.show()
        return EXIT_BAD_INPUT
    except typer.TyperException as exc:  # the same, from the click that typer vendors
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            stderr.print(f"error: {exc}", markup=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    except TrilatError as exc:
        if debug:
            raise
        stderr.print(f"[red]error:[/red] {exc}", markup=True, soft_wrap=True)
        return exit_code_for(exc)
    except (OSError, ConnectionError) as exc:
        if debug:
            raise
        stderr.print(f"[red]error:[/red] {exc}", markup=True, soft_wrap=True)
        return EXIT_FAILURE
    return returned if isinstance(returned, int) else EXIT_OK
