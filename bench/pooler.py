"""Webhook apply through PgBouncer in transaction mode, the shape of a hosted project's pooler (Supavisor,
port 6543), against the same calls straight to PostgreSQL, in the same run.

Both sides run the webhook-apply row's own script (bench/webhooks.py: PostgREST's per-request contract and
`apply_payment_event`, one pipeline per event, each event paying its own pending checkout) with the same
16 clients, and both use the extended query protocol with unnamed statements. The other rows use pgbench's
`-M prepared`, which names statements per connection; a transaction pooler cannot carry those between
server connections (PgBouncer 1.18 here, Debian 12), and the port sends none (prepare_threshold=None), so
neither side prepares: the ratio is the pooler's hop alone. PgBouncer keeps up to 20 server connections
(its default pool size), more than the clients, so the database sees the same concurrency on both sides.
On this 2-core machine PgBouncer's one process competes with PostgreSQL and pgbench for the cores, which
a hosted pooler on its own machine does not.

Order numbers: the script pays orders WH-n; this row's pools start at 5,000,000 + r x 100,000, clear of the
webhook-apply row's (fixtures.py lists the ranges).
"""

from __future__ import annotations

import time
from typing import Any

from bench import fixtures
from bench.harness import Bench, BenchError, Row, Run, Target, mean_tps
from bench.webhooks import _ours as apply_script  # the webhook-apply row's script, unchanged
from tests.pooler import PgBouncer

CLIENTS = 16
PER_CLIENT = 250  # events per client and run: 4,000 a run
ROUNDS = 2  # of pooled, direct, direct, pooled, then the reverse: 4 runs a side
POOL, STRIDE = 5_000_000, 100_000
TPS = Target(">=", 0.8, "TPS")


def apply(bench: Bench) -> Row:
    script = apply_script(bench)
    runs = 4 * ROUNDS
    for run in range(runs):
        first = POOL + run * STRIDE + 1
        fixtures.pending_payments(bench, "WH-", first, first + CLIENTS * PER_CLIENT - 1)
    fixtures.vacuum(bench)

    loaded = time.monotonic()
    with PgBouncer(bench.stack) as bouncer:

        def drive(run: int, port: int | None) -> Run:
            defines = {"n": 0, "base": POOL + run * STRIDE, "per": PER_CLIENT}
            return bench.pgbench(
                [script], clients=CLIENTS, transactions=PER_CLIENT, defines=defines, port=port,
                protocol="extended",
            )  # fmt: skip

        before = bouncer.transactions()
        half = runs // 2
        pooled, direct = bench.alternate(
            lambda i: drive(i, bouncer.port), lambda i: drive(half + i, None), ROUNDS
        )
        through = bouncer.transactions() - before
        servers = bouncer.server_connections()
    measured = time.monotonic() - loaded
    events = CLIENTS * PER_CLIENT
    if through < half * events:
        raise BenchError(f"pooler: {through} transactions went through PgBouncer, expected {half * events}")
    paid = bench.sql(
        "select count(*) from public.payments where order_id like 'WH-%%' and status = 'paid' "
        "and substr(order_id, 4)::bigint between %s and %s",
        (POOL, POOL + runs * STRIDE),
    )
    if int(paid[0][0]) != runs * events:
        raise BenchError(f"pooler: {paid[0][0]} payments paid, expected {runs * events}")
    data: dict[str, Any] = {
        "pooled_tps": [r.tps for r in pooled], "direct_tps": [r.tps for r in direct],
        "events_per_run": events, "protocol": "extended (both sides)",
        "pool_size": bouncer.pool_size, "server_connections_after": servers,
        "transactions_through_pgbouncer": through,
        "seconds_measuring": round(measured, 1),
    }  # fmt: skip
    return Row.compare(
        "webhooks", f"webhook apply through PgBouncer (transaction mode) vs direct, {CLIENTS} clients",
        f"{mean_tps(pooled):,.0f} TPS", f"{mean_tps(direct):,.0f} TPS", mean_tps(pooled) / mean_tps(direct),
        TPS, **data,
    )  # fmt: skip
