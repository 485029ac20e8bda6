"""The Docker-free local stack: a PostgreSQL 15 cluster under `.local/` shaped like a Supabase project.

    up      initdb (once) → start → platform stand-in as superuser (once) → `supabase db push` as the
            non-superuser migration role (pending migrations + seed) — idempotent
    down    stop the cluster
    reset   down, delete the cluster, up
Everything it needs to remember (port, passwords, JWT secret) lives in `.local/state.json`.

initdb and pg_ctl refuse to run as root, so when we are root they run as the OS user `postgres`, which
owns the cluster directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from thinbase import tokens
from thinbase.errors import ConfigurationError, StackError
from thinbase.local.paths import (
    LOCAL_DIR,
    PG_BIN,
    PLATFORM_DIR,
    ROOT,
    SQL_HELPERS_DIR,
    SUPABASE_CLI,
    require_project,
)

Progress = Callable[[str], None]
PREFERRED_PORT = 54322
SUPERUSER = "supabase_admin"
MIGRATION_ROLE = "postgres"



@dataclass
class StackState:
    port: int
    postgres_password: str
    authenticator_password: str
    jwt_secret: str
    cluster_dir: str
    platform_hash: str | None = None


def _quiet(_: str) -> None:
    """Default progress sink: say nothing."""


def _as_cluster_owner(cmd: Sequence[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


def _port_is_free(port: int) -> bool:
    """Could PostgreSQL listen on `port`? It binds with SO_REUSEADDR, so the check does too: connections
    the server closed first linger in TIME_WAIT on its port after a stop, and a plain bind would call the
    port taken, moving a restarted stack to another one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(preferred: int) -> int:
    if _port_is_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# postgresql.conf additions. pg_cron runs jobs in background workers: its default, a libpq connection to
# localhost, would need a password under our scram-only TCP rules.
CLUSTER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "shared_preload_libraries": "'pg_cron'",
    "cron.database_name": "'postgres'",
    "cron.use_background_workers": "on",
    "max_worker_processes": "32",
    "max_connections": "200",
    "idle_in_transaction_session_timeout": "'60s'",
}


def platform_hash() -> str:
    """Identifies what a cluster was built from: the platform SQL and the cluster settings."""
    digest = hashlib.sha256(json.dumps(CLUSTER_SETTINGS, sort_keys=True).encode())
    for path in sorted(PLATFORM_DIR.glob("*.sql")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _run(
    cmd: Sequence[str], *, what: str, timeout: float = 300, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)  # noqa: S603
    except FileNotFoundError as exc:
        raise StackError(f"{what}: {exc.filename} is not installed. Run `make dev` to install it.") from exc
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what}: timed out after {timeout:.0f} s") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise StackError(f"{what} failed (exit {result.returncode}):\n{output}")
    return result


class LocalStack:
    """One local stack, rooted at `.local/` of this checkout."""

    def __init__(self, local_dir: Path = LOCAL_DIR) -> None:
        self.local_dir = local_dir
        self.state_file = local_dir / "state.json"

    # -- state ------------------------------------------------------------------------------------------

    def load_state(self) -> StackState | None:
        if not self.state_file.is_file():
            return None
        return StackState(**json.loads(self.state_file.read_text()))

    def _save_state(self, state: StackState) -> None:
        self.local_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(asdict(state), indent=2) + "\n")
        self.state_file.chmod(0o600)

    def state(self) -> StackState:
        state = self.load_state()
        if state is None:
            raise StackError("the local stack has not been created yet: run `thinbase local up`")
        return state

    def _new_state(self) -> StackState:
        return StackState(
            port=_free_port(PREFERRED_PORT),
            postgres_password=secrets.token_hex(16),
            authenticator_password=secrets.token_hex(16),
            jwt_secret=secrets.token_urlsafe(48),
            cluster_dir=str(self._cluster_dir()),
        )

    def _cluster_dir(self) -> Path:
        """`.local/pg`, unless the OS user postgres cannot reach this checkout (e.g. it sits under /root)."""
        wanted = self.local_dir / "pg"
        if os.geteuid() != 0:
            return wanted
        self.local_dir.mkdir(parents=True, exist_ok=True)
        # `test -x` as postgres fails unless every ancestor directory is searchable by that user.
        reachable = subprocess.run(  # noqa: S603
            ["runuser", "-u", "postgres", "--", "test", "-x", str(self.local_dir)],  # noqa: S607
            check=False,
        )
        if reachable.returncode == 0:
            return wanted
        tag = hashlib.sha256(str(self.local_dir).encode()).hexdigest()[:12]
        return Path("/var/lib/postgresql/thinbase") / tag

    # -- paths ------------------------------------------------------------------------------------------

    @staticmethod
    def data_dir(state: StackState) -> Path:
        return Path(state.cluster_dir) / "data"

    @staticmethod
    def socket_dir(state: StackState) -> Path:
        return Path(state.cluster_dir) / "run"

    @staticmethod
    def log_file(state: StackState) -> Path:
        return Path(state.cluster_dir) / "log" / "postgres.log"

    # -- connection strings -----------------------------------------------------------------------------

    def superuser_conninfo(self, state: StackState | None = None) -> str:
        state = state or self.state()
        return f"host={self.socket_dir(state)} port={state.port} user={SUPERUSER} dbname=postgres"

    def migration_url(self, state: StackState | None = None) -> str:
        state = state or self.state()
        return f"postgresql://{MIGRATION_ROLE}:{state.postgres_password}@127.0.0.1:{state.port}/postgres"

    def authenticator_url(self, state: StackState | None = None) -> str:
        state = state or self.state()
        return f"postgresql://authenticator:{state.authenticator_password}@127.0.0.1:{state.port}/postgres"

    def env(self, edge_port: int) -> dict[str, str]:
        """The names `thinbase local env` prints (DESIGN.md, "The local stack")."""
        state = self.state()
        return {
            "DATABASE_URL": self.authenticator_url(state),
            "SUPABASE_URL": f"http://127.0.0.1:{edge_port}",
            "SUPABASE_JWT_SECRET": state.jwt_secret,
            "SUPABASE_ANON_KEY": tokens.api_key("anon", state.jwt_secret),
            "SUPABASE_SERVICE_ROLE_KEY": tokens.api_key("service_role", state.jwt_secret),
        }

    # -- lifecycle --------------------------------------------------------------------------------------

    def is_running(self, state: StackState | None = None) -> bool:
        state = state or self.load_state()
        if state is None or not (self.data_dir(state) / "PG_VERSION").exists():
            return False
        result = subprocess.run(  # noqa: S603
            _as_cluster_owner([str(PG_BIN / "pg_ctl"), "status", "-D", str(self.data_dir(state))]),
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def up(self, progress: Progress = _quiet) -> StackState:
        try:
            require_project()
        except ConfigurationError as exc:
            raise StackError(str(exc)) from None
        state = self.load_state() or self._new_state()
        self._save_state(state)
        if not (self.data_dir(state) / "PG_VERSION").exists():
            progress("creating the PostgreSQL 15 cluster")
            self._initdb(state)
            state.platform_hash = None
        if not self.is_running(state):
            if not _port_is_free(state.port):
                state.port = _free_port(PREFERRED_PORT)
            progress(f"starting PostgreSQL on 127.0.0.1:{state.port}")
            self._start(state)
        self._save_state(state)
        if state.platform_hash is None:
            progress("applying the platform stand-in (roles, auth, storage, extensions)")
            self._apply_platform(state)
            state.platform_hash = platform_hash()
            self._save_state(state)
        elif state.platform_hash != platform_hash():
            raise StackError(
                "supabase/platform/ or the cluster settings changed since this local stack was created; "
                "run `thinbase local reset` to recreate it (local data is discarded)"
            )
        progress("applying migrations with the Supabase CLI (supabase db push)")
        self.push(state)
        return state

    def down(self, progress: Progress = _quiet) -> bool:
        state = self.load_state()
        if state is None or not self.is_running(state):
            return False
        progress("stopping PostgreSQL")
        _run(
            _as_cluster_owner(
                [str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data_dir(state)), "-m", "fast", "-w"]
            ),
            what="pg_ctl stop",
        )
        return True

    def reset(self, progress: Progress = _quiet) -> StackState:
        self.down(progress)
        state = self.load_state()
        if state is not None:
            progress("deleting the cluster")
            shutil.rmtree(state.cluster_dir, ignore_errors=True)
            self.state_file.unlink()
        return self.up(progress)

    def push(self, state: StackState | None = None) -> str:
        """Apply pending migrations and the seed with the real Supabase CLI, as the migration role."""
        state = state or self.state()
        if not SUPABASE_CLI.exists():
            raise StackError("the Supabase CLI is not installed: run `npm ci` (or `make dev`)")
        env = {**os.environ, "SUPABASE_TELEMETRY_DISABLED": "1", "DO_NOT_TRACK": "1"}
        result = _run(
            [
                str(SUPABASE_CLI),
                "db",
                "push",
                "--db-url",
                self.migration_url(state),
                "--yes",
                "--include-seed",
            ],
            what="supabase db push",
            cwd=ROOT,
            env=env,
        )
        return result.stdout + result.stderr

    def _initdb(self, state: StackState) -> None:
        cluster = Path(state.cluster_dir)
        for sub in ("data", "run", "log"):
            (cluster / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(cluster, "postgres", "postgres")
            for path in cluster.rglob("*"):
                shutil.chown(path, "postgres", "postgres")
        self.data_dir(state).chmod(0o700)
        _run(
            _as_cluster_owner(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data_dir(state)),
                    "-U",
                    SUPERUSER,
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ]
            ),
            what="initdb",
        )
        settings = {**CLUSTER_SETTINGS, "unix_socket_directories": f"'{self.socket_dir(state)}'"}
        conf = self.data_dir(state) / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write("\n# thinbase local stack\n")
            handle.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def _start(self, state: StackState) -> None:
        _run(
            _as_cluster_owner(
                [
                    str(PG_BIN / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data_dir(state)),
                    "-l",
                    str(self.log_file(state)),
                    "-o",
                    f"-p {state.port}",
                ]
            ),
            what="pg_ctl start",
        )

    def _apply_platform(self, state: StackState) -> None:
        files = sorted(PLATFORM_DIR.glob("*.sql"))
        if not files:
            raise StackError(f"no platform stand-in SQL found in {PLATFORM_DIR}")
        # One transaction for all files: a failure leaves nothing half-applied, so `up` can simply retry.
        args = [arg for path in files for arg in ("-f", str(path))]
        _run(
            ["psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d", self.superuser_conninfo(state), *args],
            what="applying the platform stand-in",
        )
        with psycopg.connect(self.superuser_conninfo(state), autocommit=True) as conn:
            for role, password in (
                ("postgres", state.postgres_password),
                ("authenticator", state.authenticator_password),
            ):
                conn.execute(
                    psycopg.sql.SQL("alter role {} password {}").format(
                        psycopg.sql.Identifier(role), psycopg.sql.Literal(password)
                    )
                )

    def psql_file(self, path: Path, state: StackState | None = None) -> None:
        """Run one SQL file as the superuser, stopping at the first error."""
        state = state or self.state()
        _run(
            [
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.superuser_conninfo(state),
                "-f",
                str(path),
            ],
            what=f"applying {path.relative_to(ROOT)}",
        )

    def install_test_helpers(self) -> None:
        """The `tests` schema helpers for pgTAP and the contract tests. Local stack only, never pushed."""
        for path in sorted(SQL_HELPERS_DIR.glob("*.sql")):
            self.psql_file(path)

    # -- inspection -------------------------------------------------------------------------------------

    def superuser_connection(self) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(self.superuser_conninfo(), autocommit=True, row_factory=dict_row)

    def applied_migrations(self) -> list[dict[str, Any]]:
        with self.superuser_connection() as conn:
            exists = conn.execute(
                "select to_regclass('supabase_migrations.schema_migrations') as t"
            ).fetchone()
            if not exists or exists["t"] is None:
                return []
            return conn.execute(
                "select version, name from supabase_migrations.schema_migrations order by version"
            ).fetchall()

    def status(self) -> dict[str, Any]:
        state = self.load_state()
        if state is None:
            return {"created": False, "running": False}
        running = self.is_running(state)
        info: dict[str, Any] = {
            "created": (self.data_dir(state) / "PG_VERSION").exists(),
            "running": running,
            "port": state.port,
            "cluster_dir": state.cluster_dir,
            "platform_current": state.platform_hash == platform_hash(),
        }
        if running:
            migrations = self.applied_migrations()
            info["migrations_applied"] = len(migrations)
            info["latest_migration"] = migrations[-1]["version"] if migrations else None
        return info

    def create_user(
        self,
        email: str,
        *,
        password: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Insert a confirmed email user into auth.users the way Supabase Auth does, as its admin role.

        Running as supabase_auth_admin matters: signup triggers fire with that role, as on a real project,
        so a trigger that only works for a privileged role fails here too.
        """
        with self.superuser_connection() as conn, conn.transaction():
            # Supabase Auth hashes passwords itself (bcrypt); pgcrypto does it here, before the role switch.
            hashed = None
            if password is not None:
                found = conn.execute(
                    "select extensions.crypt(%s, extensions.gen_salt('bf')) as h", (password,)
                ).fetchone()
                hashed = found["h"] if found else None
            conn.execute("set local role supabase_auth_admin")
            row = conn.execute(
                """
                insert into auth.users (
                  instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                  raw_app_meta_data, raw_user_meta_data, created_at, updated_at, last_sign_in_at,
                  confirmation_token, recovery_token, email_change_token_new, email_change
                ) values (
                  '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
                  lower(%(email)s), %(hashed)s, now(),
                  '{"provider": "email", "providers": ["email"]}'::jsonb, %(meta)s::jsonb,
                  now(), now(), now(), '', '', '', ''
                )
                returning id, email, phone, raw_app_meta_data, raw_user_meta_data, is_anonymous
                """,
                {"email": email, "hashed": hashed, "meta": json.dumps(metadata or {})},
            ).fetchone()
        assert row is not None
        return dict(row)

    def user_token(self, user: dict[str, Any], *, expires_in: int = tokens.ACCESS_TOKEN_SECONDS) -> str:
        """A fresh access token for `user` (a row with id, email, …), in a new auth.sessions row, as a
        sign-in makes one: so the token also works where sessions are looked up (/auth/v1/user, logout)."""
        with self.superuser_connection() as conn:
            found = conn.execute(
                "select auth_api.start_session(%s, 'thinbase local user', null) as s", (user["id"],)
            ).fetchone()
        assert found is not None
        session = found["s"]
        return tokens.access_token(
            session["user"],
            self.state().jwt_secret,
            expires_in=expires_in,
            session_id=str(session["session_id"]),
            authenticated_at=int(session["authenticated_at"]),
        )

    def find_user(self, email: str) -> dict[str, Any] | None:
        """The auth.users row with this email (Supabase Auth compares addresses lower-cased)."""
        with self.superuser_connection() as conn:
            row = conn.execute(
                "select id, email, phone, raw_app_meta_data, raw_user_meta_data, is_anonymous "
                "from auth.users where email = lower(%s) and not is_sso_user",
                (email,),
            ).fetchone()
        return dict(row) if row else None
