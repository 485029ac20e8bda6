"""The webhook endpoint over HTTP: POST /webhooks/stripe with a valid signature against a trivial route in
the same app, 16 client threads, a fixed number of requests per round and a time cap, loopback only.

The app runs in its own process (uvicorn, one worker, with `thinbase serve`'s uvicorn configuration and
JSON request logs), so the load generator does not share its interpreter. The trivial route exists only here:
`create_bench_app` adds it to the production app for the benchmark.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from bench import fixtures
from bench.harness import Bench, BenchError, Row, Target
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.fakes.ai import OpenAIFake
from thinbase.local.paths import ROOT

CLIENTS = 16
REQUESTS = 1_500  # per round; two rounds per endpoint
WARMUP = 100
CAP_SECONDS = 60.0
FIRST = 4_000_001
SECRET = "whsec_bench_only"  # noqa: S105 - signs the benchmark's own requests
RATE = Target(">=", 0.6, "req/s")
P95 = Target("<=", 1.5, "p95")
# AI streaming: STREAMS slow answers from the AI fake at once (a chunk every STREAM_DELAY seconds) while
# HEALTH_CLIENTS poll /health; the same polling without the streams is the baseline.
STREAMS = 200
STREAM_DELAY = 0.25
STREAM_WORDS = 40  # the fake sends one chunk per word of its reply: ~10 s per stream
HEALTH_CLIENTS = 4
RAMP_SECONDS = 2.0
HEALTH_SECONDS = 4.0
# Bench user ids by row: HTTP webhooks from 4,000,001, the pooler row 5,000,001-5,800,000 (bench/pooler.py),
# these streams' users from 7,000,001.
FIRST_AI = 7_000_001
HEALTH_P95 = Target("<=", 2.0, "p95")
RSS_GROWTH_MIB = 20.0  # the target as a ratio: RSS during / before <= (before + 20 MiB) / before


async def _noop(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def create_bench_app() -> Starlette:
    """The production app plus GET /bench/noop; `python -m bench.edge PORT` serves it."""
    from thinbase.functions._shared.logging import configure_logging
    from thinbase.functions.app import create_app
    from thinbase.settings import load_settings

    configure_logging()
    app = create_app(load_settings(env=dict(os.environ)))
    app.add_route("/bench/noop", _noop, methods=["GET"])
    return app


@dataclass
class Load:
    seconds: float
    latencies: list[float] = field(default_factory=list)  # ms, successful requests only
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        values = sorted(self.latencies)
        return values[min(len(values) - 1, int(q * len(values)))]


Call = tuple[str, str, dict[str, str], bytes]  # method, path, headers, body


def _generate(url: str, requests: list[Call], ok: Callable[[httpx.Response], bool]) -> Load:
    """CLIENTS threads with keep-alive clients drain `requests`; stops at CAP_SECONDS whatever is left."""
    lock, pending = threading.Lock(), list(reversed(requests))
    load = Load(seconds=0.0)
    start = threading.Barrier(CLIENTS + 1)
    deadline = [0.0]

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=10.0) as client:
            start.wait()
            while time.perf_counter() < deadline[0]:
                with lock:
                    if not pending:
                        return
                    method, path, headers, body = pending.pop()
                began = time.perf_counter()
                try:
                    response = client.request(method, path, headers=headers, content=body)
                    good, why = ok(response), f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    good, why = False, type(exc).__name__
                elapsed = (time.perf_counter() - began) * 1000
                with lock:
                    if good:
                        load.latencies.append(elapsed)
                    else:
                        load.failures[why] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + CAP_SECONDS
    start.wait()
    for thread in threads:
        thread.join(CAP_SECONDS + 15)
    load.seconds = time.perf_counter() - began
    return load


def _webhook(n: int) -> Call:
    body = json.dumps(
        {
            "id": f"evt_h{n}", "object": "event", "type": "checkout.session.completed",
            "created": int(time.time()),
            "data": {"object": {
                "id": f"cs_test_h{n}", "object": "checkout.session", "amount_total": 900, "currency": "usd",
                "payment_status": "paid", "status": "complete", "client_reference_id": f"HT-{n}",
                "metadata": {"order_id": f"HT-{n}", "plan_code": "PRO"},
            }},
        }
    ).encode()  # fmt: skip
    stamp = int(time.time())
    signature = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "Stripe-Signature": f"t={stamp},v1={signature}"}
    return "POST", "/webhooks/stripe", headers, body


def _applied(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json().get("outcome") == "applied"


def _ok(response: httpx.Response) -> bool:
    return response.status_code == 200


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(bench: Bench, port: int, **extra: str) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(bench.work)),
        "THINBASE_LOCAL_DIR": str(bench.local_dir),
        **bench.stack.env(port),
        "STRIPE_SECRET_KEY": "sk_test_bench_only",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_BASE_URL": "http://127.0.0.1:9",  # never called: webhooks only
        **extra,
    }
    log = (bench.work / "edge.log").open("wb")
    cmd = [sys.executable, "-m", "bench.edge", str(port)]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            if httpx.get(url + "/bench/noop", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise BenchError("the edge app did not start; see its log in the benchmark's work directory")


def run(bench: Bench) -> list[Row]:
    count = WARMUP + 2 * REQUESTS
    fixtures.pending_payments(bench, "HT-", FIRST, FIRST + count - 1)
    fixtures.vacuum(bench)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _serve(bench, port)
    try:
        _wait_ready(url, server)
        numbers = iter(range(FIRST, FIRST + count))
        noop: Call = ("GET", "/bench/noop", {}, b"")
        _generate(url, [_webhook(next(numbers)) for _ in range(WARMUP)], _applied)
        _generate(url, [noop] * WARMUP, _ok)
        bench.checkpoint()
        hooks, trivial = [], []
        cpu = {"hooks": 0.0, "noop": 0.0}  # the edge process's CPU seconds per endpoint
        for first_hooks in (True, False):  # webhooks, noop, noop, webhooks
            batch = [_webhook(next(numbers)) for _ in range(REQUESTS)]
            for which in ("hooks", "noop") if first_hooks else ("noop", "hooks"):
                before = _cpu_seconds(server.pid)
                if which == "hooks":
                    hooks.append(_generate(url, batch, _applied))
                else:
                    trivial.append(_generate(url, [noop] * REQUESTS, _ok))
                cpu[which] += _cpu_seconds(server.pid) - before
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    failures = sum((load.failures for load in hooks + trivial), Counter[str]())
    if failures:
        raise BenchError(f"HTTP benchmark: failed requests {dict(failures)}")
    rate = sum(len(x.latencies) for x in hooks) / sum(x.seconds for x in hooks)
    base_rate = sum(len(x.latencies) for x in trivial) / sum(x.seconds for x in trivial)
    p95 = sorted(v for x in hooks for v in x.latencies)
    base_p95 = sorted(v for x in trivial for v in x.latencies)
    mine, theirs = p95[int(0.95 * len(p95))], base_p95[int(0.95 * len(base_p95))]
    name = f"webhook endpoint over HTTP, {CLIENTS} clients"
    extra = {
        "requests_per_round": REQUESTS, "rounds": 2, "trivial_route": "GET /bench/noop (bench only)",
        "edge_cpu_ms_per_request": {k: round(v * 1000 / (2 * REQUESTS), 3) for k, v in cpu.items()},
    }  # fmt: skip
    return [
        Row.compare("http", name + ", throughput", f"{rate:,.0f} req/s", f"{base_rate:,.0f} req/s",
                    rate / base_rate, RATE, **extra),
        Row.compare("http", name + ", p95 latency", f"p95 {mine:.1f} ms", f"p95 {theirs:.1f} ms",
                    mine / theirs, P95, p50_ms=[round(x.percentile(0.5), 2) for x in hooks],
                    baseline_p50_ms=[round(x.percentile(0.5), 2) for x in trivial]),
    ]  # fmt: skip


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for process {pid}")


def _poll_health(url: str, seconds: float) -> Load:
    """HEALTH_CLIENTS keep-alive clients GET /health back to back for `seconds`."""
    load = Load(seconds=seconds)
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=10.0) as client:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    response = client.get("/health")
                    good, why = response.status_code == 200, f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    good, why = False, type(exc).__name__
                elapsed = (time.perf_counter() - began) * 1000
                with lock:
                    if good:
                        load.latencies.append(elapsed)
                    else:
                        load.failures[why] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(HEALTH_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 15)
    return load


def _stream_users(bench: Bench) -> list[str]:
    """STREAMS users on a plan whose AI caps none of them reaches; their access tokens."""
    last = FIRST_AI + STREAMS - 1
    fixtures.create_users(bench, FIRST_AI, last)
    database = PsycopgDatabase(bench.stack.authenticator_url(), max_size=1)
    try:
        database.rpc(
            "admin_upsert_plan",
            {"code": "BENCH_AI", "name": "bench AI", "active": False, "ai_monthly_token_cap": 10_000_000,
             "ai_requests_per_window": 1_000, "ai_window_seconds": 60},
            caller=Caller.service(),
        )  # fmt: skip
    finally:
        database.close()
    bench.sql(
        "update public.subscriptions set plan_code = 'BENCH_AI', status = 'active', "
        "current_period_end = now() + interval '1 month' "
        "where user_id in (select bench.uid(n) from generate_series(%s::bigint, %s::bigint) as n)",
        (FIRST_AI, last),
    )
    rows = bench.sql(
        "select id::text, email from auth.users "
        "where id in (select bench.uid(n) from generate_series(%s::bigint, %s::bigint) as n)",
        (FIRST_AI, last),
    )
    return [bench.stack.user_token({"id": uid, "email": email}) for uid, email in rows]


def streams(bench: Bench) -> list[Row]:
    """AI streaming: STREAMS slow streams at once must not block /health nor grow the app's memory."""
    tokens = _stream_users(bench)
    reply = " ".join(f"w{i}" for i in range(STREAM_WORDS))
    with OpenAIFake(delay=STREAM_DELAY) as fake:
        fake.default = replace(fake.default, reply=reply, stall=0.0)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        server = _serve(
            bench, port, AI_PROVIDER="openai", AI_BASE_URL=f"{fake.url}/v1", AI_API_KEY=fake.api_key,
            AI_MODEL="gpt-fake-mini",
        )  # fmt: skip
        try:
            _wait_ready(url, server)
            _poll_health(url, 1.0)  # warm-up: connections, caches
            before = _poll_health(url, HEALTH_SECONDS)
            rss_before = _rss_mib(server.pid)
            started = threading.Barrier(STREAMS + 1, timeout=60)
            outcomes: Counter[str] = Counter()
            lock = threading.Lock()

            def stream(token: str) -> None:
                outcome = "no answer"
                try:
                    with httpx.stream(
                        "POST", url + "/ai/chat", timeout=60.0, headers={"Authorization": f"Bearer {token}"},
                        json={"messages": [{"role": "user", "content": "hi"}], "stream": True},
                    ) as response:  # fmt: skip
                        lines = response.iter_lines()
                        first = next(lines, "")  # the first event: the stream is open end to end
                        started.wait()
                        last = first
                        for last in lines:
                            if last.startswith('data: {"done"'):
                                break
                        ended = response.status_code == 200 and last.startswith('data: {"done"')
                        outcome = "done" if ended else f"ended with {last[:80]}"
                except (httpx.HTTPError, threading.BrokenBarrierError) as exc:
                    outcome = type(exc).__name__
                    started.abort()
                with lock:
                    outcomes[outcome] += 1

            threads = [threading.Thread(target=stream, args=(t,), daemon=True) for t in tokens]
            for thread in threads:  # ramped over ~2 s: the fake's accept backlog is small (socketserver's 5)
                thread.start()
                time.sleep(RAMP_SECONDS / STREAMS)
            started.wait()  # every stream has sent its first chunk and is waiting on the fake
            during = _poll_health(url, HEALTH_SECONDS)
            rss_during = _rss_mib(server.pid)
            for thread in threads:
                thread.join(120)
            rss_after = _rss_mib(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
    failures = before.failures + during.failures
    if failures or outcomes != Counter({"done": STREAMS}):
        raise BenchError(f"AI streaming: /health failures {dict(failures)}, streams {dict(outcomes)}")
    mine, theirs = during.percentile(0.95), before.percentile(0.95)
    peak = max(rss_during, rss_after)
    growth = peak - rss_before
    limit = round((rss_before + RSS_GROWTH_MIB) / rss_before, 3)
    rss_target = Target("<=", limit, f"RSS (+{RSS_GROWTH_MIB:g} MiB)")
    rss = {"before": round(rss_before, 1), "during": round(rss_during, 1), "after": round(rss_after, 1)}
    name = f"AI streaming, {STREAMS} concurrent slow streams"
    return [
        Row.compare("http", name + ": /health p95 during vs without", f"p95 {mine:.1f} ms",
                    f"p95 {theirs:.1f} ms", mine / theirs, HEALTH_P95, health_clients=HEALTH_CLIENTS,
                    health_req_s=[round(before.rate), round(during.rate)], chunk_every_s=STREAM_DELAY),
        Row.compare("http", name + ": app RSS", f"{peak:.1f} MiB ({growth:+.1f})",
                    f"{rss_before:.1f} MiB before", peak / rss_before, rss_target, rss_mib=rss),
    ]  # fmt: skip


if __name__ == "__main__":
    from thinbase.functions._shared.serving import serve

    sys.exit(0 if serve(create_bench_app(), host="127.0.0.1", port=int(sys.argv[1])) else 1)
