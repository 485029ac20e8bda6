"""Running the pinned Supabase CLI (node_modules/.bin/supabase, from package.json)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from thinbase.cli.paths import ROOT, SUPABASE_CLI


class SupabaseCliMissing(Exception):
    """node_modules/.bin/supabase is not there."""


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
