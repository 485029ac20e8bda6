"""Projects created before Supabase stopped exposing new objects by default give anon, authenticated and
service_role ALL on every table and sequence and EXECUTE on every function that `postgres` creates in
public (default privileges for role postgres). Migration 20261122005200_api_role_privileges must leave such
a project with exactly the reviewed allow-list, and stop the defaults for what later migrations create.

The local stack is a new-style project, so the test recreates the older one's state in one transaction,
rolled back: the default privileges, and the grants they would have given every object our migrations
made. Then it runs the migration as `postgres`, as `supabase db push` would, followed by the GRANT and REVOKE
statements of every later migration: on an older project those run after 20261122005200 too (a later
migration may take back a grant 20261122005200 states, as 20261204001020 does for the operator RPCs)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.security.privileges import ALLOWLIST, grants, snapshot_of
from thinbase.local.stack import LocalStack

MIGRATIONS = Path(__file__).resolve().parents[2] / "supabase/migrations"
MIGRATION = MIGRATIONS / "20261122005200_api_role_privileges.sql"
API_ROLES = "anon, authenticated, service_role"
OLDER_PROJECT = f"""
alter default privileges for role postgres in schema public grant all on tables to {API_ROLES};
alter default privileges for role postgres in schema public grant all on sequences to {API_ROLES};
alter default privileges for role postgres in schema public grant all on functions to {API_ROLES};
grant all on all tables in schema public to {API_ROLES};
grant all on all sequences in schema public to {API_ROLES};
grant execute on all functions in schema public to {API_ROLES};
"""


def statements(sql: str) -> list[str]:
    """The top-level statements of a migration: split at semicolons outside quotes, dollar quotes and
    comments (comments are dropped)."""
    found: list[str] = []
    current: list[str] = []
    pos = 0
    token = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$([A-Za-z_]*)\$|;", re.DOTALL)
    while (match := token.search(sql, pos)) is not None:
        current.append(sql[pos : match.start()])
        text = match.group()
        if text.startswith("$"):
            end = sql.index(text, match.end()) + len(text)  # the closing tag of the same dollar quote
            current.append(sql[match.start() : end])
            pos = end
            continue
        pos = match.end()
        if text == ";":
            found.append("".join(current).strip())
            current = []
        elif not text.startswith(("--", "/*")):
            current.append(text)
    found.append("".join([*current, sql[pos:]]).strip())
    return [statement for statement in found if statement]


def later_privilege_statements() -> list[str]:
    """The GRANT and REVOKE statements of the migrations after 20261122005200, in order; without those on a
    function that a later `drop function` removed (on an older project they ran while it existed, and the
    drop took them with it; replayed on today's schema they would name a function that is gone)."""
    later = sorted(path for path in MIGRATIONS.glob("*.sql") if path.name > MIGRATION.name)
    kept: list[str] = []
    for path in later:
        for statement in statements(path.read_text()):
            dropped = re.match(r"drop\s+function\s+([\w.]+\([^)]*\))", statement, re.IGNORECASE)
            if dropped:
                gone = re.sub(r"\s+", "", dropped.group(1)).lower()
                kept = [earlier for earlier in kept if gone not in re.sub(r"\s+", "", earlier).lower()]
            elif re.match(r"(grant|revoke)\s", statement, re.IGNORECASE):
                kept.append(statement)
    return kept


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
    reviewed = grants(json.loads(ALLOWLIST.read_text()))
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
            for statement in later_privilege_statements():
                conn.execute(statement)
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


def test_later_privilege_statements_are_read_whole() -> None:
    """The splitter keeps statements whole across quotes, dollar-quoted bodies and comments."""
    sql = (
        "-- a comment; with a semicolon\n"
        "create function f() returns text language sql as $$ select 'a;b' $$;\n"
        "grant execute on function f() to service_role; /* ; */ revoke execute on function f()\nfrom anon;\n"
        "select $tag$ ; $$ ; $tag$;"
    )
    assert statements(sql) == [
        "create function f() returns text language sql as $$ select 'a;b' $$",
        "grant execute on function f() to service_role",
        "revoke execute on function f()\nfrom anon",
        "select $tag$ ; $$ ; $tag$",
    ]
    replayed = later_privilege_statements()
    assert any("operator_list_admins" in statement for statement in replayed), replayed
