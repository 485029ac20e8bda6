"""The privilege audit: for every table and function in `public` and `private`, what anon, authenticated
and service_role may do must equal the reviewed allow-list committed in the repository
(tests/security/privileges_allowlist.json, documented in SECURITY.md). Any new grant, any lost grant, any
new security-definer function or table without RLS fails until the list is regenerated and reviewed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.security.privileges import ALLOWLIST, snapshot
from thinbase.cli.local_stack import LocalStack


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
        "public.plan_prices": ["SELECT"],
        "public.plans": ["SELECT"],
    }


def test_no_security_definer_function_is_exposed(current: dict[str, Any]) -> None:
    exposed = [
        name for name, fn in current["functions"].items() if name.startswith("public.") and fn["definer"]
    ]
    assert exposed == []
