"""RLS reads: a user's own payments as `authenticated` (the policy filters) against the same query as
service_role (BYPASSRLS), mixed at random in one pgbench run so both see the same load; p50 per request.

The table holds 10k rows, then 1M, always owned by the same 1,000 users. "Latest 10" (what an app lists)
returns the same 10 rows at both sizes, so its growth is the table's size alone; "all own" returns every
row a user owns (10, then 1,000) and is only compared at 1M.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import fixtures
from bench.harness import Bench, BenchError, Row, Target

USERS = 1_000
SMALL, LARGE = 10_000, 1_000_000
CLIENTS = 4
SECONDS = 8
P50 = Target("<=", 2.0, "p50")
GROWTH = Target("<=", 1.5, "(1M / 10k)")

CLAIMS = {
    "authenticated": """'{"aud": "authenticated", "role": "authenticated", "sub": "' """
    + "|| bench.uid(:u) || '\"}'",
    "service_role": """'{"role": "service_role"}'""",
}


def _query(limit: int | None) -> str:
    """PostgREST's read for GET /payments?user_id=eq.…&order=created_at.desc[&limit=…]."""
    page = f" limit {limit}" if limit else ""
    return (
        "select null::bigint as total_result_set, pg_catalog.count(_postgrest_t) as page_total, "
        'coalesce(json_agg(_postgrest_t), \'[]\') as body from (select "public"."payments".* '
        'from "public"."payments" where "public"."payments"."user_id" = bench.uid(:u) '
        f'order by "public"."payments"."created_at" desc{page}) as _postgrest_t'
    )


@dataclass
class Reads:
    """p50/p95 in ms per role for one size and query."""

    p50: dict[str, float]
    p95: dict[str, float]
    tps: float


def measure(bench: Bench, limit: int | None) -> Reads:
    roles = ("authenticated", "service_role")
    scripts = [
        f"\\set u random(1, {USERS})\n"
        + bench.contract(role, "GET", "/payments", CLAIMS[role])
        + _query(limit)
        + ";\nCOMMIT;\n"
        for role in roles
    ]
    run = bench.pgbench(scripts, clients=CLIENTS, seconds=SECONDS, latencies=True)
    return Reads(
        p50={role: run.percentile(0.5, i) for i, role in enumerate(roles)},
        p95={role: run.percentile(0.95, i) for i, role in enumerate(roles)},
        tps=run.tps,
    )


def load_small(bench: Bench) -> None:
    fixtures.create_users(bench, 1, USERS)
    fixtures.paid_history(bench, 1, SMALL, USERS)
    fixtures.vacuum(bench)
    _check_isolation(bench)


def load_large(bench: Bench) -> None:
    fixtures.paid_history(bench, SMALL + 1, LARGE, USERS)
    fixtures.vacuum(bench)


def _as_user(bench: Bench, user: int, query: str) -> list[str]:
    """`query` (with :u = `user`) as that user, the way the pgbench scripts run it."""
    claims = CLAIMS["authenticated"].replace(":u", str(user))
    bench.sql("begin")
    try:
        bench.sql(
            "select set_config('role', 'authenticated', true), "
            f"set_config('request.jwt.claims', {claims}, true)"
        )
        return [str(row[0]) for row in bench.sql(query.replace(":u", str(user)))]
    finally:
        bench.sql("rollback")


def _check_isolation(bench: Bench) -> None:
    """The policy works: as user 1, user 2's rows are invisible and user 1's are all there."""
    other = _as_user(bench, 1, "select count(*) from public.payments where user_id = bench.uid(2)")
    own = _as_user(bench, 1, "select count(*) from public.payments where user_id = bench.uid(:u)")
    if other != ["0"] or own != [str(SMALL // USERS)]:
        raise BenchError(f"RLS sanity check failed: user 1 sees {other} of user 2's rows and {own} of own")


def plan(bench: Bench, limit: int | None) -> list[str]:
    """EXPLAIN ANALYZE of the read as user 1: the evidence for the policy's cost."""
    return _as_user(bench, 1, "explain (analyze, buffers, costs off) " + _query(limit))


def rows(bench: Bench, small: Reads) -> list[Row]:
    """At 1M rows: the two comparisons and the two growth checks (against `small`, measured at 10k)."""
    page, everything = measure(bench, 10), measure(bench, None)
    result = []
    for name, reads, limit in (
        (f"RLS read, latest 10 own payments, 1M rows, {USERS // 1000}k users", page, 10),
        (f"RLS read, all own payments (~1,000), 1M rows, {USERS // 1000}k users", everything, None),
    ):
        auth, service = reads.p50["authenticated"], reads.p50["service_role"]
        result.append(
            Row.compare(
                "rls", name, f"p50 {auth:.3f} ms", f"p50 {service:.3f} ms", auth / service, P50,
                p95=reads.p95, tps=reads.tps, clients=CLIENTS, plan_as_authenticated=plan(bench, limit),
            )
        )  # fmt: skip
    for role, name in (
        ("authenticated", "RLS read as authenticated"),
        ("service_role", "same read as service_role"),
    ):
        before, after = small.p50[role], page.p50[role]
        result.append(
            Row.compare(
                "growth", f"{name} (latest 10), 10k → 1M rows", f"p50 {before:.3f} ms → {after:.3f} ms", "—",
                after / before, GROWTH, p95_10k=small.p95[role], p95_1m=page.p95[role],
            )
        )  # fmt: skip
    return result
