"""Which backend an operator command talks to, decided in one place.

In order:
1. `DATABASE_URL` is set: psycopg straight to that database (the local stack's own URL, or a project's
   `postgres` connection string);
2. `SUPABASE_URL` (not on loopback) and `SUPABASE_SERVICE_ROLE_KEY` are set: a real project through
   PostgREST with supabase-py; `SUPABASE_URL` of a project without the key is an error, never a silent
   fall back to the local stack;
3. the local stack exists: its `DATABASE_URL` (`thinbase local env`), so commands work on a fresh checkout
   without any configuration;
4. otherwise: an error saying what to set.

Every call is made as the service role (`Caller.service()`): the admin and operator RPCs accept it.

Commands that work on the migration history (`db push`, `db status`, `db types`) need a direct connection
as the migration role: `DATABASE_URL` for a project, or the local stack's `postgres` URL when `DATABASE_URL`
is unset or points at the local stack (whose `DATABASE_URL` is the API role `authenticator`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from thinbase.db import Database, SyncDatabase, open_sync_database
from thinbase.errors import ConfigurationError, StackError
from thinbase.local.stack import LocalStack
from thinbase.settings import LOOPBACK_HOSTS, Settings, load_settings

TargetKind = Literal["local", "database_url", "supabase"]

NO_TARGET_HINT = (
    "run `thinbase local up` for the local stack, or set DATABASE_URL (a project's connection string), "
    "or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"
)


@dataclass(frozen=True)
class Target:
    """The chosen backend. `settings` are the operator's settings, with the local stack's values filled in
    where the environment has none when the target is the local stack."""

    kind: TargetKind
    settings: Settings
    label: str  # for humans: never contains a password or key

    def open(self) -> SyncDatabase[Database]:
        return open_sync_database(self.settings)


def redact(dsn: str) -> str:
    """A connection string for humans, as a URL: user, host, port and database, never a password, however
    it was written (in the URL, as `?password=`, or in the `key=value` form)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(a connection string that does not parse)"
    user = str(params.get("user") or "")
    login = f"{user}:***@" if params.get("password") else f"{user}@" if user else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{login}{params.get('host') or ''}{port}/{params.get('dbname') or ''}"


def scrub(text: str, dsn: str) -> str:
    """`text` (a subprocess's output) with the connection string and its password masked wherever they
    appear."""
    text = text.replace(dsn, redact(dsn))
    with contextlib.suppress(psycopg.ProgrammingError):
        password = str(conninfo_to_dict(dsn).get("password") or "")
        if password:
            text = text.replace(password, "***")
    return text


def _check_api_url(url: str) -> None:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ConfigurationError(f"SUPABASE_URL {url!r} has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"SUPABASE_URL must be an http(s) URL, not {url!r}")


def _local_stack() -> LocalStack | None:
    stack = LocalStack()
    return stack if stack.load_state() is not None else None


def is_local_stack_url(url: str, stack: LocalStack | None = None) -> bool:
    """Whether `url` points at the local stack's database (loopback, the stack's port, database postgres)."""
    stack = stack or _local_stack()
    state = stack.load_state() if stack else None
    if state is None:
        return False
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    database = parts.path.lstrip("/") or "postgres"
    return (parts.hostname or "") in LOOPBACK_HOSTS and port == state.port and database == "postgres"


def resolve(settings: Settings | None = None) -> Target:
    """The target for this invocation (see the module docstring). Raises ConfigurationError."""
    settings = settings or load_settings()
    if settings.database_url:
        local = is_local_stack_url(settings.database_url)
        return Target(
            "local" if local else "database_url",
            settings,
            ("local stack " if local else "") + redact(settings.database_url),
        )
    if settings.supabase_url:
        _check_api_url(settings.supabase_url)
    remote_api = (
        settings.supabase_url and (urlsplit(settings.supabase_url).hostname or "") not in LOOPBACK_HOSTS
    )
    if remote_api and settings.service_role_key:
        return Target("supabase", settings, f"{settings.supabase_url} (PostgREST, service role)")
    if remote_api:
        # Never fall back to the local stack here: the operator meant the project.
        raise ConfigurationError(
            f"SUPABASE_URL names a project ({settings.supabase_url}) but SUPABASE_SERVICE_ROLE_KEY is not "
            "set; set it (or DATABASE_URL), or unset SUPABASE_URL to work on the local stack"
        )
    stack = _local_stack()
    if stack is not None:
        try:
            local_env = stack.env(settings.port)
        except StackError as exc:  # pragma: no cover - state exists, so env() cannot fail today
            raise ConfigurationError(str(exc)) from exc
        merged = {**local_env, **{k: v for k, v in settings.env.items() if v}}
        merged["DATABASE_URL"] = local_env["DATABASE_URL"]
        return Target("local", Settings(env=merged), f"local stack {redact(local_env['DATABASE_URL'])}")
    raise ConfigurationError("no database to operate on")


@contextlib.contextmanager
def service_database(target: Target) -> Iterator[SyncDatabase[Database]]:
    """The database port for `target`, closed afterwards."""
    database = target.open()
    try:
        yield database
    finally:
        database.close()


def migration_url(target: Target) -> tuple[str, str]:
    """(connection string, label) of the database whose migration history `db push/status/types` use.

    Raises ConfigurationError when there is none (a project reached only through its API).
    """
    if target.kind == "database_url":
        return target.settings.database_url, target.label
    if target.kind == "local":
        stack = LocalStack()
        try:
            url = stack.migration_url()
        except StackError as exc:
            raise ConfigurationError(str(exc)) from exc
        return url, f"local stack {redact(url)}"
    raise ConfigurationError(
        "the migration history needs a direct database connection: set DATABASE_URL to the project's "
        "connection string (Project Settings → Database)"
    )
