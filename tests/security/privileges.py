"""What each API role may do with every table and function in `public` and `private`, read from the catalog.

The reviewed allow-list (tests/security/privileges_allowlist.json) is the one statement of the grants: for
every table, RLS and each API role's privileges; for every function, whether it is security definer, who
may execute it, and — for each function a client role (anon, authenticated) may execute, and each private
helper any API role may execute — `why`: who calls it through that grant. test_privilege_audit.py compares
it with the catalog.

`python -m tests.security.privileges --write` regenerates it after a deliberate change, keeping every `why`
already written and leaving an empty one where a new grant needs its reason; review the diff like code.
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


def needs_why(name: str, function: dict[str, Any]) -> bool:
    """A function a client role may execute (public or private), or a private helper any API role may: each
    such grant is a review decision, so the allow-list says who needs it."""
    execute = set(function["execute"])
    return bool(execute & {"anon", "authenticated"}) or (name.startswith("private.") and bool(execute))


def grants(allowlist: dict[str, Any]) -> dict[str, Any]:
    """The allow-list without the reasons: what the catalog itself can be compared with."""
    functions = {
        name: {key: value for key, value in fn.items() if key != "why"}
        for name, fn in allowlist["functions"].items()
    }
    return {"tables": allowlist["tables"], "functions": functions}


def differences(current: dict[str, Any], reviewed: dict[str, Any]) -> dict[str, Any]:
    """Per kind: what the catalog has that the allow-list does not say (new or changed), and what the
    allow-list names that the catalog no longer has."""
    expected = grants(reviewed)
    return {
        kind: {
            "unexpected": {k: v for k, v in current[kind].items() if expected[kind].get(k) != v},
            "missing": sorted(set(expected[kind]) - set(current[kind])),
        }
        for kind in ("tables", "functions")
    }


def reasons_wanted(reviewed: dict[str, Any]) -> dict[str, list[str]]:
    """Functions whose grant needs a `why` and has none (or an empty one), and functions with a `why` that
    needs none (a grant taken back without its reason)."""
    functions = reviewed["functions"]
    return {
        "missing": sorted(
            name
            for name, fn in functions.items()
            if needs_why(name, fn) and not str(fn.get("why", "")).strip()
        ),
        "stale": sorted(name for name, fn in functions.items() if "why" in fn and not needs_why(name, fn)),
    }


def merged(current: dict[str, Any], reviewed: dict[str, Any]) -> dict[str, Any]:
    """The catalog's privileges with the reviewed reasons kept: what --write writes. A grant that needs a
    reason and has none gets an empty `why` for the reviewer to fill in."""
    functions: dict[str, Any] = {}
    for name, fn in current["functions"].items():
        entry = dict(fn)
        if needs_why(name, fn):
            entry["why"] = reviewed.get("functions", {}).get(name, {}).get("why", "")
        functions[name] = entry
    return {"tables": current["tables"], "functions": functions}


def main() -> None:
    from thinbase.local.stack import LocalStack

    current = snapshot(LocalStack().superuser_conninfo())
    reviewed: dict[str, Any] = json.loads(ALLOWLIST.read_text()) if ALLOWLIST.is_file() else {}
    result = merged(current, reviewed)
    if "--write" in sys.argv:
        ALLOWLIST.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(f"wrote {ALLOWLIST}")
        missing = reasons_wanted(result)["missing"]
        if missing:
            print("say why each of these is granted (its `why`):\n  " + "\n  ".join(missing))
    else:
        print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
