"""The privilege audit: for every table and function in `public` and `private`, what anon, authenticated
and service_role may do must equal the reviewed allow-list committed in the repository
(tests/security/privileges_allowlist.json, documented in SECURITY.md), the one place grants are stated. Any
new grant, any lost grant, any new security-definer function or table without RLS fails until the list is
regenerated and reviewed, and so does a function a client role may execute (or a private helper any API
role may) whose entry does not say why. sql_tests/019_privileges_catalog.sql holds the structural rules
(pinned search_path, indexed foreign keys, each helper grant needed by an invoker caller, ...)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.security.privileges import (
    ALLOWLIST,
    ROLES,
    differences,
    merged,
    reasons_wanted,
    snapshot,
    snapshot_of,
)
from thinbase.local.stack import LocalStack


@pytest.fixture(scope="module")
def current(stack: LocalStack) -> dict[str, Any]:
    return snapshot(stack.superuser_conninfo())


@pytest.fixture(scope="module")
def reviewed() -> dict[str, Any]:
    allowlist: dict[str, Any] = json.loads(ALLOWLIST.read_text())
    return allowlist


HINT = "review the change, then: .venv/bin/python -m tests.security.privileges --write"


@pytest.mark.parametrize("kind", ["tables", "functions"])
def test_privileges_match_the_reviewed_allowlist(
    current: dict[str, Any], reviewed: dict[str, Any], kind: str
) -> None:
    found = differences(current, reviewed)[kind]
    unexpected = json.dumps(found["unexpected"], indent=1)
    assert not found["unexpected"], f"not on the allow-list (or changed): {unexpected}; {HINT}"
    assert not found["missing"], f"on the allow-list but gone: {found['missing']}; {HINT}"


def test_every_grant_to_a_client_role_or_on_a_helper_says_why(reviewed: dict[str, Any]) -> None:
    wanted = reasons_wanted(reviewed)
    missing = wanted["missing"]
    assert missing == [], f"say who calls each of these through its grant (`why`): {missing}"
    assert wanted["stale"] == [], f"a `why` for a grant that is gone: {wanted['stale']}"


def test_the_audit_sees_planted_violations(stack: LocalStack, reviewed: dict[str, Any]) -> None:
    """Grants made without review, a reviewed grant taken away and a table without RLS (planted in a
    transaction, rolled back): the comparison reports each, and a regenerated allow-list still fails until
    the new grants say why."""
    with psycopg.connect(stack.superuser_conninfo(), row_factory=dict_row) as conn:
        try:
            conn.execute("set local role postgres")
            conn.execute(
                """
                create function public.audit_probe() returns integer language sql stable
                set search_path = '' as 'select 1';
                grant execute on function public.audit_probe() to anon;
                create function private.audit_probe() returns integer language sql stable
                set search_path = '' as 'select 1';
                grant execute on function private.audit_probe() to service_role;
                revoke execute on function public.create_payment(text, text, text) from authenticated;
                create table public.audit_probe_open (id integer primary key);
                """
            )
            conn.execute("reset role")
            planted = snapshot_of(conn)
        finally:
            conn.rollback()
    found = differences(planted, reviewed)
    assert set(found["functions"]["unexpected"]) == {
        "public.audit_probe()",
        "private.audit_probe()",
        "public.create_payment(plan text, provider text, currency text)",
    }
    assert found["functions"]["missing"] == []
    assert set(found["tables"]["unexpected"]) == {"public.audit_probe_open"}
    assert found["tables"]["unexpected"]["public.audit_probe_open"]["rls"] is False
    assert reasons_wanted(merged(planted, reviewed)) == {
        "missing": ["private.audit_probe()", "public.audit_probe()"],
        "stale": [],
    }


def test_every_table_has_rls(current: dict[str, Any]) -> None:
    assert [name for name, table in current["tables"].items() if not table["rls"]] == []


def test_anon_reaches_only_the_public_surface(current: dict[str, Any]) -> None:
    """What someone holding only the anon key can touch (SECURITY.md, threat model)."""
    anon_functions = sorted(
        name
        for name, fn in current["functions"].items()
        if "anon" in fn["execute"] and name.startswith("public.")
    )
    assert anon_functions == [
        "public.currency_exponents()",
        "public.join_waitlist(email text, source text)",
        "public.plan_catalog()",
    ]
    anon_tables = {
        name: t["grants"]["anon"] for name, t in current["tables"].items() if "anon" in t["grants"]
    }
    assert anon_tables == {
        "public.currencies": ["SELECT"],
        "public.payment_providers": ["SELECT"],
        "public.plan_prices": ["SELECT"],
        "public.plans": ["SELECT"],
    }


def test_no_security_definer_function_is_exposed(current: dict[str, Any]) -> None:
    exposed = [
        name for name, fn in current["functions"].items() if name.startswith("public.") and fn["definer"]
    ]
    assert exposed == []


def test_anon_reaches_one_private_helper(current: dict[str, Any]) -> None:
    """PostgREST does not expose `private`, and anon needs only the definer half of public.join_waitlist there
    (the helpers that half calls run as its owner)."""
    anon_helpers = sorted(
        name
        for name, fn in current["functions"].items()
        if "anon" in fn["execute"] and name.startswith("private.")
    )
    assert anon_helpers == ["private.join_waitlist(email text, source text)"]


def test_helpers_that_read_secrets_or_other_users_are_not_callable(current: dict[str, Any]) -> None:
    """The settings row (admin bootstrap list), audit writes, and questions about any user's role or plan:
    only definer functions call these, so no API role may, except for the service role's invoker RPCs: they
    read the settings (which hold no salt), and the operator RPCs audit each call (the service role may
    insert into the audit log anyway)."""
    functions = current["functions"]
    assert functions["private.is_admin(uid uuid)"]["execute"] == []
    assert functions["private.effective_plan(uid uuid)"]["execute"] == []
    assert functions["private.require_admin()"]["execute"] == []
    write_audit = next(name for name in functions if name.startswith("private.write_audit("))
    assert functions[write_audit]["execute"] == ["service_role"]
    assert functions["private.current_settings()"]["execute"] == ["service_role"]


def test_no_api_role_can_read_a_salt(stack: LocalStack) -> None:
    """Neither a column named like a salt nor a function result carrying one, for any API role."""
    with psycopg.connect(stack.superuser_conninfo(), row_factory=dict_row) as conn:
        readable = conn.execute(
            """
            select c.oid::regclass::text || '.' || a.attname as what, r.role
            from pg_catalog.pg_attribute as a
            join pg_catalog.pg_class as c on c.oid = a.attrelid
            cross join unnest(%(roles)s::text[]) as r (role)
            where c.relnamespace in ('public'::regnamespace, 'private'::regnamespace)
              and a.attnum > 0 and not a.attisdropped and a.attname ~* 'salt'
              and (
                (c.relkind in ('r', 'p', 'v', 'm', 'f')
                 and has_column_privilege(r.role, c.oid, a.attnum, 'SELECT'))
                -- a function returning the row (or composite) type hands the column out too
                or exists (
                  select 1 from pg_catalog.pg_proc as p
                  where p.prorettype = c.reltype and has_function_privilege(r.role, p.oid, 'EXECUTE')
                )
              )
            order by 1, 2
            """,
            {"roles": list(ROLES)},
        ).fetchall()
    assert readable == []
