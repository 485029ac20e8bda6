"""Redis as a user of Upstash Ratelimit runs it: a local `redis-server` the benchmark starts and stops on a
loopback port, the fixed-window and sliding-window algorithms as Lua scripts run with EVALSHA (written from
the algorithm Upstash documents, ../shared/reference/performance.md §1.2), `redis-benchmark` for throughput,
and a minimal RESP client for the over-admission check (it must read every answer, which redis-benchmark
does not report).

Upstash's scripts take the current time and the window length from the client and decide in one script, so
one region is atomic per key; the fixed window's decision (count <= limit) is made by the client from the
count the script returns.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.harness import BenchError

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_BENCHMARK = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"

# KEYS[1]: the current window's counter. ARGV[1]: the window in ms; ARGV[2]: the tokens this call takes.
# Returns the window's count after this call; the caller is admitted when it is <= its limit.
FIXED_WINDOW = """
local used = redis.call("INCRBY", KEYS[1], ARGV[2])
if used == tonumber(ARGV[2]) then
  -- first hit of the window: the counter dies with it
  redis.call("PEXPIRE", KEYS[1], ARGV[1])
end
return used
"""

# KEYS[1]: the current window's counter, KEYS[2]: the previous window's. ARGV: limit, now (ms), window (ms),
# tokens. The previous window counts in proportion to how much of it the sliding window still covers.
# Returns the tokens left after this call, or -1 when the call is refused (a refusal counts nothing).
SLIDING_WINDOW = """
local limit = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local take = tonumber(ARGV[4])
local current = tonumber(redis.call("GET", KEYS[1]) or "0")
local previous = tonumber(redis.call("GET", KEYS[2]) or "0")
previous = math.floor(previous * (1 - (now % window) / window))
if previous + current >= limit then
  return -1
end
local used = redis.call("INCRBY", KEYS[1], take)
if used == take then
  -- kept through the next window, where it is the previous one
  redis.call("PEXPIRE", KEYS[1], window * 2 + 1000)
end
return limit - (used + previous)
"""

SCRIPTS = {"fixed window": FIXED_WINDOW, "sliding window": SLIDING_WINDOW}


def sha1(script: str) -> str:
    """The name EVALSHA calls a loaded script by (SCRIPT LOAD answers the same)."""
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


# -- a minimal RESP client --------------------------------------------------------------------------------


class Resp:
    """One connection speaking RESP2: enough for SCRIPT LOAD, EVALSHA, GET and FLUSHALL."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10.0)
        self._file = self._sock.makefile("rb")

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def call(self, *args: str | int) -> object:
        parts = [str(arg).encode() for arg in args]
        request = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        self._sock.sendall(request)
        return self._reply()

    def _reply(self) -> object:
        line = self._file.readline()
        if not line.endswith(b"\r\n"):
            raise BenchError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise BenchError(f"redis: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self._file.read(size + 2)
            return data[:-2].decode()
        if kind == b"*":
            return [self._reply() for _ in range(int(rest))]
        raise BenchError(f"redis: unexpected reply {line!r}")


# -- the server ---------------------------------------------------------------------------------------------


@dataclass
class Redis:
    port: int
    persistence: str  # "none" or "aof everysec"

    def client(self) -> Resp:
        return Resp(self.port)

    def load_scripts(self) -> None:
        conn = self.client()
        try:
            for script in SCRIPTS.values():
                if conn.call("SCRIPT", "LOAD", script) != sha1(script):
                    raise BenchError("redis named a loaded script differently from its SHA-1")
        finally:
            conn.close()

    def flush(self) -> None:
        conn = self.client()
        try:
            conn.call("FLUSHALL", "SYNC")
        finally:
            conn.close()

    def benchmark(
        self, command: Sequence[str], *, clients: int, requests: int, keyspace: int | None
    ) -> float:
        """requests/s of `command` from redis-benchmark (no pipelining); `__rand_int__` in an argument
        becomes a random number below `keyspace`, drawn afresh for each occurrence and each call."""
        cmd = [REDIS_BENCHMARK, "-h", "127.0.0.1", "-p", str(self.port), "-c", str(clients),
               "-n", str(requests), "-P", "1", "--csv"]  # fmt: skip
        if keyspace is not None:
            cmd += ["-r", str(keyspace)]
        done = subprocess.run([*cmd, *command], capture_output=True, text=True, timeout=120, check=False)
        # --csv: a header line, then "name","rps",...; errors (a wrong script) show on stderr or as 0 rps.
        lines = [line for line in done.stdout.splitlines() if line and not line.startswith('"test"')]
        if done.returncode != 0 or not lines:
            raise BenchError(f"redis-benchmark failed (exit {done.returncode}): {done.stderr[-2000:]}")
        rps = float(lines[-1].split(",")[1].strip('"'))
        if rps <= 0:
            raise BenchError(f"redis-benchmark measured nothing: {done.stdout[-500:]}")
        return rps


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server(persistence: str) -> Iterator[Redis]:
    """A redis-server of our own (loopback, temporary directory), `persistence` "none" (no RDB, no AOF)
    or "aof everysec"; stopped and deleted whatever happens."""
    if not Path(REDIS_SERVER).exists() or not Path(REDIS_BENCHMARK).exists():
        raise BenchError("redis-server or redis-benchmark is missing: `make bench` installs them (apt)")
    workdir = Path(tempfile.mkdtemp(prefix="thinbase-redis-"))
    port = _free_port()
    args = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(workdir), "--save", ""]
    args += ["--protected-mode", "yes", "--daemonize", "no", "--logfile", str(workdir / "redis.log")]
    if persistence == "aof everysec":
        args += ["--appendonly", "yes", "--appendfsync", "everysec"]
    elif persistence == "none":
        args += ["--appendonly", "no"]
    else:
        raise ValueError(f"unknown persistence {persistence!r}")
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = Redis(port, persistence)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = redis.client()
                if conn.call("PING") == "PONG":
                    conn.close()
                    break
            except (OSError, BenchError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"redis-server did not start; see {workdir / 'redis.log'}") from None
                time.sleep(0.05)
        redis.load_scripts()
        yield redis
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


# -- what a bench row runs ---------------------------------------------------------------------------------


def command(algorithm: str, key: str, *, limit: int, window_ms: int, now_ms: int) -> list[str]:
    """The EVALSHA Upstash's client sends for one `limit(identifier)` call on key `key`."""
    script = SCRIPTS[algorithm]
    bucket = now_ms // window_ms  # Upstash names a window's counter <identifier>:<window number>
    if algorithm == "fixed window":
        return ["EVALSHA", sha1(script), "1", f"fw:{key}:{bucket}", str(window_ms), "1"]
    return ["EVALSHA", sha1(script), "2", f"sw:{key}:{bucket}", f"sw:{key}:{bucket - 1}",
            str(limit), str(now_ms), str(window_ms), "1"]  # fmt: skip


def admitted(algorithm: str, reply: object, limit: int) -> bool:
    """The client's decision from the script's answer, as Upstash's client makes it."""
    if not isinstance(reply, int):
        raise BenchError(f"redis answered {reply!r} to a rate-limit script")
    return reply <= limit if algorithm == "fixed window" else reply >= 0


def over_admission(redis: Redis, algorithm: str, key: str, *, clients: int, calls: int, limit: int) -> int:
    """`clients` connections, each making `calls` limit calls on one key at the same moment; how many were
    admitted (exact means `limit`)."""
    window_ms = 3_600_000
    now_ms = int(time.time() * 1000)
    # The bucket must not turn over during the attack: start in the window's first half.
    now_ms -= now_ms % window_ms - 1
    request = command(algorithm, key, limit=limit, window_ms=window_ms, now_ms=now_ms)
    start = threading.Barrier(clients)
    counts: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def attack() -> None:
        mine = 0
        try:
            conn = redis.client()
            try:
                start.wait()
                for _ in range(calls):
                    mine += admitted(algorithm, conn.call(*request), limit)
            finally:
                conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported below, in the caller's thread
            errors.append(exc)
        with lock:
            counts.append(mine)

    threads = [threading.Thread(target=attack, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise BenchError(f"redis over-admission check failed: {errors[0]}")
    return sum(counts)
