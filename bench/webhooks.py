"""Webhook apply: `apply_payment_event` against the same rows written by plain statements; then a
duplicate storm through the real database port.

Every event pays its own pending checkout (one user each), so both sides do a full transition: ledger row,
payment pending -> paid, the user's subscription FREE -> PRO. The audit rows are written by the tables'
audit triggers on both sides (they belong to the schema; a plain UPDATE fires them too). Both sides send
their statements in one pgbench pipeline, so the baseline pays no extra round trips for being several
statements.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import fixtures
from bench.harness import Bench, BenchError, Row, Target, mean_tps
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase

CLIENTS = 16
PER_CLIENT = 250  # transactions per client and run: 4,000 events per run
ROUNDS = 2  # of ours, baseline, baseline, ours: 4 runs per side
PROFILE_CALLS = 400  # one client: CPU cost per statement, not time spent queueing for a core
POOL, STRIDE = 2_000_000, 100_000  # run r pays orders WH-(POOL + r*STRIDE + 1 …)
STORM_FIRST, STORM_EVENTS, STORM_DELIVERIES = 3_000_001, 1_000, 5
TPS = Target(">=", 0.8, "TPS")

PAYLOAD = json.dumps(
    {
        "id": "evt_bench",
        "object": "event",
        "type": "checkout.session.completed",
        "created": 1790000000,
        "data": {
            "object": {
                "id": "cs_test_bench",
                "object": "checkout.session",
                "amount_total": 900,
                "currency": "usd",
                "payment_status": "paid",
                "status": "complete",
                "client_reference_id": "WH-0",
                "metadata": {"order_id": "WH-0", "plan_code": "PRO"},
            }
        },
    }
)
# Per client and transaction: g = the pool's base + client * per + n, n = 1, 2, …
NEXT = "\\set n :n + 1\n\\set g :base + :client_id * :per + :n\n"


def _ours(bench: Bench) -> str:
    return (
        NEXT
        + "\\startpipeline\n"
        + bench.contract("service_role", "POST", "/rpc/apply_payment_event")
        + "select coalesce(json_agg(r), '[]') from public.apply_payment_event(provider => 'stripe', "
        + "event_key => 'evt_w' || :g, event_type => 'checkout.session.completed', order_id => 'WH-' || :g, "
        + "status => 'paid', amount_minor => 900, currency => 'USD', occurred_at => now(), "
        + f"payload => '{PAYLOAD}'::jsonb) as r;\n"
        + "COMMIT;\n\\endpipeline\n"
    )


def _baseline(bench: Bench) -> str:
    # The ledger row ours writes: since 20261122004000 it also holds the normalized event.
    normalized = bench.sql(
        "select 1 from information_schema.columns where table_schema = 'private' "
        "and table_name = 'webhook_events' and column_name = 'normalized'"
    )
    column, value = (
        (", normalized", ", jsonb_build_object('order_id', 'WH-' || :g, 'status', 'paid', "
         "'amount_minor', 900, 'currency', 'USD', 'occurred_at', now())")
        if normalized else ("", "")
    )  # fmt: skip
    return (
        NEXT
        + "\\startpipeline\n"
        + bench.contract("service_role", "POST", "/rpc/apply_payment_event")
        + "insert into private.webhook_events (provider, event_key, event_type, order_id, payload, status, "
        + f"attempts, processed_at{column}) values ('stripe', 'evt_w' || :g, 'checkout.session.completed', "
        + f"'WH-' || :g, '{PAYLOAD}'::jsonb, 'processed', 1, now(){value});\n"
        + "update public.payments set status = 'paid', paid_at = now() where order_id = 'WH-' || :g;\n"
        + "update public.subscriptions set plan_code = 'PRO', status = 'active', "
        + "current_period_start = now(), current_period_end = now() + interval '1 month', "
        + "funded_by_payment_id = (select p.id from public.payments as p where p.order_id = 'WH-' || :g) "
        + "where user_id = bench.uid(:g);\n"
        + "COMMIT;\n\\endpipeline\n"
    )


def _pool(run: int) -> tuple[int, int]:
    first = POOL + run * STRIDE + 1
    return first, first + CLIENTS * PER_CLIENT - 1


def apply(bench: Bench) -> Row:
    ours, baseline = _ours(bench), _baseline(bench)
    measured = 4 * ROUNDS
    for run in range(measured + 2):  # the measured runs, then one profile run per side
        fixtures.pending_payments(bench, "WH-", *_pool(run))
    fixtures.vacuum(bench)

    def drive(script: str, run: int, clients: int = CLIENTS, per: int = PER_CLIENT) -> Any:
        defines = {"n": 0, "base": POOL + run * STRIDE, "per": PER_CLIENT}
        return bench.pgbench([script], clients=clients, transactions=per, defines=defines)

    half = measured // 2
    mine, theirs = bench.alternate(lambda i: drive(ours, i), lambda i: drive(baseline, half + i), ROUNDS)
    paid = bench.sql(
        "select count(*) filter (where status = 'paid'), count(*) "
        "from public.payments where order_id like 'WH-%'"
    )[0]
    expected = measured * CLIENTS * PER_CLIENT
    if int(paid[0]) != expected:
        raise BenchError(f"webhook apply: {paid[0]} of {paid[1]} pool payments paid, expected {expected}")
    profile: dict[str, Any] = {}
    for name, script, run in (("ours", ours, measured), ("baseline", baseline, measured + 1)):
        profile[name] = {}
        with bench.statement_profile(profile[name], per=PROFILE_CALLS):
            drive(script, run, clients=1, per=PROFILE_CALLS)
    return Row.compare(
        "webhooks", f"webhook apply, unique events, {CLIENTS} clients",
        f"{mean_tps(mine):,.0f} TPS", f"{mean_tps(theirs):,.0f} TPS", mean_tps(mine) / mean_tps(theirs), TPS,
        ours_tps=[r.tps for r in mine], baseline_tps=[r.tps for r in theirs],
        events_per_run=CLIENTS * PER_CLIENT, profile=profile,
    )  # fmt: skip


def storm(bench: Bench) -> Row:
    """1,000 events, each delivered 5 times, the copies of one event back to back across 16 threads that
    each call apply_payment_event through the psycopg port (as the edge app does)."""
    last = STORM_FIRST + STORM_EVENTS - 1
    fixtures.pending_payments(bench, "ST-", STORM_FIRST, last)
    database = PsycopgDatabase(bench.stack.authenticator_url(), min_size=CLIENTS, max_size=CLIENTS)

    def deliver(n: int) -> str:
        try:
            result = database.rpc(
                "apply_payment_event",
                {
                    "provider": "stripe", "event_key": f"evt_s{n}", "order_id": f"ST-{n}",
                    "event_type": "checkout.session.completed", "status": "paid", "amount_minor": 900,
                    "currency": "USD",
                    "payload": json.loads(PAYLOAD),
                },
                caller=Caller.service(),
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported, none is hidden
            return f"error: {type(exc).__name__}"
        return str(result[0]["outcome"])

    try:
        database.wait_ready()
        started = time.perf_counter()
        deliveries = [n for n in range(STORM_FIRST, last + 1) for _ in range(STORM_DELIVERIES)]
        with ThreadPoolExecutor(CLIENTS) as pool:
            outcomes = Counter(pool.map(deliver, deliveries))
        seconds = time.perf_counter() - started
    finally:
        database.close()
    paid, extended, audited, ledger = bench.sql(
        """
        select count(*) filter (where p.status = 'paid'),
               count(*) filter (where s.current_period_end is distinct from p.paid_at + interval '1 month'),
               (select count(*) from private.audit_logs as a
                 where a.entity = 'subscriptions' and a.action = 'subscriptions.update' and a.entity_id in
                   (select user_id::text from public.payments where order_id like 'ST-%')),
               (select count(*) from private.webhook_events where event_key like 'evt\\_s%')
        from public.payments as p join public.subscriptions as s on s.user_id = p.user_id
        where p.order_id like 'ST-%'
        """
    )[0]
    applied = outcomes.get("applied", 0)
    double = int(extended) + max(int(audited) - STORM_EVENTS, 0)
    met = double == 0 and applied == int(paid) == int(ledger) == STORM_EVENTS
    return Row(
        "webhooks",
        f"duplicate storm, {STORM_EVENTS:,} events x {STORM_DELIVERIES} deliveries, {CLIENTS} concurrent",
        f"{applied:,} applied, {double} double extensions",
        "—",
        None,
        f"exactly {STORM_EVENTS:,} applied, 0 double extensions",
        met,
        data={
            "outcomes": dict(outcomes), "payments_paid": int(paid), "ledger_rows": int(ledger),
            "subscription_updates_audited": int(audited), "periods_not_exactly_one_month": int(extended),
            "seconds": round(seconds, 2),
        },
    )  # fmt: skip
