"""Projects created before Supabase stopped exposing new objects by default give anon, authenticated and
service_role ALL on every table and sequence and EXECUTE on every function that `postgres` creates in
public (default privileges for role postgres). Migration 20261122005200_api_role_privileges must leave such
a project with exactly the reviewed allow-list, and stop the defaults for what later migrations create.

The local stack is a new-style project, so the test recreates the older one's state in one transaction,
rolled back: the default privileges, and the grants they would have given every object our migrations
made. Then it runs the migration as `postgres`, as `supabase db push` would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.security.privileges import ALLOWLIST, snapshot_of
from thinbase.local.stack import LocalStack

MIGRATION = Path(__file__).resolve().parents[2] / "supabase/migrations/20261122005200_api_role_privileges.sql"
API_ROLES = "anon, authenticated, service_role"
OLDER_PROJECT = f"""
alter default privileges for role postgres in schema public grant all on tables to {API_ROLES};
alter default privileges for role postgres in schema public grant all on sequences to {API_ROLES};
alter default privileges for role postgres in schema public grant all on functions to {API_ROLES};
grant all on all tables in schema public to {API_ROLES};
grant all on all sequences in schema public to {API_ROLES};
grant execute on all functions in schema public to {API_ROLES};
"""


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
            conn.execute(OLDER_PROJECT)
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
            assert after == {"tables": {}, "functions": {}}, json.dumps(after, indent=1)

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
