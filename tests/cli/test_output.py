"""The CLI's output helpers: table cells, amounts, times, and the progress bar on a terminal."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import typer
from rich.console import Console

from thinbase.cli import output
from thinbase.cli.common import money, parse_duration, parse_instant


def test_cells_shorten_timestamps_only() -> None:
    assert output.cell(None) == ""
    assert output.cell("2026-11-22T08:17:59.636049+00:00") == "2026-11-22 08:17:59Z"
    assert output.cell("2026-11-22T08:17:59+07:00") == "2026-11-22 08:17:59+07:00"
    assert output.cell("TB-20261122-ABC") == "TB-20261122-ABC"
    assert output.cell(42) == "42"


def test_money_uses_each_currencys_exponent() -> None:
    exponents = {"USD": 2, "JPY": 0, "KWD": 3}
    assert money(900, "USD", exponents) == "9.00 USD"
    assert money(5, "USD", exponents) == "0.05 USD"
    assert money(1400, "JPY", exponents) == "1400 JPY"
    assert money(12345, "KWD", exponents) == "12.345 KWD"
    assert money(-250, "USD", exponents) == "-2.50 USD"
    assert money(7, "XXX", exponents) == "7 XXX (minor units)"
    assert money(None, "USD", exponents) == ""


def test_durations_and_instants() -> None:
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration(" 2 h ") == timedelta(hours=2)
    assert parse_duration("1w") == timedelta(days=7)
    with pytest.raises(typer.BadParameter):
        parse_duration("15 minutes")
    assert parse_instant("2026-11-22T10:00:00Z") == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert parse_instant("2026-11-22") == datetime(2026, 11, 22, tzinfo=UTC)
    assert abs(parse_instant("1h") - (datetime.now(UTC) - timedelta(hours=1))) < timedelta(seconds=5)
    with pytest.raises(typer.BadParameter):
        parse_instant("last tuesday")


def test_the_progress_bar_shows_on_a_terminal_and_not_in_pipes(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(output, "stderr", Console(file=screen, force_terminal=True, width=100))
    with output.progress_bar("replaying", 3) as advance:
        for _ in range(3):
            advance()
    assert "replaying" in screen.getvalue()
    piped = io.StringIO()
    monkeypatch.setattr(output, "stderr", Console(file=piped, force_terminal=False))
    with output.progress_bar("replaying", 3) as advance:
        advance()
    assert piped.getvalue() == ""


def test_cells_and_lines_escape_control_bidi_and_markup() -> None:
    assert output.printable("Eve\x1b]0;t\x07\r\n\t\x7f\x9b\u202e\u2066\u200f\u061c\u2028!") == (
        "Eve\\x1b]0;t\\x07\\r\\n\\t\\x7f\\x9b\\u202e\\u2066\\u200f\\u061c\\u2028!"
    )
    # Text in any script, emoji sequences (zero-width joiner) and NBSP are left alone.
    assert output.printable("Zoë محمد 👩\u200d👩\u200d👧 a\u00a0b") == "Zoë محمد 👩\u200d👩\u200d👧 a\u00a0b"
    assert (
        output.cell("[link=https://evil.example]x[/link]\x1b")
        == "\\[link=https://evil.example]x\\[/link]\\x1b"
    )
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=200)
    terminal.print(output.cell("[red]r[/red] [link=https://e.x]l[/link]"), highlight=False)
    assert screen.getvalue().strip() == "[red]r[/red] [link=https://e.x]l[/link]"


def test_progress_and_errors_escape_what_they_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(output, "stderr", Console(file=screen, force_terminal=True, width=200))
    output.progress("granted \x1b]0;pwned\x07@example.test")
    with pytest.raises(typer.Exit):
        output.fail("no user \u202eevil [bold]x[/bold]", hint="check \r\n the [link=https://e.x]email[/link]")
    shown = screen.getvalue()
    for raw in ("\x07", "\u202e", "\r", "\x1b]"):
        assert raw not in shown
    assert "granted \\x1b]0;pwned\\x07@example.test" in shown
    assert "no user \\u202eevil [bold]x[/bold]" in shown
    assert "check \\r\\n the [link=https://e.x]email[/link]" in shown


def test_the_json_envelope_escapes_every_control_and_non_ascii_character() -> None:
    text = output.envelope({"name": "\x1b]0;t\x07\r\n\u202e\x9bZoë"})
    assert text.isascii()
    assert json.loads(text)["data"]["name"] == "\x1b]0;t\x07\r\n\u202e\x9bZoë"
