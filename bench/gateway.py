"""Gateway overhead (ours, not a peer): `consume_rate_limit` called through our local PostgREST stand-in
(`POST /rest/v1/rpc/consume_rate_limit` with the service key, as supabase-py and supabase-js call it) against
the edge app's own path to the same RPC (the port, as the service role, with no API key or JWT to check),
both over HTTP to one app process, the same client count, alternating.

For scale, not measured: PostgREST itself on 2 vCPU (t3a.nano, PostgreSQL on the same box) served about
1.1k POST req/s (supabase/benchmarks-archive#2, ../shared/reference/performance.md §0).
`python -m bench.gateway PORT` serves bench.edge's app plus the own-path route.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from bench import edge, ratelimit
from bench.harness import Bench, BenchError, Row
from thinbase.local.paths import ROOT

REQUESTS = 800  # per round; two rounds per path
WARMUP = 100
POSTGREST_ANCHOR = "PostgREST ~1.1k POST req/s, 2 vCPU (supabase/benchmarks-archive#2; quoted, not measured)"


async def _consume(request: Request) -> JSONResponse:
    from thinbase.db import Caller
    from thinbase.functions._shared.context import call_rpc

    args = json.loads(await request.body())
    return JSONResponse(await call_rpc(request, "consume_rate_limit", args, caller=Caller.service()))


def create_gateway_bench_app() -> Starlette:
    app = edge.create_bench_app()
    app.add_route("/bench/consume", _consume, methods=["POST"])
    return app


def _serve(bench: Bench, port: int) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(bench.work)),
        "THINBASE_LOCAL_DIR": str(bench.local_dir),
        **bench.stack.env(port),
    }
    log = (bench.work / "gateway.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "bench.gateway", str(port)], cwd=ROOT, env=env, stdout=log,
                            stderr=log)  # fmt: skip


def _calls(path: str, headers: dict[str, str], first: int, count: int) -> list[edge.Call]:
    calls = []
    for n in range(first, first + count):
        body = {"namespace": "gateway", "subject": f"user-{n % ratelimit.KEYS}",
                "max_requests": ratelimit.LIMIT, "window_seconds": ratelimit.WINDOW}  # fmt: skip
        calls.append(("POST", path, headers, json.dumps(body).encode()))
    return calls


def _allowed(response: httpx.Response) -> bool:
    if response.status_code != 200:
        return False
    answer = response.json()
    return isinstance(answer, list) and len(answer) == 1 and answer[0].get("allowed") is True


def run(bench: Bench) -> Row:
    port = edge._free_port()
    url = f"http://127.0.0.1:{port}"
    key = bench.stack.env(port)["SUPABASE_SERVICE_ROLE_KEY"]
    json_type = {"Content-Type": "application/json"}
    service = {**json_type, "apikey": key, "Authorization": f"Bearer {key}"}
    paths = {"gateway": ("/rest/v1/rpc/consume_rate_limit", service), "own": ("/bench/consume", json_type)}
    server = _serve(bench, port)
    loads: dict[str, list[edge.Load]] = {"gateway": [], "own": []}
    try:
        edge._wait_ready(url, server)
        for path, headers in paths.values():
            edge._generate(url, _calls(path, headers, 0, WARMUP), _allowed)
        bench.checkpoint()
        for r, order in enumerate((("gateway", "own"), ("own", "gateway"))):
            for which in order:
                path, headers = paths[which]
                batch = _calls(path, headers, r * REQUESTS, REQUESTS)
                loads[which].append(edge._generate(url, batch, _allowed))
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    failures = sum((load.failures for runs in loads.values() for load in runs), Counter[str]())
    if failures:
        raise BenchError(f"gateway benchmark: failed requests {dict(failures)}")
    rate = {w: sum(len(x.latencies) for x in rs) / sum(x.seconds for x in rs) for w, rs in loads.items()}
    return Row(
        "http", f"consume_rate_limit through /rest/v1/rpc vs the edge app's own path, {edge.CLIENTS} clients",
        f"{rate['gateway']:,.0f} req/s", f"{rate['own']:,.0f} req/s", round(rate["gateway"] / rate["own"], 3),
        "— (overhead, informational)", True, None,
        {"anchor": POSTGREST_ANCHOR, "requests_per_round": REQUESTS, "rounds": 2,
         "p50_ms": {w: [round(x.percentile(0.5), 2) for x in runs] for w, runs in loads.items()}},
    )  # fmt: skip


if __name__ == "__main__":
    from thinbase.functions._shared.serving import serve

    sys.exit(0 if serve(create_gateway_bench_app(), host="127.0.0.1", port=int(sys.argv[1])) else 1)
