"""PgBouncer in transaction mode in front of the local cluster: the shape of a hosted project's pooler
(Supavisor on port 6543), where every transaction may run on a different server connection and the next
transaction on a server connection may belong to another client.

`PgBouncer(stack)` writes an ini and a userlist into a private temporary directory, starts `pgbouncer` as
an ordinary child process on a free loopback port (as the OS user `postgres` when we are root: PgBouncer
refuses to run as root), waits until a query passes through it, and on exit stops it and deletes the
directory. Nothing resets a server connection between transactions (`server_reset_query` applies only in
session mode), exactly as on a hosted pooler, so state a client leaves on a server connection is seen by
the next client: that is what the pooled tests look for. Debian 12's PgBouncer (1.18) does not track
protocol-level prepared statements either, so a client that prepares one fails here as it would there.

`PooledStack(stack, bouncer)` is the same local stack reached as `authenticator` through the pooler: its
`authenticator_url()` and `env()` (DATABASE_URL) name the pooler, everything else (superuser, migrations,
state) is the stack's own, so a test written against `LocalStack` runs through the pooler unchanged.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg

from thinbase.local.stack import MIGRATION_ROLE, LocalStack, StackState

PGBOUNCER = Path("/usr/sbin/pgbouncer")
DATABASE = "postgres"


class PoolerError(Exception):
    """PgBouncer is missing, did not start, or does not pass queries through."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgBouncer:
    """One PgBouncer process in transaction mode in front of `stack`'s cluster.

    `pool_size` server connections at most (per user and database): fewer than the clients a test runs, so
    the pooler really multiplexes; `pool_size=1` puts every client's transactions on one server connection.
    """

    def __init__(self, stack: LocalStack, *, pool_size: int = 20, max_clients: int = 200) -> None:
        self.stack = stack
        self.pool_size = pool_size
        self.max_clients = max_clients
        self.port = 0
        self._state: StackState | None = None
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- connection strings -----------------------------------------------------------------------------

    def url(self, user: str, password: str) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{DATABASE}"

    def authenticator_url(self) -> str:
        return self.url("authenticator", self._require_state().authenticator_password)

    def migration_url(self) -> str:
        """As `postgres`, the role the port uses on a hosted project (and pgbench in bench/)."""
        return self.url(MIGRATION_ROLE, self._require_state().postgres_password)

    def show(self, what: str) -> list[dict[str, object]]:
        """One of the admin console's SHOW commands (STATS, POOLS, …) for this pooler's database."""
        admin = self.migration_url().rsplit("/", 1)[0] + "/pgbouncer"
        # The admin console speaks only the simple query protocol: a client-side cursor sends that.
        with psycopg.connect(admin, autocommit=True) as conn, psycopg.ClientCursor(conn) as cursor:
            cursor.execute(f"show {what}")
            columns = [column.name for column in cursor.description or []]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return [row for row in rows if row.get("database") == DATABASE]

    def transactions(self) -> int:
        """Transactions PgBouncer has passed to the database so far."""
        return sum(int(str(row["total_xact_count"])) for row in self.show("stats"))

    def server_connections(self) -> int:
        """Server connections PgBouncer holds open to PostgreSQL now (every user's pool)."""
        states = ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login")
        return sum(int(str(row[state])) for row in self.show("pools") for state in states)

    def _require_state(self) -> StackState:
        if self._state is None:
            raise PoolerError("PgBouncer has not been started")
        return self._state

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> PgBouncer:
        if not PGBOUNCER.exists():
            raise PoolerError(f"{PGBOUNCER} is missing: it is Debian's pgbouncer package (run `make deps`)")
        self._state = state = self.stack.state()
        self._dir = Path(tempfile.mkdtemp(prefix="thinbase-pgbouncer-"))
        self.port = _free_port()
        # Plain-text passwords: PgBouncer needs them to log in to PostgreSQL with SCRAM on the clients'
        # behalf. The directory is 0700 and removed on stop.
        userlist = self._dir / "userlist.txt"
        users = {"authenticator": state.authenticator_password, MIGRATION_ROLE: state.postgres_password}
        userlist.write_text("".join(f'"{name}" "{password}"\n' for name, password in users.items()))
        ini = self._dir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"{DATABASE} = host=127.0.0.1 port={state.port} dbname={DATABASE}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = scram-sha-256\nauth_file = {userlist}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\nmax_client_conn = {self.max_clients}\n"
            # No idle server connection is closed during a test: a leak must find the connection it left.
            "server_idle_timeout = 0\nserver_lifetime = 86400\n"
            "log_connections = 0\nlog_disconnections = 0\n"
            # The admin console (SHOW STATS), for tests to see that their transactions went through here.
            f"stats_users = {MIGRATION_ROLE}\n"
        )
        as_root = os.geteuid() == 0
        if as_root:
            for path in (self._dir, userlist, ini):
                shutil.chown(path, "postgres", "postgres")
        log = (self._dir / "pgbouncer.log").open("wb")
        try:
            self._process = subprocess.Popen(
                [str(PGBOUNCER), str(ini)],
                stdout=log,
                stderr=subprocess.STDOUT,
                user="postgres" if as_root else None,
                group="postgres" if as_root else None,
                extra_groups=[] if as_root else None,
            )
        finally:
            log.close()
        self._wait(timeout)
        return self

    def _wait(self, timeout: float) -> None:
        """Until a query passes through the pooler to PostgreSQL (listening alone is not enough)."""
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise PoolerError(f"pgbouncer exited with {self._process.returncode}:\n{self.log()}")
            try:
                with psycopg.connect(self.authenticator_url(), connect_timeout=2, autocommit=True) as conn:
                    conn.execute("select 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise PoolerError(f"pgbouncer passed no query within {timeout:.0f} s: {exc}") from exc
                time.sleep(0.05)

    def log(self) -> str:
        path = self._dir / "pgbouncer.log" if self._dir else None
        return path.read_text(errors="replace")[-3000:] if path and path.exists() else ""

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PooledStack(LocalStack):
    """`stack`, but its API role (`authenticator`, DATABASE_URL) is reached through `bouncer`."""

    def __init__(self, stack: LocalStack, bouncer: PgBouncer) -> None:
        super().__init__(local_dir=stack.local_dir)
        self.bouncer = bouncer

    def authenticator_url(self, state: StackState | None = None) -> str:
        return self.bouncer.authenticator_url()
