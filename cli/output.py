"""How every command talks back: a Rich table or plain text on a terminal, one JSON envelope with --json,
errors on stderr with a hint, and named exit codes.

Data is not markup. What the CLI prints comes largely from users (names, emails, webhook payloads, audit
entries), so every table cell, title, progress line and error message goes through `safe()`: control and
bidirectional-formatting characters are written out as escapes (`printable()`: ESC is shown as `\\x1b`,
U+202E as `\\u202e`) instead of acting on the operator's terminal, and Rich markup in the text (`[link=…]`,
`[red]`) is shown literally. The JSON envelope needs neither: json.dumps with ensure_ascii writes every
control and non-ASCII character as a `\\uXXXX` escape.

Exit codes (documented in the README):
    0 OK          the command did what was asked
    1 FAILURE     it could not (database down, provider error, a refused change)
    2 USAGE       bad arguments (Typer/Click uses 2 as well)
    3 NOT_FOUND   the thing named does not exist
    4 DRIFT       a check failed: pending migrations, drift, a failing doctor check
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import IntEnum
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape as escape_markup
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
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
    """The stable machine-readable shape of every --json answer. ensure_ascii stays on: it is what keeps
    control and bidi characters from users out of the raw output (they arrive as \\uXXXX escapes)."""
    return json.dumps(
        {"ok": error is None, "data": data, "error": error}, default=str, indent=2, ensure_ascii=True
    )


# What must never reach a terminal raw from data: C0 controls (ESC starts escape sequences that retitle or
# recolour a terminal, CR and LF forge lines), DEL, C1 controls (U+009B is a one-byte CSI to some terminals),
# the line and paragraph separators, and the bidirectional-formatting characters (U+202E reverses how the
# rest of a line reads). The database refuses the same set in new names (private.is_display_text); rows
# written before that, or by other means, may still hold them.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str) -> str:
    """`text` with each control and bidi character written out as an escape (`\\x1b`, `\\r`, `\\u202e`), for
    output that is not Rich markup (plain lines on stdout)."""
    return _UNPRINTABLE.sub(_escape_char, text)


def safe(text: Any) -> str:
    """`text` ready for Rich: control and bidi characters escaped (printable), and markup shown literally."""
    return escape_markup(printable(str(text)))


def emit_json(data: Any, *, failed: tuple[ExitCode, str] | None = None) -> None:
    """The envelope on stdout. `failed` (exit code, message) when the command is about to exit non-zero
    having still produced data (a failed check, a partial batch): `ok` is then false and `error` says why."""
    error = {"code": failed[0].name.lower(), "message": failed[1], "hint": None} if failed else None
    sys.stdout.write(envelope(data, error) + "\n")


def fail(
    message: str, *, hint: str | None = None, code: ExitCode = ExitCode.FAILURE, as_json: bool = False
) -> NoReturn:
    """Report an error on stderr (and as an envelope on stdout with --json) and exit with `code`."""
    if as_json:
        sys.stdout.write(envelope(error={"code": code.name.lower(), "message": message, "hint": hint}) + "\n")
    stderr.print(f"[bold red]error:[/] {safe(message)}", highlight=False, soft_wrap=True)
    if hint:
        stderr.print(f"[dim]hint:[/] {safe(hint)}", highlight=False, soft_wrap=True)
    raise typer.Exit(int(code))


_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$")


def cell(value: Any) -> str:
    """A table cell: empty for None, timestamps to the second (`2026-11-22 08:17:59Z`), anything else made
    safe for Rich (see `safe`); JSON keeps all."""
    if value is None:
        return ""
    text = str(value)
    match = _TIMESTAMP.match(text)
    if match:
        zone = "Z" if match.group(3) in ("Z", "+00:00") else match.group(3)
        return f"{match.group(1)} {match.group(2)}{zone}"
    return safe(text)


# Identifiers people copy from a table into the next command: never shortened, whatever the width.
_IDENTIFIER = re.compile(
    r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Z]{2,}-\d{8}-[0-9A-Z]+|[a-z]+_[0-9A-Za-z]{8,})$"
)


def _show(grid: Table) -> None:
    """Off a terminal (a pipe, a file) nothing limits the width, so a table gets the width it needs
    instead of Rich's default 80 columns, and lines are never cut."""
    if stdout.is_terminal:
        stdout.print(grid)
        return
    needed = stdout.measure(grid, options=stdout.options.update_width(100_000)).maximum
    # Rich caps a print's width at its console's: a console as wide as the table, writing where stdout does.
    Console(width=max(needed, stdout.width), no_color=stdout.no_color).print(grid)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    """A Rich table. A column holding identifiers (UUIDs, order ids, provider ids) keeps its full width
    even on a narrow terminal (the others wrap): ids are what people copy into the next command."""
    cells = [[cell(value) for value in row] for row in rows]
    grid = Table(title=None if title is None else safe(title))
    for index, name in enumerate(columns):
        values = [row[index] for row in cells]
        ids = [v for v in values if _IDENTIFIER.match(v)]
        widest = max((len(v) for v in ids), default=0)
        grid.add_column(name, min_width=widest or None, no_wrap=bool(ids))
    for row in cells:
        grid.add_row(*row)
    _show(grid)


def key_values(pairs: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
    grid = Table(show_header=False, title=None if title is None else safe(title))
    for key, value in pairs:
        grid.add_row(cell(key), cell(value))
    _show(grid)


def progress(message: str) -> None:
    """A step of a long operation, on stderr so stdout stays clean for pipes."""
    stderr.print(f"[cyan]•[/] {safe(message)}", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr for work over many items; yields `advance()`. Shown only on a terminal and
    for two items or more, and cleared when done, so pipes and logs see only the result."""
    with Progress(
        TextColumn("[cyan]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=total < 2 or not stderr.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


def render(as_json: bool, data: Any, show: Callable[[], None]) -> None:
    """The envelope with --json, else whatever `show` prints (a table, key/value pairs)."""
    if as_json:
        emit_json(data)
    else:
        show()
