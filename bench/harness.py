"""What every benchmark group shares: the benchmark's own cluster, pgbench, PostgREST's request contract,
and the result rows.

The cluster is a `LocalStack` under a temporary directory, never the developer's `.local/`: created at the
start, stopped and deleted at the end. pgbench logs in as `postgres` (the role the psycopg port uses on a
hosted project, DESIGN.md) rather than `authenticator`: with `-M prepared`, pgbench parses every statement
of a script before the transaction's `set role` runs, and the baselines' plain statements name tables in
`private`, which `authenticator` cannot even resolve. Each transaction then switches role exactly as
PostgREST does, so privileges and RLS are those of anon/authenticated/service_role either way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from thinbase.local.paths import PG_BIN
from thinbase.local.stack import LocalStack

PGBENCH = PG_BIN / "pgbench"
PGBENCH_TIMEOUT = 120.0


class BenchError(Exception):
    """A benchmark could not run (a tool is missing, pgbench failed, a sanity check did not hold)."""


def uid(n: int) -> str:
    """The deterministic user id of bench user `n`; `bench.uid(n)` computes the same in SQL."""
    return f"00000000-0000-4000-8000-{n:012x}"


# -- results --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """`ratio op value`, e.g. ours/baseline TPS >= 0.8."""

    op: Literal[">=", "<="]
    value: float
    what: str

    def met(self, ratio: float) -> bool:
        return ratio >= self.value if self.op == ">=" else ratio <= self.value

    def __str__(self) -> str:
        return f"{'≥' if self.op == '>=' else '≤'} {self.value:g}x {self.what}".rstrip()


@dataclass
class Row:
    """One line of the results table."""

    group: str
    bench: str
    ours: str
    baseline: str
    ratio: float | None
    target: str
    met: bool
    goal: float | None = None  # the target's threshold, for the plot
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def compare(
        cls, group: str, bench: str, ours: str, baseline: str, ratio: float, target: Target, **data: Any
    ) -> Row:
        return cls(
            group, bench, ours, baseline, round(ratio, 3), str(target), target.met(ratio), target.value, data
        )


# -- pgbench --------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One pgbench run: throughput over the whole run and per-transaction latencies (ms) per script."""

    tps: float
    transactions: int
    latencies: dict[int, list[float]]

    def percentile(self, q: float, script: int = 0) -> float:
        values = sorted(self.latencies.get(script, []))
        if not values:
            raise BenchError("no latencies were logged for this run")
        return values[min(len(values) - 1, int(q * len(values)))]


def mean_tps(runs: Sequence[Run]) -> float:
    return statistics.fmean(run.tps for run in runs)


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    if found is None:
        raise BenchError(f"pgbench output lacks {pattern!r}:\n{text}")
    return float(found.group(1))


def _read_latencies(prefix: Path) -> dict[int, list[float]]:
    """pgbench -l lines: client_id transaction_no time_us script_no time_epoch time_us_part."""
    latencies: dict[int, list[float]] = {}
    for path in prefix.parent.glob(prefix.name + ".*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[2].isdigit():
                latencies.setdefault(int(fields[3]), []).append(int(fields[2]) / 1000.0)
        path.unlink()
    return latencies


# -- the benchmark's own stack --------------------------------------------------------------------------

BENCH_SCHEMA_SQL = """
create schema bench;
grant usage on schema bench to public;
create function bench.uid(n bigint) returns uuid language sql immutable parallel safe
as $$ select ('00000000-0000-4000-8000-' || pg_catalog.lpad(pg_catalog.to_hex(n), 12, '0'))::uuid $$;
grant execute on function bench.uid(bigint) to public;
-- The rate limiter's baseline: a bare counter, one row per key.
create table bench.counters (key text primary key, hits bigint not null);
grant select, insert, update on bench.counters to service_role;
"""


class Bench:
    """The benchmark's own local stack and the tools that drive it."""

    def __init__(self, local_dir: Path) -> None:
        self.local_dir = local_dir
        self.work = local_dir / "work"
        self.stack = LocalStack(local_dir=local_dir)
        self._conn: psycopg.Connection[Any] | None = None
        self._role_settings: dict[str, list[tuple[str, str]]] = {}
        self._runs = 0

    # -- lifecycle --------------------------------------------------------------------------------------

    def up(self, progress: Callable[[str], None]) -> None:
        if not PGBENCH.exists():
            raise BenchError(f"{PGBENCH} is missing: it ships with Debian's postgresql-15 (run `make deps`)")
        self.work.mkdir(parents=True, exist_ok=True)
        self.stack.up(progress)
        self._enable_statement_stats(progress)
        self.sql(BENCH_SCHEMA_SQL)
        # The billing cycle (pg_cron, every 15 minutes) must not land inside a measurement.
        self.sql("select cron.unschedule(jobid) from cron.job")
        for role in ("anon", "authenticated", "service_role"):
            rows = self.sql(
                """
                select split_part(setting, '=', 1), substr(setting, strpos(setting, '=') + 1)
                from pg_db_role_setting as s join pg_roles as r on r.oid = s.setrole
                cross join lateral unnest(s.setconfig) as setting
                where r.rolname = %s and s.setdatabase in (0, (select oid from pg_database
                                                               where datname = current_database()))
                """,
                (role,),
            )
            self._role_settings[role] = [(str(name), str(value)) for name, value in rows]

    def _enable_statement_stats(self, progress: Callable[[str], None]) -> None:
        """Preload pg_stat_statements (tracking off) so a profile can be taken outside the measured runs."""
        preload = str(self.sql("show shared_preload_libraries")[0][0])
        libraries = [name.strip() for name in preload.split(",") if name.strip()]
        if "pg_stat_statements" not in libraries:
            listed = ", ".join(f"'{name}'" for name in [*libraries, "pg_stat_statements"])
            self.sql(f"alter system set shared_preload_libraries = {listed}")
            self.close()
            progress("restarting the benchmark cluster with pg_stat_statements preloaded")
            self.stack.down()
            self.stack.up()
        self.sql("create extension if not exists pg_stat_statements with schema extensions")
        self.sql("alter system set pg_stat_statements.track = 'none'")
        self.sql("select pg_reload_conf()")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def destroy(self) -> None:
        self.close()
        state = self.stack.load_state()
        try:
            self.stack.down()
        finally:
            if state is not None:
                shutil.rmtree(state.cluster_dir, ignore_errors=True)
            shutil.rmtree(self.local_dir, ignore_errors=True)

    # -- SQL as superuser -------------------------------------------------------------------------------

    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.stack.superuser_conninfo(), autocommit=True)
        cursor = self._conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []

    def checkpoint(self) -> None:
        """Before each measured run: nothing left to flush from the previous one."""
        self.sql("checkpoint")

    # -- PostgREST's per-request contract ---------------------------------------------------------------

    def contract(self, role: str, method: str, path: str, claims_sql: str | None = None) -> str:
        """BEGIN and the transaction-local settings PostgREST sends before the query (platform.md §4.1).

        `claims_sql` is an SQL expression for the JWT claims (it may use pgbench variables); by default the
        claims are just the role's.
        """
        claims = claims_sql or _literal(json.dumps({"role": role}))
        pairs = [
            ("'search_path'", _literal('"public", public, extensions')),
            *((_literal(name), _literal(value)) for name, value in self._role_settings[role]),
            ("'role'", _literal(role)),
            ("'request.jwt.claims'", claims),
            ("'request.method'", _literal(method)),
            ("'request.path'", _literal(path)),
            ("'request.headers'", _literal('{"content-type": "application/json"}')),
            ("'request.cookies'", "'{}'"),
        ]
        access = "READ ONLY" if method == "GET" else "READ WRITE"
        settings = ", ".join(f"set_config({name}, {value}, true)" for name, value in pairs)
        return f"BEGIN ISOLATION LEVEL READ COMMITTED {access};\nselect {settings};\n"

    # -- pgbench ----------------------------------------------------------------------------------------

    def pgbench(
        self,
        scripts: Sequence[str],
        *,
        clients: int = 16,
        seconds: float | None = None,
        transactions: int | None = None,
        defines: Mapping[str, int] | None = None,
        latencies: bool = False,
        port: int | None = None,
        protocol: Literal["prepared", "extended", "simple"] = "prepared",
    ) -> Run:
        """Run pgbench with `scripts` (mixed with equal weights) against the benchmark's cluster (or, with
        `port`, a pooler in front of it on loopback)."""
        self.checkpoint()
        self._runs += 1
        files = []
        for index, script in enumerate(scripts):
            path = self.work / f"run{self._runs}-{index}.sql"
            path.write_text(script)
            files += ["-f", f"{path}@1"]
        state = self.stack.state()
        cmd = [
            str(PGBENCH), "-n", "-h", "127.0.0.1", "-p", str(port or state.port), "-U", "postgres",
            "-c", str(clients), "-j", str(min(2, clients)), "-M", protocol,
        ]  # fmt: skip
        cmd += ["-T", str(int(seconds))] if seconds is not None else ["-t", str(transactions or 1)]
        for name, value in (defines or {}).items():
            cmd += ["-D", f"{name}={value}"]
        prefix = self.work / f"log{self._runs}"
        if latencies:
            cmd += ["-l", f"--log-prefix={prefix}"]
        cmd += [*files, "postgres"]
        env = {**os.environ, "PGPASSWORD": state.postgres_password, "PGAPPNAME": "thinbase-bench"}
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, env=env, timeout=PGBENCH_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"pgbench did not finish within {PGBENCH_TIMEOUT:.0f} s") from exc
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise BenchError(f"pgbench failed (exit {done.returncode}):\n{output[-3000:]}")
        if _number(r"number of failed transactions: (\d+)", output):
            raise BenchError(f"pgbench reported failed transactions:\n{output[-3000:]}")
        return Run(
            tps=_number(r"tps = ([\d.]+) \(without initial connection time\)", output),
            transactions=int(_number(r"number of transactions actually processed: (\d+)", output)),
            latencies=_read_latencies(prefix) if latencies else {},
        )

    def alternate(
        self, ours: Callable[[int], Run], baseline: Callable[[int], Run], rounds: int = 2
    ) -> tuple[list[Run], list[Run]]:
        """ours, baseline, baseline, ours, then baseline, ours, ours, baseline, …: drift during the
        measurement (bloat, autovacuum, a noisy neighbour on a shared machine) falls on both sides alike.
        Each callable gets the run's index on its own side (0, 1, …)."""
        runs: dict[bool, list[Run]] = {True: [], False: []}
        for r in range(rounds):
            for mine in (True, False, False, True) if r % 2 == 0 else (False, True, True, False):
                runs[mine].append((ours if mine else baseline)(len(runs[mine])))
        return runs[True], runs[False]

    # -- profiles ---------------------------------------------------------------------------------------

    @contextmanager
    def statement_profile(self, into: dict[str, Any], per: int) -> Iterator[None]:
        """pg_stat_statements (nested statements too) for the block; the top statements land in `into`
        as mean µs per statement and calls per transaction (`per` transactions ran)."""
        self.sql("alter system set pg_stat_statements.track = 'all'")
        self.sql("select pg_reload_conf()")
        time.sleep(0.3)
        self.sql("select extensions.pg_stat_statements_reset()")
        try:
            yield
            rows = self.sql(
                """
                select calls, total_exec_time, regexp_replace(query, '\\s+', ' ', 'g')
                from extensions.pg_stat_statements
                where query !~* '^(begin|commit|select set_config|checkpoint)'
                  and query !~ 'pg_stat_statements'
                order by total_exec_time desc limit 12
                """
            )
            into["statements"] = [
                {
                    "us_per_call": round(total / calls * 1000, 1),
                    "calls_per_txn": round(calls / per, 2),
                    "us_per_txn": round(total / per * 1000, 1),
                    "query": query[:160],
                }
                for calls, total, query in rows
            ]
        finally:
            self.sql("alter system set pg_stat_statements.track = 'none'")
            self.sql("select pg_reload_conf()")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@contextmanager
def own_stack(progress: Callable[[str], None]) -> Iterator[Bench]:
    """A fresh cluster under a temporary directory; stopped and deleted whatever happens."""
    bench = Bench(Path(tempfile.mkdtemp(prefix="thinbase-bench-")))
    os.environ["THINBASE_LOCAL_DIR"] = str(bench.local_dir)
    try:
        bench.up(progress)
        yield bench
    finally:
        progress("stopping and deleting the benchmark cluster")
        bench.destroy()
