"""The peers, side by side with our limiter in the same run (issue 17 §1): Redis as a user of Upstash
Ratelimit runs it (bench/redis_peer.py), and the check-then-insert limiter many Supabase starters ship.

Throughput: the same 16 clients as the rate-limit rows, our `consume_rate_limit` under PostgREST's
contract (bench/ratelimit.py's script) alternating with each peer, so drift on a shared machine falls on
both sides. Over-admission: 32 clients make 50 calls each on one fresh key with limit 100, three times;
our limiter must admit exactly 100 every time.

The check-then-insert limiter is what an edge function written with supabase-js does: one request counts
the key's rows in the window (`select('*', {count: 'exact', head: true})`), and when the count is under the
limit a second request inserts a row. Between the two, other requests see the same count.
"""

from __future__ import annotations

import statistics
import time
from contextlib import ExitStack
from typing import Any

from bench import ratelimit, redis_peer
from bench.harness import Bench, BenchError, Row, Run, Target, mean_tps

GROUP = "peers"
CLIENTS = ratelimit.CLIENTS
SECONDS = 2
REDIS_REQUESTS = 40_000  # per redis-benchmark run: under 1 s at the rates Redis reaches here when quiet
ATTACKERS, CALLS, LIMIT, TRIALS = 32, 50, 100, 3
PERSISTENCE = ("none", "aof everysec")
# §3 of the issue: with comparable durability (AOF everysec), at least half of Redis' fixed window.
VS_REDIS = Target(">=", 0.5, "TPS of Redis, AOF everysec")
VS_STARTER = Target(">=", 1.0, "TPS (exact, and no slower than the inexact one)")
THROUGHPUT_LIMIT = ratelimit.LIMIT  # nothing is refused, so every call does its full work
WINDOW_MS = 3_600_000

PEER_SQL = """
create table bench.starter_hits (key text not null, at timestamptz not null default now());
create index starter_hits_key_at on bench.starter_hits (key, at);
grant select, insert on bench.starter_hits to service_role;
-- one row per call our limiter admitted, in the over-admission check
create table bench.admitted (trial text not null);
grant insert on bench.admitted to service_role;
"""


def _starter(bench: Bench, key: str, limit: int) -> str:
    """Two PostgREST requests: HEAD /starter_hits?key=eq.…&at=gt.… with count=exact (a read-only
    transaction, as GET), then POST /starter_hits."""
    return (
        bench.contract("service_role", "GET", "/starter_hits")
        + f"select count(*) as n from bench.starter_hits where key = {key} and at > now() - interval '1 hour'"
        + " \\gset\nCOMMIT;\n"
        + f"\\if :n < {limit}\n"
        + bench.contract("service_role", "POST", "/starter_hits")
        + f"insert into bench.starter_hits (key) values ({key});\nCOMMIT;\n\\endif\n"
    )


def _ours_admitting(bench: Bench, trial: str) -> str:
    """Our RPC as PostgREST calls it, plus a row in bench.admitted when it answered allowed."""
    return (
        bench.contract("service_role", "POST", "/rpc/consume_rate_limit")
        + f"insert into bench.admitted (trial) select '{trial}' from public.consume_rate_limit(namespace => "
        + f"'peers', subject => '{trial}', max_requests => {LIMIT}, window_seconds => {ratelimit.WINDOW}) "
        + "as r where r.allowed;\nCOMMIT;\n"
    )


def _info(bench: str, ours: str, baseline: str, ratio: float | None, **data: Any) -> Row:
    """A peer row without a target of its own: shown for the comparison, never a miss."""
    rounded = None if ratio is None else round(ratio, 3)
    return Row(GROUP, bench, ours, baseline, rounded, "— (peer)", True, None, data)


def run(bench: Bench) -> list[Row]:
    bench.sql(PEER_SQL)
    with ExitStack() as stack:
        servers = {p: stack.enter_context(redis_peer.redis_server(p)) for p in PERSISTENCE}
        began = time.monotonic()
        rows = _throughput(bench, servers)
        middle = time.monotonic()
        rows += _over_admission(bench, servers["none"])
        rows[0].data["seconds"] = {"throughput": round(middle - began, 1),
                                   "over_admission": round(time.monotonic() - middle, 1)}  # fmt: skip
    return rows


def _throughput(bench: Bench, servers: dict[str, redis_peer.Redis]) -> list[Row]:
    rows: list[Row] = []
    now_ms = int(time.time() * 1000)
    combos = [(p, a) for a in redis_peer.SCRIPTS for p in PERSISTENCE]
    for shape, key_sql, redis_key, keyspace in (
        (f"{ratelimit.KEYS // 1000}k keys", "'user-' || :k", "__rand_int__", ratelimit.KEYS),
        ("one hot key", "'peer-hot'", "hot", None),
    ):
        setup = f"\\set k random(1, {ratelimit.KEYS})\n" if keyspace else ""
        ours_script = setup + ratelimit._ours(bench, key_sql)
        starter_script = setup + _starter(bench, key_sql, THROUGHPUT_LIMIT) if keyspace else None
        ours: list[Run] = []
        starter: list[Run] = []
        redis: dict[tuple[str, str], list[float]] = {combo: [] for combo in combos}

        def pg(script: str) -> Run:
            return bench.pgbench([script], clients=CLIENTS, seconds=SECONDS)

        # ours, starter, Redis x4, ours, Redis x4 reversed, starter, ours
        ours.append(pg(ours_script))
        if starter_script:
            starter.append(pg(starter_script))
        _redis_pass(servers, redis, combos, redis_key, keyspace, now_ms)
        ours.append(pg(ours_script))
        _redis_pass(servers, redis, combos[::-1], redis_key, keyspace, now_ms)
        if starter_script:
            starter.append(pg(starter_script))
        ours.append(pg(ours_script))

        mine = mean_tps(ours)
        for (persistence, algorithm), rates in redis.items():
            theirs = statistics.fmean(rates)
            durability = "no persistence" if persistence == "none" else persistence.replace("aof", "AOF")
            name = f"ours / Redis {algorithm} (Upstash), {shape}, {CLIENTS} clients, {durability}"
            data = {"ours_tps": [r.tps for r in ours], "redis_rps": rates, "driver": "redis-benchmark"}
            if (persistence, algorithm, keyspace) == ("aof everysec", "fixed window", ratelimit.KEYS):
                rows.append(Row.compare(GROUP, name, f"{mine:,.0f} TPS", f"{theirs:,.0f} req/s",
                                        mine / theirs, VS_REDIS, **data))  # fmt: skip
            else:
                rows.append(_info(name, f"{mine:,.0f} TPS", f"{theirs:,.0f} req/s", mine / theirs, **data))
        if starter:
            theirs = mean_tps(starter)
            rows.append(Row.compare(
                GROUP, f"ours / check-then-insert limiter (count, then insert), {shape}, {CLIENTS} clients",
                f"{mine:,.0f} TPS", f"{theirs:,.0f} decisions/s", mine / theirs, VS_STARTER,
                ours_tps=[r.tps for r in ours], starter_tps=[r.tps for r in starter],
                starter="two PostgREST requests per decision: HEAD count=exact, then POST",
            ))  # fmt: skip
    return rows


def _redis_pass(
    servers: dict[str, redis_peer.Redis],
    into: dict[tuple[str, str], list[float]],
    order: list[tuple[str, str]],
    key: str,
    keyspace: int | None,
    now_ms: int,
) -> None:
    # redis-benchmark draws each `__rand_int__` afresh, so on 10k keys the sliding window's previous-window
    # key belongs to another identifier (and is empty): the same two GETs and one INCRBY per call.
    for persistence, algorithm in order:
        cmd = redis_peer.command(algorithm, key, limit=THROUGHPUT_LIMIT, window_ms=WINDOW_MS, now_ms=now_ms)
        server = servers[persistence]
        into[(persistence, algorithm)].append(
            server.benchmark(cmd, clients=CLIENTS, requests=REDIS_REQUESTS, keyspace=keyspace)
        )


def _over_admission(bench: Bench, redis: redis_peer.Redis) -> list[Row]:
    """Admitted calls out of ATTACKERS x CALLS on one fresh key, limit LIMIT, TRIALS times each."""
    ours, starter = [], []
    redis_counts: dict[str, list[int]] = {algorithm: [] for algorithm in redis_peer.SCRIPTS}
    stamp = int(time.time())
    for trial in range(TRIALS):
        name = f"over-{stamp}-{trial}"
        bench.pgbench([_ours_admitting(bench, name)], clients=ATTACKERS, transactions=CALLS)
        ours.append(int(bench.sql("select count(*) from bench.admitted where trial = %s", (name,))[0][0]))
        bench.pgbench([_starter(bench, f"'{name}'", LIMIT)], clients=ATTACKERS, transactions=CALLS)
        counted = bench.sql("select count(*) from bench.starter_hits where key = %s", (name,))
        starter.append(int(counted[0][0]))
        for algorithm, counts in redis_counts.items():
            counts.append(
                redis_peer.over_admission(redis, algorithm, name, clients=ATTACKERS, calls=CALLS, limit=LIMIT)
            )
    calls = f"{ATTACKERS} clients x {CALLS} calls, one key, limit {LIMIT}"
    if any(n < LIMIT for n in ours):
        raise BenchError(f"our limiter admitted fewer than {LIMIT} of {ATTACKERS * CALLS} calls: {ours}")
    exact = all(n == LIMIT for n in ours)
    redis_text = " · ".join(f"Redis {a}: {', '.join(map(str, c))}" for a, c in redis_counts.items())
    over = statistics.fmean(starter) / LIMIT
    ours_text = f"admitted {', '.join(map(str, ours))}"
    starter_text = f"admitted {', '.join(map(str, starter))} (+{(over - 1) * 100:.0f}%)"
    redis_data = {f"redis_{a.replace(' ', '_')}": c for a, c in redis_counts.items()}
    return [
        Row(GROUP, f"over-admission, ours vs Redis (Upstash), {calls}", ours_text, redis_text,
            round(max(ours) / LIMIT, 3), f"exactly {LIMIT} admitted (1x the limit)", exact, 1.0,
            {"ours": ours, **redis_data}),
        _info(f"over-admission, check-then-insert limiter, {calls}", f"ours: {ours_text}", starter_text, over,
              ours_admitted=ours, starter_admitted=starter, ratio_is="starter admitted / limit"),
    ]  # fmt: skip
