"""How every command talks back: a Rich table or plain text on a terminal, one JSON envelope with --json,
errors on stderr with a hint, and named exit codes.

Exit codes (documented in the README):
    0 OK          the command did what was asked
    1 FAILURE     it could not (database down, provider error, a refused change)
    2 USAGE       bad arguments (Typer/Click uses 2 as well)
    3 NOT_FOUND   the thing named does not exist
    4 DRIFT       a check failed: pending migrations, drift, a failing doctor check
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from enum import IntEnum
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

stdout = Console()
stderr = Console(stderr=True)


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3
    DRIFT = 4


def envelope(data: Any = None, error: Mapping[str, Any] | None = None) -> str:
    """The stable machine-readable shape of every --json answer."""
    return json.dumps({"ok": error is None, "data": data, "error": error}, default=str, indent=2)


def emit_json(data: Any) -> None:
    sys.stdout.write(envelope(data) + "\n")


def fail(
    message: str, *, hint: str | None = None, code: ExitCode = ExitCode.FAILURE, as_json: bool = False
) -> NoReturn:
    """Report an error on stderr (and as an envelope on stdout with --json) and exit with `code`."""
    if as_json:
        sys.stdout.write(envelope(error={"code": code.name.lower(), "message": message, "hint": hint}) + "\n")
    stderr.print(f"[bold red]error:[/] {message}", highlight=False)
    if hint:
        stderr.print(f"[dim]hint:[/] {hint}", highlight=False)
    raise typer.Exit(int(code))


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    grid = Table(*columns, title=title)
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    stdout.print(grid)


def key_values(pairs: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
    grid = Table(show_header=False, title=title)
    for key, value in pairs:
        grid.add_row(key, "" if value is None else str(value))
    stdout.print(grid)


def progress(message: str) -> None:
    """A step of a long operation, on stderr so stdout stays clean for pipes."""
    stderr.print(f"[cyan]•[/] {message}", highlight=False)
