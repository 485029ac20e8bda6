"""`thinbase ratelimit storage` on the local stack: show the storage, switch it to unlogged and back as the
migration role, doctor reports the choice, and the limiter still admits exactly its limit from 32 real
connections while the counters are unlogged (tests/test_concurrency_money_path.py proves it for logged)."""

from __future__ import annotations

import json
import uuid

from tests.cli.conftest import data, error, run
from tests.concurrency import hammer
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.local.stack import LocalStack

CLIENTS, CALLS, LIMIT = 32, 50, 100


def _doctor_storage() -> dict[str, str]:
    """doctor's rate-limit check (doctor may fail on other checks here: no admin, say)."""
    checks = {c["name"]: c for c in json.loads(run("doctor", "--json").stdout)["data"]["checks"]}
    found: dict[str, str] = checks["rate-limit storage"]
    return found


def test_storage_switches_and_the_limit_stays_exact_when_unlogged(stack: LocalStack) -> None:
    assert data(run("ratelimit", "storage", "--json"))["storage"] == "logged"
    assert _doctor_storage()["detail"].startswith("logged")
    key = f"storage-{uuid.uuid4()}"

    def consume(database: PsycopgDatabase, _: int) -> bool:
        rows = database.rpc(
            "consume_rate_limit",
            {"namespace": "test", "subject": key, "max_requests": LIMIT, "window_seconds": 3600},
            caller=Caller.service(),
        )
        return bool(rows[0]["allowed"])

    switched = data(run("ratelimit", "storage", "unlogged", "--json"))
    try:
        assert switched == {
            "storage": "unlogged",
            "changed": True,
            "previous": "logged",
            "trade": switched["trade"],
        }
        assert "crash" in switched["trade"]
        check = _doctor_storage()
        assert (check["status"], check["detail"].split(" ")[0]) == ("pass", "unlogged")
        assert data(run("ratelimit", "storage", "unlogged", "--json"))["changed"] is False

        results = hammer(stack.authenticator_url(), CLIENTS, CALLS, consume)
        assert len(results) == CLIENTS * CALLS
        assert results.count(True) == LIMIT
    finally:
        back = data(run("ratelimit", "storage", "logged", "--json"))
    assert (back["storage"], back["changed"]) == ("logged", True)
    # The table was rewritten twice; the count came along (capped one past the limit).
    assert data(run("ratelimit", "show", "test", key, "--json"))["hits"] == LIMIT + 1
    table = run("ratelimit", "storage")
    assert table.exit_code == 0
    assert "every count is in the WAL" in table.stdout


def test_storage_refuses_an_unknown_choice(stack: LocalStack) -> None:
    assert error(run("ratelimit", "storage", "fast", "--json"), 2)["message"] == "unknown storage 'fast'"
