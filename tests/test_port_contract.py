"""The database port's contract: the psycopg adapter and the supabase-py adapter (over real HTTP, through
the local PostgREST-compatible gateway) give identical results and identical errors for the same call.
Both adapters are async; most cases drive them through the sync facade (`SyncDatabase`, as the CLI does),
and one runs every case concurrently on a single event loop of the test's own, as the edge app does.

Every case also states the expected outcome, so two adapters that agree on a wrong answer still fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from supabase import create_client
from tests.conftest import EdgeServer, User
from thinbase.db import Caller, Database, SyncDatabase
from thinbase.db.psycopg_adapter import AsyncPsycopgDatabase, PsycopgDatabase
from thinbase.db.supabase_adapter import AsyncSupabaseDatabase, SupabaseDatabase
from thinbase.errors import RpcError
from thinbase.local.stack import LocalStack

Outcome = tuple[str, Any]


def outcome(database: SyncDatabase[Any], fn: str, args: dict[str, Any], caller: Caller, **kw: Any) -> Outcome:
    try:
        return ("ok", database.rpc(fn, args, caller=caller, schema="tests", **kw))
    except RpcError as exc:
        return ("error", (exc.status, exc.code, exc.message, exc.details, exc.hint))


async def async_outcome(database: Database, fn: str, args: dict[str, Any], caller: Caller) -> Outcome:
    try:
        return ("ok", await database.rpc(fn, args, caller=caller, schema="tests"))
    except RpcError as exc:
        return ("error", (exc.status, exc.code, exc.message, exc.details, exc.hint))


@pytest.fixture(scope="module")
def via_http(edge: EdgeServer) -> Iterator[SupabaseDatabase]:
    s = edge.settings
    database = SupabaseDatabase(s.supabase_url, s.anon_key, s.service_role_key)
    yield database
    database.close()  # its HTTP pool holds keep-alive connections to the gateway


@pytest.fixture(scope="module")
def user(make_user: Callable[..., User]) -> User:
    return make_user("contract")


def callers(user: User) -> dict[str, Caller]:
    return {"anon": Caller.anon(), "user": user.caller, "service": Caller.service()}


CASES: list[tuple[str, dict[str, Any], str, Outcome]] = [
    ("contract_add", {"a": 1, "b": 2}, "anon", ("ok", 3)),
    ("contract_add", {"a": 5}, "user", ("ok", 15)),
    ("contract_add", {"a": "7", "b": "1"}, "service", ("ok", 8)),
    ("contract_series", {"n": 3}, "anon", ("ok", [1, 2, 3])),
    ("contract_series", {"n": 0}, "user", ("ok", [])),
    (
        "contract_rows",
        {"n": 2},
        "user",
        (
            "ok",
            [
                {"i": 1, "label": "row 1", "at": "2026-01-02T00:00:00+00:00"},
                {"i": 2, "label": "row 2", "at": "2026-01-03T00:00:00+00:00"},
            ],
        ),
    ),
    ("contract_one_row", {}, "anon", ("ok", {"k": "only"})),
    (
        "contract_echo_json",
        {"payload": {"nested": [1, {"x": None}], "s": "é"}, "tags": ["a", "b"]},
        "user",
        ("ok", {"payload": {"nested": [1, {"x": None}], "s": "é"}, "tags": ["a", "b"]}),
    ),
    (
        "contract_raise_plain",
        {},
        "anon",
        ("error", (400, "P0001", "plain failure", "some detail", "some hint")),
    ),
    (
        "contract_raise_pt403",
        {},
        "user",
        ("error", (403, "PT403", "not_yours", '{"owner": "someone else"}', "ask the owner")),
    ),
    (
        "contract_raise_42501",
        {},
        "anon",
        ("error", (401, "42501", "permission denied for this thing", None, None)),
    ),
    (
        "contract_raise_42501",
        {},
        "user",
        ("error", (403, "42501", "permission denied for this thing", None, None)),
    ),
    (
        "contract_service_only",
        {},
        "anon",
        ("error", (401, "42501", "permission denied for function contract_service_only", None, None)),
    ),
    (
        "contract_service_only",
        {},
        "user",
        ("error", (403, "42501", "permission denied for function contract_service_only", None, None)),
    ),
    ("contract_service_only", {}, "service", ("ok", "secret")),
    (
        "contract_add",
        {"a": "not a number"},
        "anon",
        ("error", (400, "22P02", 'invalid input syntax for type integer: "not a number"', None, None)),
    ),
]


@pytest.mark.parametrize(("fn", "args", "who", "expected"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_adapters_agree(
    db: PsycopgDatabase,
    via_http: SupabaseDatabase,
    user: User,
    fn: str,
    args: dict[str, Any],
    who: str,
    expected: Outcome,
) -> None:
    caller = callers(user)[who]
    direct = outcome(db, fn, args, caller)
    over_http = outcome(via_http, fn, args, caller)
    assert direct == expected
    assert over_http == direct


def test_async_adapters_agree_concurrently_on_one_loop(
    stack: LocalStack, edge: EdgeServer, user: User
) -> None:
    """Every case at once on one event loop (one thread), through both async adapters opened on it: each
    call waits on its own connection or HTTP request without blocking the others, and each gets its own
    answer. The psycopg pool is smaller than the number of calls, so calls also queue for connections."""
    s = edge.settings

    async def run_all() -> tuple[list[Outcome], list[Outcome]]:
        direct = AsyncPsycopgDatabase(stack.authenticator_url(), min_size=1, max_size=4)
        over_http = AsyncSupabaseDatabase(s.supabase_url, s.anon_key, s.service_role_key)
        try:
            calls = [(fn, args, callers(user)[who]) for fn, args, who, _ in CASES]
            return (
                list(await asyncio.gather(*(async_outcome(direct, *c) for c in calls))),
                list(await asyncio.gather(*(async_outcome(over_http, *c) for c in calls))),
            )
        finally:
            await direct.close()
            await over_http.close()

    direct, over_http = asyncio.run(run_all())
    assert direct == [case[3] for case in CASES]
    assert over_http == direct


def test_unique_violation_is_409_and_rolls_back(
    db: PsycopgDatabase, via_http: SupabaseDatabase, user: User
) -> None:
    for database, key in ((db, "direct-key"), (via_http, "http-key")):
        result = outcome(database, "contract_unique_violation", {"k": key}, user.caller)
        assert result[0] == "error"
        status, code, message, details, _ = result[1]
        assert (status, code) == (409, "23505")
        assert "contract_keys_pkey" in message
        assert details == f"Key (k)=({key}) already exists."
        # One transaction per call: the first insert was rolled back with the second.
        assert outcome(database, "contract_unique_violation", {"k": key}, user.caller)[1][1] == "23505"


def test_stable_functions_run_read_only(db: PsycopgDatabase, via_http: SupabaseDatabase) -> None:
    direct = outcome(db, "contract_write_in_stable", {"k": "ro"}, Caller.service())
    assert direct[0] == "error"
    assert direct[1][:2] == (405, "25006")
    assert outcome(via_http, "contract_write_in_stable", {"k": "ro"}, Caller.service()) == direct


def test_unknown_function_is_404_on_both(db: PsycopgDatabase, via_http: SupabaseDatabase) -> None:
    direct = outcome(db, "no_such_function", {"x": 1}, Caller.anon())
    assert direct[0] == "error"
    assert direct[1][:2] == (404, "PGRST202")
    assert outcome(via_http, "no_such_function", {"x": 1}, Caller.anon()) == direct


@pytest.mark.parametrize("who", ["anon", "user", "service"])
def test_request_context_is_postgrest_shaped(
    db: PsycopgDatabase, via_http: SupabaseDatabase, user: User, who: str
) -> None:
    caller = callers(user)[who]
    headers = {"X-Probe": "probe-value"}
    direct = db.rpc("contract_whoami", caller=caller, schema="tests", headers=headers)
    over_http = via_http.rpc("contract_whoami", caller=caller, schema="tests", headers=headers)
    assert direct == over_http
    role = {"anon": "anon", "user": "authenticated", "service": "service_role"}[who]
    assert direct["current_user"] == role
    assert direct["role"] == role
    assert direct["uid"] == (user.id if who == "user" else None)
    assert direct["email"] == (user.email if who == "user" else None)
    assert (direct["method"], direct["path"], direct["x_probe"]) == (
        "POST",
        "/rpc/contract_whoami",
        "probe-value",
    )
    assert direct["read_only"] == "on"  # contract_whoami is STABLE
    # ALTER ROLE … SET statement_timeout applies to the impersonated role, as PostgREST does.
    # service_role has no setting of its own, so authenticator's 8 s stays in force.
    assert direct["statement_timeout"] == {"anon": "3s", "user": "8s", "service": "8s"}[who]


def test_official_supabase_client_calls_rpc_through_the_gateway(edge: EdgeServer, user: User) -> None:
    client = create_client(edge.settings.supabase_url, edge.settings.anon_key)
    try:
        args: Any = {"a": 40, "b": 2}  # supabase-py annotates params as dict[str, str]; JSON numbers are fine
        assert client.schema("tests").rpc("contract_add", args).execute().data == 42
        client.postgrest.auth(user.token)
        whoami: Any = client.schema("tests").rpc("contract_whoami", {}).execute().data
        assert (whoami["role"], whoami["uid"]) == ("authenticated", user.id)
    finally:
        # supabase-py's Client has no close(); its PostgREST client owns the HTTP session (and the
        # keep-alive connection) that schema(...) clients share.
        client.postgrest.aclose()
