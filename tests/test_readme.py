"""The README's shell snippets run as written. A block marked `<!-- readme-test: NAME -->` right above its
fence is run here with bash (`-e`: a failing command fails the test), from the repository root, against a
served edge app on the local stack — as a newcomer runs it beside `make dev`. THINBASE_PORT points
`thinbase local env` at that app, as it points `make dev`'s."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EdgeServer, serve_edge
from thinbase.local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- readme-test: ([\w-]+) -->\n```sh\n(.*?)\n```", re.S)
SNIPPETS = dict(BLOCK.findall((ROOT / "README.md").read_text()))


def run(snippet: str, edge: EdgeServer) -> subprocess.CompletedProcess[str]:
    port = edge.url.rsplit(":", 1)[1]
    env = {**os.environ, "THINBASE_PORT": port}
    return subprocess.run(
        ["bash", "-e", "-c", snippet], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def json_values(text: str) -> list[object]:
    """The JSON documents curl printed one after another (curl adds no newline between answers)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := len(text) - len(text[at:].lstrip())) < len(text):
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found


def test_the_readme_marks_its_runnable_snippets() -> None:
    assert "shell" in SNIPPETS


@pytest.fixture(scope="module")
def served(stack: LocalStack) -> Iterator[EdgeServer]:
    with serve_edge(stack) as edge:
        yield edge


def test_the_local_stack_shell_snippet(served: EdgeServer) -> None:
    """Twice: the first run signs ada up, the second signs her in again (as a rerun by a newcomer would)."""
    for _ in range(2):
        done = run(SNIPPETS["shell"], served)
        assert done.returncode == 0, done.stderr
        health, subscriptions = json_values(done.stdout)
        assert health, done.stdout  # health() answered through the RPC gateway with the printed keys
        assert subscriptions == [{"plan_code": "FREE", "status": "active"}]
