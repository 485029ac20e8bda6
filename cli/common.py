"""What the operator commands share: the --json option, one session per command against the target, RPC
errors turned into named exit codes, and parsing of times and durations."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NoReturn

import typer

from thinbase.cli import target as targets
from thinbase.cli.output import ExitCode, fail
from thinbase.db import Caller, Database, SyncDatabase
from thinbase.errors import ConfigurationError, DatabaseUnavailable, RpcError
from thinbase.settings import Settings

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON envelope ({ok, data, error}).")]
LimitOption = Annotated[int, typer.Option("--limit", min=1, max=500, help="At most this many rows.")]

# PostgREST statuses an operator can do something about, and the exit code each one means here.
_EXIT_FOR_STATUS = {400: ExitCode.USAGE, 404: ExitCode.NOT_FOUND}
_HINT_FOR_CODE = {
    "admin_required": "the CLI calls as the service role: check SUPABASE_SERVICE_ROLE_KEY",
    "last_admin": "grant admin to someone else first: `thinbase admin grant EMAIL`",
    "not_replayable": "only failed events with stored input are replayed; `thinbase webhooks show ID`",
    "PGRST202": "the database lacks this RPC: apply pending migrations with `thinbase db push`",
}
# When neither the code nor the database gave a hint: one per kind of failure.
_HINT_FOR_STATUS = {
    400: "check the arguments: `--help` on the command lists them",
    404: "nothing by that name or id: `users list`, `payments list` and `webhooks list` show what exists",
    409: "the item's current state does not allow this: `show` it to see that state",
}


def operator_name(settings: Settings) -> str:
    """Who is operating: THINBASE_OPERATOR, else the OS user's name (DESIGN.md, "Configuration names")."""
    import getpass

    named = settings.get("THINBASE_OPERATOR").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment or the password database
        return "unknown"


def rpc_failure(exc: RpcError, *, as_json: bool = False) -> NoReturn:
    """Report an RPC error with the exit code its status means (404 → 3, 400 → 2, else 1)."""
    detail = exc.details if exc.details and not exc.details.startswith("{") else None
    message = f"{exc.message}: {detail}" if detail else exc.message
    hint = (
        _HINT_FOR_CODE.get(exc.message)
        or _HINT_FOR_CODE.get(exc.code)
        or exc.hint
        or _HINT_FOR_STATUS.get(exc.status)
    )
    fail(message, hint=hint, code=_EXIT_FOR_STATUS.get(exc.status, ExitCode.FAILURE), as_json=as_json)


def unavailable(exc: DatabaseUnavailable, *, as_json: bool = False) -> NoReturn:
    fail(
        f"the database is unreachable: {exc}",
        hint="is it running? `thinbase local up` for the local stack, or check DATABASE_URL / SUPABASE_URL",
        as_json=as_json,
    )


@dataclass
class Session:
    """One command's connection to the target; `call` runs an RPC as the service role."""

    target: targets.Target
    database: SyncDatabase[Database]
    as_json: bool

    @property
    def headers(self) -> dict[str, str]:
        """Sent with every call: the audit log names who operated (THINBASE_OPERATOR, or the OS user)."""
        return {"X-Thinbase-Operator": operator_name(self.target.settings)}

    def call(self, fn: str, args: Mapping[str, Any] | None = None) -> Any:
        """Call `fn`; on failure report it and exit with the matching code."""
        try:
            return self.database.rpc(fn, dict(args or {}), caller=Caller.service(), headers=self.headers)
        except RpcError as exc:
            rpc_failure(exc, as_json=self.as_json)
        except DatabaseUnavailable as exc:
            unavailable(exc, as_json=self.as_json)
        except ConfigurationError as exc:
            fail(str(exc), hint=targets.NO_TARGET_HINT, as_json=self.as_json)

    def try_call(self, fn: str, args: Mapping[str, Any] | None = None) -> Any:
        """Call `fn` and let RpcError through (for commands that report per item); unreachable still exits."""
        try:
            return self.database.rpc(fn, dict(args or {}), caller=Caller.service(), headers=self.headers)
        except DatabaseUnavailable as exc:
            unavailable(exc, as_json=self.as_json)


def resolve_target(as_json: bool = False) -> targets.Target:
    try:
        return targets.resolve()
    except ConfigurationError as exc:
        fail(str(exc), hint=targets.NO_TARGET_HINT, as_json=as_json)


@contextlib.contextmanager
def session(as_json: bool = False) -> Iterator[Session]:
    """The target's database for the length of one command."""
    target = resolve_target(as_json)
    try:
        database = target.open()
    except ConfigurationError as exc:
        fail(str(exc), hint=targets.NO_TARGET_HINT, as_json=as_json)
    try:
        yield Session(target, database, as_json)
    finally:
        database.close()


_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str) -> timedelta:
    """`90s`, `15m`, `2h`, `7d`, `1w`."""
    match = _DURATION.match(value)
    if not match:
        raise typer.BadParameter(f"{value!r} is not a duration like 30s, 15m, 2h, 7d or 1w")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_instant(value: str) -> datetime:
    """An ISO 8601 date or time (UTC when no zone is given), or a duration meaning that long ago."""
    if _DURATION.match(value):
        return datetime.now(UTC) - parse_duration(value)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither an ISO 8601 time (2026-11-22T10:00:00Z) nor a duration (2h, 7d)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def exit_with(code: ExitCode) -> NoReturn:
    raise typer.Exit(int(code))


def short(value: Any, width: int = 8) -> str:
    """Text shortened for a table cell, never an id (JSON output always carries the full value)."""
    text = "" if value is None else str(value)
    return text if len(text) <= width + 1 else text[:width] + "…"


def match_id(db: Session, entity: str, prefix: str, *, noun: str) -> str:
    """The one id of `entity` ("payments", "webhook_events") that starts with `prefix`, as git takes a
    unique prefix of a commit. None or several: a clear error (exit 3, or 2 naming the candidates)."""
    try:
        matches: list[str] = db.try_call("operator_match_ids", {"entity": entity, "prefix": prefix, "max": 5})
    except RpcError as exc:
        rpc_failure(exc, as_json=db.as_json)
    if not matches:
        fail(f"no {noun} starts with {prefix!r}", code=ExitCode.NOT_FOUND, as_json=db.as_json)
    if len(matches) > 1:
        fail(
            f"{prefix!r} starts more than one {noun}: {', '.join(matches)}",
            hint="give more characters",
            code=ExitCode.USAGE,
            as_json=db.as_json,
        )
    return matches[0]


def currency_exponents(db: Session) -> dict[str, int]:
    """ISO 4217 exponents from the database's currencies table."""
    rows: list[dict[str, Any]] = db.call("currency_exponents")
    return {str(r["code"]): int(r["exponent"]) for r in rows}


def money(amount_minor: int | None, currency: str | None, exponents: Mapping[str, int]) -> str:
    """Minor units as a readable amount: 900 USD -> "9.00 USD", 1400 JPY -> "1400 JPY"."""
    if amount_minor is None:
        return ""
    exponent = exponents.get(currency or "")
    if exponent is None:
        return f"{amount_minor} {currency or ''} (minor units)".strip()
    if exponent == 0:
        return f"{amount_minor} {currency}"
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), int(10**exponent))
    return f"{sign}{whole}.{fraction:0{exponent}d} {currency}"
