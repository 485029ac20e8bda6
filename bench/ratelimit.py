"""Rate limits: `consume_rate_limit` against a bare single-row upsert counter, both under PostgREST's
per-request contract, 16 clients, one hot key and 10k keys; then the hot key again with 1M buckets.

The limiter's options are measured in the same interleaved runs as the 10k-key row, against the same
baseline runs: its default (logged counters, the limiter's own transaction committed asynchronously), the
same function with synchronous commit (`alter function … set synchronous_commit = on`, the README's way
back: a SET clause restores the setting on exit), and unlogged counters (`thinbase ratelimit storage
unlogged`). The counter baseline always commits synchronously on a logged table: it is the same baseline
as before these options existed.

Growth is judged against the bare counter measured alongside at both sizes: its table does not grow, so
it cancels what changed on the machine in between (a shared 2-core box drifts by tens of percent over
minutes); the raw change is reported too."""

from __future__ import annotations

from typing import Any

from bench import fixtures
from bench.harness import Bench, Row, Run, Target, mean_tps

CLIENTS = 16
SECONDS = 4
KEYS = 10_000
BUCKETS = 1_000_000
TPS = Target(">=", 0.9, "TPS")
UNLOGGED = Target(">=", 1.0, "TPS (against the logged counter)")
GROWTH = Target("<=", 1.5, "(1M / 10k, against the bare counter)")
# Far above what a run can reach, so every call is admitted and counted; the longest window the function
# accepts, so a run never crosses a window boundary and the final count can be checked exactly.
LIMIT, WINDOW = 2_000_000_000, 31_622_400
PROFILE_CALLS = 2_000  # one client, per side
OPTION_SECONDS = 3  # 4 rounds x 4 sides: 48 s for the 10k-key rows


def _ours(bench: Bench, subject: str) -> str:
    return (
        bench.contract("service_role", "POST", "/rpc/consume_rate_limit")
        + "select coalesce(json_agg(r), '[]') from public.consume_rate_limit(namespace => 'bench', "
        + f"subject => {subject}, max_requests => {LIMIT}, window_seconds => {WINDOW}) as r;\nCOMMIT;\n"
    )


def _baseline(bench: Bench, key: str) -> str:
    # What PostgREST sends for an upsert (POST /counters, Prefer: resolution=merge-duplicates).
    return (
        bench.contract("service_role", "POST", "/counters")
        + f"with r as (insert into bench.counters as c (key, hits) values ({key}, 1) on conflict (key) "
        + "do update set hits = c.hits + 1 returning c.hits) select coalesce(json_agg(r), '[]') from r;\n"
        + "COMMIT;\n"
    )


def _pair(bench: Bench, setup: str, key: str) -> tuple[list[Run], list[Run]]:
    ours, baseline = setup + _ours(bench, key), setup + _baseline(bench, key)
    return bench.alternate(
        lambda _: bench.pgbench([ours], clients=CLIENTS, seconds=SECONDS),
        lambda _: bench.pgbench([baseline], clients=CLIENTS, seconds=SECONDS),
    )


RPC = "public.consume_rate_limit(text, text, integer, integer)"
# How each option is put in place and taken away again (as superuser, between runs).
OPTIONS = {
    "default": ("", ""),
    "sync": (
        f"alter function {RPC} set synchronous_commit = on",
        f"alter function {RPC} reset synchronous_commit",
    ),
    "unlogged": (
        "alter table private.rate_limit_buckets set unlogged",
        "alter table private.rate_limit_buckets set logged",
    ),
}


def _options(bench: Bench, setup: str, key: str, rounds: int = 4) -> dict[str, list[Run]]:
    """Each option of ours and the baseline, interleaved (forwards, then backwards, …) so drift on a shared
    machine falls on all of them alike."""
    scripts = {name: setup + _ours(bench, key) for name in OPTIONS}
    scripts["baseline"] = setup + _baseline(bench, key)
    order = [*OPTIONS, "baseline"]
    runs: dict[str, list[Run]] = {name: [] for name in order}
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            on, off = OPTIONS.get(name, ("", ""))
            if on:
                bench.sql(on)
            try:
                runs[name].append(bench.pgbench([scripts[name]], clients=CLIENTS, seconds=OPTION_SECONDS))
            finally:
                if off:
                    bench.sql(off)
    return runs


def _hot_hits(bench: Bench) -> int:
    rows = bench.sql(
        "select hits from private.rate_limit_buckets where namespace = 'bench' "
        "and subject_hash = sha256(convert_to('hot', 'UTF8'))"
    )
    return int(rows[0][0]) if rows else 0


def run(bench: Bench) -> tuple[list[Row], tuple[list[Run], list[Run]]]:
    """The two comparisons; also returns the hot-key runs (at ~10k buckets) for the growth check."""
    rows = []
    setup, key = f"\\set k random(1, {KEYS})\n", "'user-' || :k"
    options = _options(bench, setup, key)
    spread = options["default"], options["baseline"]
    hot = _pair(bench, "", "'hot'")
    counted = _hot_hits(bench) == sum(run.transactions for run in hot[0])
    profile: dict[str, Any] = {"ours": {}, "baseline": {}}
    for side, script in (("ours", _ours(bench, key)), ("baseline", _baseline(bench, key))):
        with bench.statement_profile(profile[side], per=PROFILE_CALLS):
            bench.pgbench([setup + script], clients=1, transactions=PROFILE_CALLS)
    keys = f"{KEYS // 1000}k keys, {CLIENTS} clients"
    for name, (ours, baseline), target, extra in (
        (f"rate limit, {keys}", spread, TPS, {"profile": profile}),
        (f"rate limit, one hot key, {CLIENTS} clients", hot, TPS, {"every_call_counted": counted}),
        (
            f"rate limit, {keys}, synchronous commit",
            (options["sync"], spread[1]),
            TPS,
            {"why": "the default row's statements (its profile); only the commit waits for the WAL flush"},
        ),
        (f"rate limit, {keys}, unlogged counters", (options["unlogged"], spread[1]), UNLOGGED, {}),
    ):
        rows.append(
            Row.compare(
                "rate limits", name, f"{mean_tps(ours):,.0f} TPS", f"{mean_tps(baseline):,.0f} TPS",
                mean_tps(ours) / mean_tps(baseline), target,
                ours_tps=[r.tps for r in ours], baseline_tps=[r.tps for r in baseline], **extra,
            )
        )  # fmt: skip
    return rows, hot


def growth(bench: Bench, small: tuple[list[Run], list[Run]]) -> Row:
    """The hot key's mean latency (clients / TPS) with 1M buckets in the table against ~10k."""
    existing = int(bench.sql("select count(*) from private.rate_limit_buckets")[0][0])
    fixtures.fill_buckets(bench, BUCKETS - existing)
    bench.sql("vacuum (analyze) private.rate_limit_buckets")
    large = _pair(bench, "", "'hot'")
    ours = [CLIENTS / mean_tps(runs[0]) * 1000 for runs in (small, large)]  # mean latency, ms
    counter = [CLIENTS / mean_tps(runs[1]) * 1000 for runs in (small, large)]
    raw, drift = ours[1] / ours[0], counter[1] / counter[0]
    return Row.compare(
        "growth", "hot-key limiter, 10k → 1M buckets",
        f"{ours[0]:.2f} ms → {ours[1]:.2f} ms (raw {raw:.2f}x)",
        f"bare counter {counter[0]:.2f} ms → {counter[1]:.2f} ms ({drift:.2f}x)",
        raw / drift, GROWTH, buckets_before=existing,
        ours_tps=[r.tps for r in large[0]], baseline_tps=[r.tps for r in large[1]],
    )  # fmt: skip
