"""Running the pinned Supabase CLI (node_modules/.bin/supabase, from package.json)."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Sequence

from thinbase.errors import SupabaseCliMissing
from thinbase.local.paths import ROOT, SUPABASE_CLI


def run_supabase(
    args: Sequence[str], *, capture: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run `supabase ARGS` from the checkout root with telemetry off (this machine may have no network)."""
    if not SUPABASE_CLI.exists():
        raise SupabaseCliMissing("the Supabase CLI is not installed: run `npm ci` (or `make dev`)")
    env = {**os.environ, "SUPABASE_TELEMETRY_DISABLED": "1", "DO_NOT_TRACK": "1"}
    return subprocess.run(  # noqa: S603
        [str(SUPABASE_CLI), *args],
        cwd=ROOT,
        env=env,
        capture_output=capture,
        text=True,
        timeout=timeout,
        check=False,
    )


def stream_supabase(
    args: Sequence[str], on_line: Callable[[str], None], *, timeout: float = 600
) -> tuple[int, str]:
    """Run `supabase ARGS`, handing each output line (stdout and stderr merged) to `on_line` as it comes;
    returns (exit code, the whole output). Killed after `timeout` seconds: subprocess.TimeoutExpired."""
    if not SUPABASE_CLI.exists():
        raise SupabaseCliMissing("the Supabase CLI is not installed: run `npm ci` (or `make dev`)")
    env = {**os.environ, "SUPABASE_TELEMETRY_DISABLED": "1", "DO_NOT_TRACK": "1"}
    lines: list[str] = []
    with subprocess.Popen(  # noqa: S603
        [str(SUPABASE_CLI), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        # A watchdog, since reading the output blocks for as long as the CLI stays silent.
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            for line in process.stdout:
                lines.append(line)
                on_line(line.rstrip("\n"))
            code = process.wait()
        finally:
            watchdog.cancel()
    if watchdog.finished.is_set() and code < 0:
        raise subprocess.TimeoutExpired(list(args), timeout, "".join(lines))
    return code, "".join(lines)
