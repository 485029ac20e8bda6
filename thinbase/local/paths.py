"""Where things are: the project whose `supabase/` the local stack, `db push` and the pgTAP runner use.

In a checkout of thinbase (an editable install, the usual case) that is the checkout itself. An installed
wheel carries no migrations of its own, on purpose: the operator CLI pushes the *project's* migrations —
thinbase's plus the app's own — so outside a checkout the project is THINBASE_PROJECT_DIR, or else the
current directory. `require_project()` says which, and what to do, when neither holds a `supabase/`.
"""

from __future__ import annotations

import os
from pathlib import Path

from thinbase.errors import ConfigurationError

# thinbase/local/paths.py -> the checkout root, when this file lives in one.
_CHECKOUT = Path(__file__).resolve().parents[2]


def _project_root() -> Path:
    named = os.environ.get("THINBASE_PROJECT_DIR")
    if named:
        return Path(named).resolve()
    if (_CHECKOUT / "supabase" / "migrations").is_dir():
        return _CHECKOUT
    return Path.cwd()


ROOT = _project_root()
SUPABASE_DIR = ROOT / "supabase"
MIGRATIONS_DIR = SUPABASE_DIR / "migrations"
PLATFORM_DIR = SUPABASE_DIR / "platform"
SQL_TESTS_DIR = ROOT / "sql_tests"
SQL_HELPERS_DIR = SQL_TESTS_DIR / "helpers"
# THINBASE_LOCAL_DIR puts a second, independent local stack elsewhere (tests that stop their database).
LOCAL_DIR = Path(os.environ.get("THINBASE_LOCAL_DIR") or ROOT / ".local")
SUPABASE_CLI = ROOT / "node_modules" / ".bin" / "supabase"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def require_project() -> Path:
    """ROOT, or ConfigurationError when it holds no `supabase/migrations` to work with."""
    if not MIGRATIONS_DIR.is_dir():
        raise ConfigurationError(
            f"no supabase/migrations under {ROOT}: run this from your project's directory "
            "(or set THINBASE_PROJECT_DIR to it)"
        )
    return ROOT
