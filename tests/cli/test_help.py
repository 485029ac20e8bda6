"""Every command and option has help text, every command is in the README's command reference, and every
command that reads has --json (walking the Click command tree Typer builds)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from tests.cli.conftest import run
from thinbase.cli.main import app

README = Path(__file__).resolve().parents[2] / "README.md"
# Commands that change things or run processes; everything else reads and must offer --json.
WITHOUT_JSON = {
    "local up",
    "local down",
    "local reset",
    "local psql",
    "serve",
    "fakes serve",  # a server in the foreground, as `serve`
    "db push",
    "db types",
    "db lint",
    "db test",
    "doctor",  # has --json; listed here only because it is also a check
}
COMPLETION_OPTIONS = {"install_completion", "show_completion", "help"}


# Typer builds its command tree from its own vendored copy of Click: duck-typed here.
Command = Any


def is_group(command: Command) -> bool:
    return hasattr(command, "commands")


def walk(command: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Command]]:
    yield path, command
    if is_group(command):
        for name, sub in command.commands.items():
            yield from walk(sub, (*path, name))


ROOT = typer.main.get_command(app)
COMMANDS = [(" ".join(path), cmd) for path, cmd in walk(ROOT) if path]
LEAVES = [(name, cmd) for name, cmd in COMMANDS if not is_group(cmd)]


def operator_section() -> str:
    text = README.read_text()
    start = text.index("## Operator CLI")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_tree_has_every_group_of_the_design() -> None:
    groups = {name for name, cmd in COMMANDS if is_group(cmd) and " " not in name}
    assert groups >= {
        "local",
        "db",
        "admin",
        "users",
        "plans",
        "payments",
        "webhooks",
        "ratelimit",
        "audit",
        "billing",
        "contact",
    }
    assert {"serve", "doctor"} <= {name for name, _ in LEAVES}


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_command_and_parameter_has_help(name: str, command: Command) -> None:
    assert (command.help or "").strip(), f"`thinbase {name}` has no help text"
    assert (command.get_short_help_str() or "").strip()
    for param in command.params:
        if param.name in COMPLETION_OPTIONS:
            continue
        assert (getattr(param, "help", None) or "").strip(), f"`thinbase {name}`: {param.name} has no help"


@pytest.mark.parametrize(("name", "command"), LEAVES, ids=[name for name, _ in LEAVES])
def test_every_command_is_in_the_readme_reference(name: str, command: Command) -> None:
    assert re.search(rf"^\| `thinbase {re.escape(name)}[` \[]", operator_section(), re.MULTILINE), (
        f"`thinbase {name}` is missing from the README's command reference (## Operator CLI)"
    )


@pytest.mark.parametrize(
    ("name", "command"),
    [(n, c) for n, c in LEAVES if n not in WITHOUT_JSON],
    ids=[n for n, _ in LEAVES if n not in WITHOUT_JSON],
)
def test_read_commands_offer_json(name: str, command: Command) -> None:
    assert any("--json" in getattr(p, "opts", []) for p in command.params), f"`thinbase {name}` lacks --json"


def test_help_runs_for_every_command() -> None:
    for name, _ in COMMANDS:
        result = run(*name.split(), "--help")
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.stdout


def test_the_readme_documents_the_exit_codes() -> None:
    section = operator_section()
    for code, meaning in (("0", "ok"), ("1", "failure"), ("2", "usage"), ("3", "not found"), ("4", "drift")):
        assert f"`{code}` {meaning}" in section


def test_unknown_commands_and_bad_options_are_usage_errors() -> None:
    assert run("nonsense").exit_code == 2
    assert run("users", "list", "--limit", "0").exit_code == 2


@pytest.mark.parametrize(
    ("words", "expected"),
    [("thinbase adm", "admin"), ("thinbase webhooks re", "replay"), ("thinbase payments show --j", "--json")],
)
def test_shell_completion_completes_commands_and_options(words: str, expected: str) -> None:
    """What `thinbase --install-completion` wires into bash: the installed script asks the program itself."""
    env = {**os.environ, "_THINBASE_COMPLETE": "complete_bash", "COMP_WORDS": words}
    env["COMP_CWORD"] = str(len(words.split()) - 1)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "thinbase")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout.split(), done.stdout
