"""Projects created before Supabase stopped exposing new objects by default give anon, authenticated and
service_role ALL on every table and sequence and EXECUTE on every function that `postgres` creates in
public (default privileges for role postgres). Migration 20261122005200_api_role_privileges must leave such
a project with exactly the reviewed allow-list, and stop the defaults for what later migrations create.

The local stack is a new-style project, so the test recreates the older one's state in one transaction,
rolled back: the default privileges, and the grants they would have given every object our migrations
made. Then it runs the migration as `postgres`, as `supabase db push` would."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.security.privileges import ALLOWLIST, snapshot_of
from thinbase.local.stack import LocalStack

MIGRATIONS = Path(__file__).resolve().parents[2] / "supabase/migrations"
MIGRATION = MIGRATIONS / "20261122005200_api_role_privileges.sql"
API_ROLES = "anon, authenticated, service_role"
OLDER_DEFAULTS = f"""
alter default privileges for role postgres in schema public grant all on tables to {API_ROLES};
alter default privileges for role postgres in schema public grant all on sequences to {API_ROLES};
alter default privileges for role postgres in schema public grant all on functions to {API_ROLES};
"""


def _created_by_then(kind: str) -> list[str]:
    """The public functions or tables that existed when 20261122005200 ran. Later ones were created after
    it had removed the defaults, so on an older project too they only ever got their explicit grants (and
    20261122005200's own revokes never reached them)."""
    created = re.compile(rf"create(?: or replace)? {kind} public\.(\w+)\b", re.IGNORECASE)
    return sorted(
        {
            name
            for path in MIGRATIONS.glob("*.sql")
            if path.name <= MIGRATION.name
            for name in created.findall(path.read_text())
        }
    )


EARLY_FUNCTIONS = _created_by_then("function")
EARLY_TABLES = _created_by_then("table")


def _early(name: str) -> bool:
    schema, _, rest = name.partition(".")
    bare = rest.split("(")[0]
    return schema == "public" and bare in (*EARLY_FUNCTIONS, *EARLY_TABLES)


def older_project(conn: psycopg.Connection[Any]) -> None:
    """The grants the defaults gave every table and sequence, and every function of that time."""
    conn.execute(OLDER_DEFAULTS)
    conn.execute(f"grant all on all tables in schema public to {API_ROLES}")
    conn.execute(f"grant all on all sequences in schema public to {API_ROLES}")
    for function in conn.execute(
        "select p.oid::regprocedure::text as signature from pg_catalog.pg_proc as p "
        "where p.pronamespace = 'public'::regnamespace and p.proname = any(%s)",
        (EARLY_FUNCTIONS,),
    ).fetchall():
        conn.execute(f"grant execute on function {function['signature']} to {API_ROLES}")


def differences(current: dict[str, Any], reviewed: dict[str, Any]) -> dict[str, Any]:
    return {
        kind: {
            name: current[kind].get(name)
            for name in reviewed[kind]
            if current[kind].get(name) != reviewed[kind][name]
        }
        for kind in ("tables", "functions")
    }


def test_an_older_project_ends_with_exactly_the_allowlist(stack: LocalStack) -> None:
    reviewed: dict[str, Any] = json.loads(ALLOWLIST.read_text())
    with psycopg.connect(stack.superuser_conninfo(), row_factory=dict_row) as conn:
        try:
            older_project(conn)
            before = differences(snapshot_of(conn), reviewed)
            # What the defaults gave: e.g. every column of one's own profile writable, service RPCs callable.
            assert "UPDATE" in before["tables"]["public.profiles"]["grants"]["authenticated"]
            apply = next(
                name for name in before["functions"] if name.startswith("public.apply_payment_event(")
            )
            assert "anon" in before["functions"][apply]["execute"]

            conn.execute("set local role postgres")
            conn.execute(MIGRATION.read_text())
            conn.execute("reset role")
            after = differences(snapshot_of(conn), reviewed)
            early = {kind: {k: v for k, v in found.items() if _early(k)} for kind, found in after.items()}
            assert early == {"tables": {}, "functions": {}}, json.dumps(early, indent=1)

            # And what a later migration creates gets no grant it does not state.
            conn.execute("set local role postgres")
            conn.execute("create table public.later_table (id int primary key)")
            conn.execute("create function public.later_fn() returns int language sql as 'select 1'")
            conn.execute("reset role")
            granted = conn.execute(
                "select has_table_privilege('anon', 'public.later_table', 'SELECT') as t, "
                "has_function_privilege('anon', 'public.later_fn()', 'EXECUTE') as f"
            ).fetchone()
            assert granted == {"t": False, "f": False}
        finally:
            conn.rollback()
