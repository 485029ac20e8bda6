"""`python -m bench` (`make bench`): every benchmark on a PostgreSQL cluster of its own, each path against
its baseline in the same run; results in bench/results/ (latest.json, latest.md, latest.png).

Order matters because the data grows: reads at 10k payment rows; the rate limiter and its peers (~10k
buckets left); the load to 1M payments and 1M buckets; reads and the hot key again; then webhooks and HTTP.
Exit status: 0 when the results were written (missed targets are marked in them), 2 when a benchmark could
not run; with --strict, 1 when a target is missed.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import UTC, datetime

from bench import edge, gateway, peers, pooler, ratelimit, report, rls, webhooks
from bench.harness import Bench, BenchError, Row, own_stack


def main() -> int:
    started = time.monotonic()

    def progress(message: str) -> None:
        sys.stderr.write(f"[{time.monotonic() - started:6.1f} s] {message}\n")

    try:
        import matplotlib  # noqa: F401 - fail before ten minutes of work, not after
    except ImportError:
        progress("matplotlib is missing: pip install -e '.[dev,bench]'")
        return 2
    rows: list[Row] = []
    try:
        with own_stack(progress) as bench:
            meta = _meta(bench)
            progress(f"1,000 users, {rls.SMALL:,} payments")
            rls.load_small(bench)
            progress("RLS reads at 10k rows")
            small = rls.measure(bench, 10)
            progress("rate limits: 10k keys (default, synchronous commit, unlogged), then one hot key")
            limits, hot = ratelimit.run(bench)
            rows += limits
            progress("peers: Redis with Upstash's Lua, the check-then-insert limiter")
            rows += peers.run(bench)
            progress(f"loading to {rls.LARGE:,} payments (triggers and audit included)")
            rls.load_large(bench)
            progress("RLS reads at 1M rows")
            rows += rls.rows(bench, small)
            progress(f"hot key with {ratelimit.BUCKETS:,} buckets")
            rows.append(ratelimit.growth(bench, hot))
            progress("webhook apply")
            rows.append(webhooks.apply(bench))
            rows.append(pooler.apply(bench))  # the same apply through PgBouncer (transaction mode) vs direct
            progress("duplicate storm")
            rows.append(webhooks.storm(bench))
            progress("webhook endpoint over HTTP")
            rows += edge.run(bench)
            rows += edge.streams(bench)  # 200 slow AI streams: /health p95 and the app's RSS
            progress("consume_rate_limit through the /rest/v1/rpc gateway")
            rows.append(gateway.run(bench))
    except BenchError as exc:
        progress(f"benchmark failed: {exc}")
        return 2
    order = ["rate limits", "webhooks", "rls", "growth", "http", "peers"]
    rows.sort(key=lambda row: order.index(row.group))
    meta.update(
        finished_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), wall_seconds=time.monotonic() - started
    )
    where = report.write(rows, meta)
    sys.stdout.write(report.table(rows))
    progress(f"results in {where}/ (latest.json, latest.md, latest.png)")
    missed = sum(not row.met for row in rows)
    if missed:
        progress(f"{missed} target(s) missed: see the 'met' column and the profiles in latest.md")
    return 1 if missed and "--strict" in sys.argv[1:] else 0


def _meta(bench: Bench) -> dict[str, object]:
    version, sync = bench.sql("show server_version")[0][0], bench.sql("show synchronous_commit")[0][0]
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        "postgres": version,
        "synchronous_commit": sync,
        "shared_buffers": bench.sql("show shared_buffers")[0][0],
    }


if __name__ == "__main__":
    sys.exit(main())
