"""The privilege audit: for every table and function in `public` and `private`, what anon, authenticated
and service_role may do must equal the reviewed allow-list committed in the repository
(tests/security/privileges_allowlist.json, documented in SECURITY.md). Any new grant, any lost grant, any
new security-definer function or table without RLS fails until the list is regenerated and reviewed."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.security.privileges import ALLOWLIST, ROLES, snapshot
from thinbase.local.stack import LocalStack


@pytest.fixture(scope="module")
def current(stack: LocalStack) -> dict[str, Any]:
    return snapshot(stack.superuser_conninfo())


@pytest.fixture(scope="module")
def reviewed() -> dict[str, Any]:
    allowlist: dict[str, Any] = json.loads(ALLOWLIST.read_text())
    return allowlist


@pytest.mark.parametrize("kind", ["tables", "functions"])
def test_privileges_match_the_reviewed_allowlist(
    current: dict[str, Any], reviewed: dict[str, Any], kind: str
) -> None:
    unexpected = {k: v for k, v in current[kind].items() if reviewed[kind].get(k) != v}
    missing = sorted(set(reviewed[kind]) - set(current[kind]))
    hint = "review the change, then: .venv/bin/python -m tests.security.privileges --write"
    assert not unexpected, f"not on the allow-list (or changed): {json.dumps(unexpected, indent=1)}; {hint}"
    assert not missing, f"on the allow-list but gone: {missing}; {hint}"


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
