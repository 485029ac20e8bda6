"""What each API role may do with every table and function in `public` and `private`, read from the catalog.

`python -m tests.security.privileges --write` regenerates the reviewed allow-list
(tests/security/privileges_allowlist.json) after a deliberate change; review its diff like code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

ALLOWLIST = Path(__file__).with_name("privileges_allowlist.json")
ROLES = ("anon", "authenticated", "service_role")
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")

_TABLES = """
select n.nspname || '.' || c.relname as name, c.relrowsecurity as rls, c.oid
from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
where n.nspname in ('public', 'private') and c.relkind in ('r', 'p', 'v', 'm')
order by 1
"""

_FUNCTIONS = """
select n.nspname || '.' || p.proname
  || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' as name,
  p.prosecdef as definer, p.oid
from pg_catalog.pg_proc as p join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
where n.nspname in ('public', 'private') and p.prokind = 'f'
  and not exists (select 1 from pg_catalog.pg_depend as d where d.objid = p.oid and d.deptype = 'e')
order by 1
"""


def _has(conn: psycopg.Connection[dict[str, Any]], kind: str, role: str, oid: int, privilege: str) -> bool:
    check = "has_table_privilege" if kind == "table" else "has_function_privilege"
    row = conn.execute(f"select {check}(%s, %s, %s) as ok", (role, oid, privilege)).fetchone()
    return bool(row and row["ok"])


def snapshot(conninfo: str) -> dict[str, Any]:
    """{"tables": {name: {"rls": bool, "grants": {role: [privs]}, "columns": {role: [col:priv]}}},
    "functions": {signature: {"definer": bool, "execute": [roles]}}}"""
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return snapshot_of(conn)


def snapshot_of(conn: psycopg.Connection[dict[str, Any]]) -> dict[str, Any]:
    """The same, as seen inside `conn`'s current transaction."""
    tables: dict[str, Any] = {}
    functions: dict[str, Any] = {}
    for table in conn.execute(_TABLES).fetchall():
        grants: dict[str, list[str]] = {}
        columns: dict[str, list[str]] = {}
        for role in ROLES:
            allowed = [priv for priv in TABLE_PRIVILEGES if _has(conn, "table", role, table["oid"], priv)]
            if allowed:
                grants[role] = allowed
            partial = conn.execute(
                """
                select a.attname || ':' || priv as grant
                from pg_catalog.pg_attribute as a
                cross join unnest(array['SELECT', 'INSERT', 'UPDATE']) as priv
                where a.attrelid = %s and a.attnum > 0 and not a.attisdropped
                  and has_column_privilege(%s, a.attrelid, a.attnum, priv)
                  and not has_table_privilege(%s, a.attrelid, priv)
                order by 1
                """,
                (table["oid"], role, role),
            ).fetchall()
            if partial:
                columns[role] = [row["grant"] for row in partial]
        tables[table["name"]] = {"rls": table["rls"], "grants": grants, "columns": columns}
    for fn in conn.execute(_FUNCTIONS).fetchall():
        execute = [role for role in ROLES if _has(conn, "function", role, fn["oid"], "EXECUTE")]
        functions[fn["name"]] = {"definer": fn["definer"], "execute": execute}
    return {"tables": tables, "functions": functions}


def main() -> None:
    from thinbase.local.stack import LocalStack

    current = snapshot(LocalStack().superuser_conninfo())
    if "--write" in sys.argv:
        ALLOWLIST.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
        print(f"wrote {ALLOWLIST}")
    else:
        print(json.dumps(current, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
