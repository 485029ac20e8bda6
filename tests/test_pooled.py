"""The money path once more through PgBouncer in transaction mode, as on a hosted project (Supavisor, port
6543), and proof that no call leaves session state on a pooled server connection.

The concurrency and end-to-end tests are the existing ones (tests/test_concurrency_money_path.py,
tests/test_e2e_payments.py), run here once each with a `PooledStack`: their `authenticator_url()` and the
edge app's DATABASE_URL point at the pooler, which has fewer server connections (20) than the tests have
clients (32), so transactions of different clients really take turns on the same server connections.
Each asserts that its transactions did pass through the pooler.

What must not outlive a transaction on a pooled connection (the next transaction there may be another
client's): settings made with `set_config(…, false)` or a plain SET (the request GUCs, the role),
prepared statements (psycopg prepares a query server-side after it ran five times on one connection,
unless `prepare_threshold=None`), session advisory locks, cursors WITH HOLD, LISTEN, temporary tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests import test_concurrency_money_path as money
from tests import test_e2e_payments as e2e
from tests.conftest import EdgeServer, User, serve_edge
from tests.pooler import PgBouncer, PooledStack
from thinbase.db import Caller
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.db.tables import TableRead
from thinbase.fakes.payments import MidtransFake, StripeFake
from thinbase.local.stack import LocalStack


@pytest.fixture(scope="module")
def bouncer(stack: LocalStack) -> Iterator[PgBouncer]:
    with PgBouncer(stack, pool_size=20) as running:
        yield running


@pytest.fixture
def pooled(stack: LocalStack, bouncer: PgBouncer) -> Iterator[PooledStack]:
    """The stack through the pooler; the test's transactions must have gone through it."""
    before = bouncer.transactions()
    yield PooledStack(stack, bouncer)
    assert bouncer.transactions() > before, "nothing went through the pooler"


# -- the money path's concurrency tests, 32 clients on 20 server connections ------------------------------


def test_rate_limit_admits_exactly_the_limit(pooled: PooledStack) -> None:
    money.test_rate_limit_admits_exactly_the_limit(pooled, run=0)


def test_one_paid_event_delivered_32_times_extends_once(
    pooled: PooledStack, db: PsycopgDatabase, make_user: Callable[..., User]
) -> None:
    money.test_one_paid_event_delivered_32_times_extends_once(pooled, db, make_user, run=0)


def test_distinct_paid_events_for_one_order_extend_once(
    pooled: PooledStack, db: PsycopgDatabase, make_user: Callable[..., User]
) -> None:
    money.test_distinct_paid_events_for_one_order_extend_once(pooled, db, make_user, run=0)


def test_concurrent_checkouts_create_one_payment(pooled: PooledStack, make_user: Callable[..., User]) -> None:
    money.test_concurrent_checkouts_create_one_payment(pooled, make_user, run=0)


def test_replays_racing_redeliveries_of_a_failed_event_apply_it_once(
    pooled: PooledStack, db: PsycopgDatabase, make_user: Callable[..., User]
) -> None:
    money.test_replays_racing_redeliveries_of_a_failed_event_apply_it_once(pooled, db, make_user, run=0)


def test_paid_and_refund_deliveries_racing_end_in_one_serial_order(
    pooled: PooledStack, db: PsycopgDatabase, make_user: Callable[..., User]
) -> None:
    money.test_paid_and_refund_deliveries_racing_end_in_one_serial_order(pooled, db, make_user, run=0)


# -- the end-to-end webhook tests, the edge app's DATABASE_URL on the pooler ------------------------------


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[StripeFake, MidtransFake]]:
    with (
        StripeFake(secret_key=e2e.STRIPE_SECRET_KEY, webhook_secret=e2e.STRIPE_WEBHOOK_SECRET) as stripe,
        MidtransFake(server_key=e2e.MIDTRANS_SERVER_KEY) as midtrans,
    ):
        yield stripe, midtrans


@pytest.fixture(scope="module")
def pooled_shop(
    stack: LocalStack, bouncer: PgBouncer, fakes: tuple[StripeFake, MidtransFake]
) -> Iterator[EdgeServer]:
    with serve_edge(PooledStack(stack, bouncer), **e2e.shop_env(*fakes)) as server:
        assert server.settings.database_url == bouncer.authenticator_url()
        yield server


def test_stripe_checkout_to_active_subscription_and_back(
    pooled: PooledStack, pooled_shop: EdgeServer, fakes: tuple[StripeFake, MidtransFake]
) -> None:
    e2e.test_stripe_checkout_to_active_subscription_and_back(pooled, pooled_shop, fakes[0])


def test_midtrans_late_pending_after_settlement_is_ignored(
    pooled: PooledStack, pooled_shop: EdgeServer, fakes: tuple[StripeFake, MidtransFake]
) -> None:
    e2e.test_midtrans_late_pending_after_settlement_is_ignored(pooled, pooled_shop, fakes[1])


# -- no session state outlives a call ---------------------------------------------------------------------

REQUEST_SETTINGS = [
    "request.jwt.claims",
    "request.method",
    "request.path",
    "request.headers",
    "request.cookies",
]

# What one server connection carries from one transaction to the next. A custom setting that was only ever
# set transaction-locally reads as NULL or '' afterwards, so both count as unset.
PROBE = """
select pg_catalog.pg_backend_pid() as pid,
       current_user as "current_user",
       pg_catalog.current_setting('role') as role,
       pg_catalog.current_setting('search_path') as search_path,
       pg_catalog.current_setting('statement_timeout') as statement_timeout,
       pg_catalog.current_setting('synchronous_commit') as synchronous_commit,
       pg_catalog.current_setting('default_transaction_read_only') as read_only,
       array(select s || '=' || pg_catalog.current_setting(s, true)
             from pg_catalog.unnest(%(request)s::text[]) as s
             where coalesce(pg_catalog.current_setting(s, true), '') <> '') as request_settings,
       pg_catalog.current_setting('default_transaction_isolation') as isolation,
       -- transaction_isolation/_read_only/_deferrable read as set in the session once a transaction set
       -- them, but every transaction starts them afresh from the default_ settings probed above.
       array(select name || '=' || setting from pg_catalog.pg_settings
             where source = 'session'
               and name not in ('transaction_isolation', 'transaction_read_only', 'transaction_deferrable')
             order by name) as session_settings,
       array(select name from pg_catalog.pg_prepared_statements order by name) as prepared,
       (select count(*) from pg_catalog.pg_locks
         where locktype = 'advisory' and pid = pg_catalog.pg_backend_pid()) as advisory_locks,
       array(select name from pg_catalog.pg_cursors order by name) as cursors,
       array(select pg_catalog.pg_listening_channels()) as listening,
       (select count(*) from pg_catalog.pg_class
         where relnamespace = pg_catalog.pg_my_temp_schema()) as temp_relations
"""


def session_state(url: str) -> dict[str, Any]:
    """The state of the server connection a fresh client of the pooler is given (the probe itself prepares
    nothing and leaves nothing)."""
    with psycopg.connect(url, autocommit=True, prepare_threshold=None, row_factory=dict_row) as conn:
        row = conn.execute(PROBE, {"request": REQUEST_SETTINGS}).fetchone()
    assert row is not None
    return row


@pytest.fixture
def one_connection(stack: LocalStack) -> Iterator[PgBouncer]:
    """A pooler with ONE server connection: every client's transactions run on it, one after the other."""
    with PgBouncer(stack, pool_size=1) as running:
        yield running


def test_calls_through_the_port_leave_no_session_state(
    one_connection: PgBouncer, make_user: Callable[..., User]
) -> None:
    user = make_user("pooled")
    url = one_connection.authenticator_url()
    clean = session_state(url)
    database = PsycopgDatabase(url, min_size=1, max_size=1)
    try:
        # Every kind of call, as each caller, and more distinct functions than psycopg's prepare threshold
        # (five executions of one query on a connection): each first call looks up a signature.
        headers = {"X-Probe": "left-behind?"}
        for caller in (user.caller, Caller.service(), Caller.anon()):
            database.rpc("contract_whoami", caller=caller, schema="tests", headers=headers)
            database.rpc("contract_add", {"a": 1}, caller=caller, schema="tests")
            database.rpc("contract_series", {"n": 2}, caller=caller, schema="tests")
            database.rpc("contract_rows", {"n": 2}, caller=caller, schema="tests")
            database.rpc("contract_one_row", caller=caller, schema="tests")
            database.rpc("plan_catalog", caller=caller)
            database.rpc("currency_exponents", caller=caller)
        database.read_table(TableRead(table="profiles"), caller=user.caller, headers=headers)
        database.rpc(
            "consume_rate_limit",
            {"namespace": "pooled", "subject": user.id, "max_requests": 5, "window_seconds": 60},
            caller=Caller.service(),
        )
        database.rpc("update_profile", {"full_name": "Pooled"}, caller=user.caller)
        # The next transaction on that server connection is an anonymous one: nothing of the user's remains.
        after_user = database.rpc("contract_whoami", caller=Caller.anon(), schema="tests")
    finally:
        database.close()
    assert (after_user["current_user"], after_user["uid"], after_user["email"], after_user["x_probe"]) == (
        "anon",
        None,
        None,
        None,
    )
    left = session_state(url)
    assert left["pid"] == clean["pid"], "the probe must see the server connection the calls ran on"
    assert left == clean


def test_the_probe_sees_state_a_client_leaves_behind(one_connection: PgBouncer) -> None:
    """Planted leaks, one of each kind, through one client: the next client's probe reports every one, so
    the test above can fail."""
    url = one_connection.authenticator_url()
    clean = session_state(url)
    with psycopg.connect(url, autocommit=True) as careless:
        careless.execute("select set_config('request.jwt.claims', '{\"sub\": \"planted\"}', false)")
        careless.execute("set role anon")
        careless.execute("set synchronous_commit = off")
        careless.execute("prepare planted as select 1")
        careless.execute("select pg_advisory_lock(17)")
        careless.execute("listen planted")
        left = session_state(url)
        careless.execute("discard all")  # what a session-mode pooler would have run (it releases the lock)
    assert left["pid"] == clean["pid"]
    changed = {key: left[key] for key in clean if left[key] != clean[key]}
    assert changed == {
        "current_user": "anon",
        "role": "anon",
        "synchronous_commit": "off",
        "request_settings": ['request.jwt.claims={"sub": "planted"}'],
        "session_settings": ["synchronous_commit=off"],  # role is not listed there: probed above
        "prepared": ["planted"],
        "advisory_locks": 1,
        "listening": ["planted"],
    }
