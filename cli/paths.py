"""Where things are in a thinbase checkout."""

from __future__ import annotations

import os
from pathlib import Path

# cli/ is linked into the package as thinbase/cli; resolve() follows that link back to the checkout.
ROOT = Path(__file__).resolve().parents[1]
SUPABASE_DIR = ROOT / "supabase"
MIGRATIONS_DIR = SUPABASE_DIR / "migrations"
PLATFORM_DIR = SUPABASE_DIR / "platform"
SQL_TESTS_DIR = ROOT / "sql_tests"
SQL_HELPERS_DIR = SQL_TESTS_DIR / "helpers"
# THINBASE_LOCAL_DIR puts a second, independent local stack elsewhere (tests that stop their database).
LOCAL_DIR = Path(os.environ.get("THINBASE_LOCAL_DIR") or ROOT / ".local")
SUPABASE_CLI = ROOT / "node_modules" / ".bin" / "supabase"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
