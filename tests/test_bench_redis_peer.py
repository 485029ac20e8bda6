"""The Redis peer of `make bench` (bench/redis_peer.py) against a real redis-server: the two Lua scripts do
what Upstash's algorithms do, and are exact under 32 concurrent connections, so the bench compares our
limiter with a correct peer. One server (no persistence) for the module; about a second in all."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bench import redis_peer
from bench.harness import BenchError

WINDOW_MS = 60_000


@pytest.fixture(scope="module")
def redis() -> Iterator[redis_peer.Redis]:
    with redis_peer.redis_server("none") as server:
        yield server


@pytest.fixture
def conn(redis: redis_peer.Redis) -> Iterator[redis_peer.Resp]:
    client = redis.client()
    try:
        yield client
    finally:
        client.close()


def limit_call(conn: redis_peer.Resp, algorithm: str, key: str, limit: int, now_ms: int) -> object:
    return conn.call(*redis_peer.command(algorithm, key, limit=limit, window_ms=WINDOW_MS, now_ms=now_ms))


@pytest.mark.parametrize("algorithm", list(redis_peer.SCRIPTS))
def test_exactly_the_limit_is_admitted_under_32_concurrent_connections(
    redis: redis_peer.Redis, algorithm: str
) -> None:
    key = f"exact-{algorithm.replace(' ', '-')}"
    admitted = redis_peer.over_admission(redis, algorithm, key, clients=32, calls=50, limit=100)
    assert admitted == 100


def test_fixed_window_counts_every_call_and_expires_with_its_window(conn: redis_peer.Resp) -> None:
    now_ms = 7 * WINDOW_MS + 10
    answers = [limit_call(conn, "fixed window", "fw-unit", 3, now_ms) for _ in range(5)]
    assert answers == [1, 2, 3, 4, 5]
    assert [redis_peer.admitted("fixed window", a, 3) for a in answers] == [True, True, True, False, False]
    ttl = conn.call("PTTL", "fw:fw-unit:7")
    assert isinstance(ttl, int)
    assert 0 < ttl <= WINDOW_MS
    # a new window is a new key, counted from one
    assert limit_call(conn, "fixed window", "fw-unit", 3, 8 * WINDOW_MS) == 1


def test_sliding_window_weighs_the_previous_window_by_the_part_still_covered(conn: redis_peer.Resp) -> None:
    # 100 calls in window 4; a quarter into window 5, three quarters of them still count: 75.
    conn.call("SET", "sw:sw-unit:4", "100")
    now_ms = 5 * WINDOW_MS + WINDOW_MS // 4
    answers = [limit_call(conn, "sliding window", "sw-unit", 100, now_ms) for _ in range(26)]
    assert answers[:25] == list(range(24, -1, -1))  # tokens left after each admitted call
    assert answers[25] == -1
    assert [redis_peer.admitted("sliding window", a, 100) for a in answers].count(True) == 25
    assert conn.call("GET", "sw:sw-unit:5") == "25"  # a refusal counts nothing
    ttl = conn.call("PTTL", "sw:sw-unit:5")
    assert isinstance(ttl, int)
    assert WINDOW_MS < ttl <= 2 * WINDOW_MS + 1000  # it is the next window's previous one


def test_a_script_error_is_reported_not_counted(conn: redis_peer.Resp) -> None:
    with pytest.raises(BenchError, match="NOSCRIPT"):
        conn.call("EVALSHA", "0" * 40, "1", "k")
    with pytest.raises(BenchError, match="answered"):
        redis_peer.admitted("fixed window", "OK", 1)


def test_the_aof_server_persists_and_both_servers_are_gone_afterwards() -> None:
    with redis_peer.redis_server("aof everysec") as server:
        conn = server.client()
        try:
            assert conn.call("CONFIG", "GET", "appendonly") == ["appendonly", "yes"]
            assert conn.call("CONFIG", "GET", "appendfsync") == ["appendfsync", "everysec"]
            assert conn.call("CONFIG", "GET", "bind") == ["bind", "127.0.0.1"]
        finally:
            conn.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
