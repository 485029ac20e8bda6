"""`thinbase doctor`: one table of checks — is every feature configured completely, is the database reachable
and up to date, are the avatars bucket, the billing schedule and the admins in place. Exits 4 when a check
fails (warnings do not fail)."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

import psycopg
import typer

from thinbase import tokens
from thinbase.cli import target as targets
from thinbase.cli.common import JsonOption, resolve_target
from thinbase.cli.output import ExitCode, cell, emit_json, safe, stdout
from thinbase.cli.target import Target
from thinbase.db import Caller
from thinbase.errors import AiNotConfigured, ConfigurationError, DatabaseUnavailable, RpcError, TokenError
from thinbase.functions.ai.config import AI_PROVIDERS, ai_config
from thinbase.functions.payments.providers.registry import PROVIDERS
from thinbase.local import migrations
from thinbase.local.stack import LocalStack
from thinbase.settings import Settings, load_settings

Status = Literal["pass", "warn", "fail"]



@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    hint: str | None = None


def _partial(settings: Settings, names: tuple[str, ...]) -> tuple[list[str], list[str]]:
    present = [n for n in names if settings.get(n).strip()]
    return present, [n for n in names if n not in present]


def _key_checks(target: Target) -> list[Check]:
    """A key the edge app would refuse (an `apikey` must be one of the project's keys): a legacy JWT key
    not signed with SUPABASE_JWT_SECRET or for another role, or — on the local stack — not the stack's."""
    s = target.settings
    found: list[Check] = []
    expected = LocalStack().env(s.port) if target.kind == "local" else {}
    for name, role in (("SUPABASE_ANON_KEY", "anon"), ("SUPABASE_SERVICE_ROLE_KEY", "service_role")):
        key = s.get(name).strip()
        if not key:
            continue
        problem = None
        if expected and key != expected.get(name):
            problem = f"{name} is not this local stack's key (an earlier stack's?)"
        elif key.count(".") == 2 and s.jwt_secret:  # a legacy JWT key; sb_… keys are opaque
            try:
                claims = tokens.verify_hs256(key, s.jwt_secret)
            except TokenError as exc:
                problem = f"{name} does not verify with SUPABASE_JWT_SECRET ({exc})"
            else:
                if claims.get("role") != role:
                    problem = f"{name} carries role {claims.get('role')!r}, not {role!r}"
        if problem:
            hint = "copy it again from `thinbase local env`" if expected else "Project Settings → API keys"
            found.append(Check("api keys", "fail", f"{problem}: the edge app refuses it", hint))
    if not found and (s.anon_key or s.service_role_key):
        found.append(Check("api keys", "pass", "the edge app accepts the configured keys"))
    return found


def configuration_checks(target: Target) -> list[Check]:
    s = target.settings
    checks: list[Check] = []

    present, missing = _partial(s, ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY"))
    if not missing:
        checks.append(Check("supabase", "pass", f"{s.supabase_url} with anon and service keys"))
    else:
        checks.append(
            Check(
                "supabase",
                "warn",
                f"{', '.join(missing)} not set",
                "the edge app needs all three (.env.example)",
            )
        )

    checks += _key_checks(target)

    if s.jwks_url or s.jwt_secret:
        kinds = [k for k, v in (("JWKS", s.jwks_url), ("HS256 secret", s.jwt_secret)) if v]
        checks.append(Check("jwt verification", "pass", " and ".join(kinds)))
    else:
        checks.append(
            Check(
                "jwt verification",
                "fail",
                "neither SUPABASE_JWT_SECRET nor SUPABASE_JWKS_URL is set",
                "the edge app cannot verify users' tokens: set one (Project Settings → API)",
            )
        )

    configured = []
    for provider, descriptor in PROVIDERS.items():  # the registry builds one only when all are set
        present, missing = _partial(s, descriptor.required_settings)
        if present and missing:
            checks.append(
                Check(
                    f"payments: {provider}",
                    "fail",
                    f"{', '.join(missing)} missing",
                    f"set them, or unset {', '.join(present)}",
                )
            )
        elif present:
            configured.append(provider)
            warning = descriptor.warning(s)
            if warning is None:
                checks.append(Check(f"payments: {provider}", "pass", "configured"))
            else:
                checks.append(Check(f"payments: {provider}", "warn", *warning))
    default = s.get("PAYMENT_PROVIDER").strip().lower()
    if not configured:
        checks.append(Check("payments", "warn", "no payment provider configured", "checkout answers 503"))
    elif default and default not in configured:
        checks.append(
            Check(
                "payments",
                "fail",
                f"PAYMENT_PROVIDER={default} is not configured",
                f"configured: {', '.join(configured)}",
            )
        )
    elif not s.allowed_return_urls:
        checks.append(
            Check("payments", "warn", "ALLOWED_RETURN_URLS is empty", "checkouts need a return URL")
        )
    else:
        checks.append(
            Check(
                "payments",
                "pass",
                f"default {default or configured[0]}; {len(s.allowed_return_urls)} return URL(s)",
            )
        )

    # The edge app's own reading of the AI settings decides (one list of providers: ai/config.py).
    if not (s.get("AI_PROVIDER").strip() or s.get("AI_API_KEY").strip()):
        checks.append(Check("ai", "warn", "not configured", "the AI endpoints answer 503 ai_not_configured"))
    else:
        try:
            ai = ai_config(s)
        except AiNotConfigured as exc:
            checks.append(
                Check("ai", "fail", exc.public_message, f"AI_PROVIDER is one of {', '.join(AI_PROVIDERS)}")
            )
        else:
            model = ai.model or "(per plan)"
            checks.append(Check("ai", "pass", f"{ai.provider} at {ai.base_url}, model {model}"))

    present, missing = _partial(s, ("RESEND_API_KEY", "EMAIL_FROM"))
    if not missing:
        checks.append(Check("email", "pass", f"Resend, to {s.get('CONTACT_EMAIL') or s.get('EMAIL_FROM')}"))
    elif present:
        checks.append(
            Check("email", "fail", f"{', '.join(missing)} missing", "set RESEND_API_KEY and EMAIL_FROM")
        )
    else:
        checks.append(
            Check(
                "email", "warn", "not configured", "contact messages are kept for `thinbase contact resend`"
            )
        )

    if target.kind == "local":
        checks.append(Check("storage", "pass", "local stack: the edge app signs and serves uploads itself"))
    elif s.supabase_url and s.service_role_key:
        checks.append(Check("storage", "pass", "Supabase Storage"))
    else:
        checks.append(
            Check(
                "storage",
                "warn",
                "no Supabase Storage access",
                "avatar uploads need SUPABASE_URL and the service key",
            )
        )
    return checks


def _diagnostics(target: Target) -> tuple[dict[str, Any], list[dict[str, Any]]] | list[Check]:
    """(diagnostics, admins) from the database, or the checks that say why they could not be had."""
    try:
        database = target.open()
    except ConfigurationError as exc:
        return [Check("database", "fail", str(exc), "set DATABASE_URL, or SUPABASE_URL and the service key")]
    try:
        info: dict[str, Any] = database.rpc("operator_diagnostics", caller=Caller.service())
        admins: list[dict[str, Any]] = database.rpc("operator_list_admins", caller=Caller.service())
        return info, admins
    except DatabaseUnavailable as exc:
        return [
            Check("database", "fail", f"unreachable: {exc}", "`thinbase local up`, or check DATABASE_URL")
        ]
    except RpcError as exc:
        if exc.code != "PGRST202":
            return [Check("database", "fail", f"{exc.code}: {exc.message}", exc.hint)]
    finally:
        database.close()
    # The operator RPCs are missing: an older schema. health() (20261122000200) still tells the version.
    database = target.open()
    try:
        rows = database.rpc("health", caller=Caller.service())
    except (DatabaseUnavailable, RpcError) as exc:
        return [Check("database", "fail", str(exc), "`thinbase db push`")]
    finally:
        database.close()
    version = rows[0]["migration_version"] if rows else None
    return [
        Check("database", "pass", f"reachable ({target.label})"),
        Check(
            "migrations",
            "fail",
            f"the database is at {version}: the operator RPCs are missing",
            "`thinbase db push`",
        ),
    ]


def _offline_target() -> Target:
    """--offline checks this environment's configuration, also where no database is reachable or named."""
    try:
        return targets.resolve()
    except ConfigurationError:
        return Target("database_url", load_settings(), "configuration only (no database target)")


def _migrations_check(target: Target, applied: str | None) -> Check:
    """The same comparison as `db status`: every file against the history (pending, edited, renamed,
    unknown) over a direct connection; by the latest version alone through the API."""
    local = migrations.local_migrations()
    checked = "latest version only (no direct connection)"
    statuses = migrations.compare_latest(local, applied)
    if target.kind != "supabase":
        with contextlib.suppress(ConfigurationError, psycopg.Error):
            url, _ = targets.migration_url(target)
            statuses = migrations.compare(local, migrations.applied_migrations(url))
            checked = "every migration"
    report = migrations.summary(statuses, target.label)
    if report["up_to_date"]:
        return Check("migrations", "pass", f"up to date ({applied}; {checked})")
    pending, drift = report["pending"], report["drift"]
    if not pending and all(d["state"] == "missing" for d in drift):
        return Check(
            "migrations",
            "warn",
            f"the database has {len(drift)} migration(s) this checkout lacks (at {applied})",
            "update the checkout; `thinbase db status` lists them",
        )
    return Check(
        "migrations",
        "fail",
        f"{len(pending)} pending, {len(drift)} drifted (database at {applied}; {checked})",
        "`thinbase db status` lists them; `thinbase db push` applies pending ones",
    )


def database_checks(target: Target) -> list[Check]:
    found = _diagnostics(target)
    if isinstance(found, list):
        return found
    info, admins = found
    checks = [Check("database", "pass", f"reachable ({target.label})")]
    checks.append(_migrations_check(target, info.get("migration_version")))

    checks.append(
        Check("avatars bucket", "pass", "present")
        if info.get("avatars_bucket")
        else Check("avatars bucket", "fail", "missing", "`thinbase db push` creates it (20261122002300)")
    )
    if not info.get("pg_cron"):
        checks.append(
            Check(
                "billing schedule",
                "warn",
                "pg_cron is not installed",
                "run `thinbase billing run` every 15 minutes yourself",
            )
        )
    elif info.get("billing_schedule"):
        checks.append(Check("billing schedule", "pass", f"pg_cron: {info['billing_schedule']}"))
    else:
        checks.append(
            Check(
                "billing schedule",
                "fail",
                "pg_cron is installed but the thinbase-billing-cycle job is missing",
                "re-apply 20261122002500",
            )
        )

    checks.append(_admin_check(target.settings.admin_emails, info, admins))
    checks.append(_rate_limit_storage_check(target))
    failed_events = int(info.get("failed_webhook_events") or 0)
    checks.append(
        Check("webhook events", "warn", f"{failed_events} failed", "`thinbase webhooks list --status failed`")
        if failed_events
        else Check("webhook events", "pass", "none failed")
    )
    overdue = int(info.get("overdue_pending_payments") or 0)
    checks.append(
        Check(
            "pending payments",
            "warn",
            f"{overdue} past their expiry",
            "is the billing cycle running? `thinbase billing run`",
        )
        if overdue
        else Check("pending payments", "pass", "none past their expiry")
    )
    return checks


def _rate_limit_storage_check(target: Target) -> Check:
    """Which storage the rate-limit counters use (`thinbase ratelimit storage` chooses; README says what
    each trades). Both are valid choices, so both pass; an older schema without the RPC warns."""
    database = target.open()
    try:
        storage = str(database.rpc("rate_limit_storage", caller=Caller.service()))
    except (DatabaseUnavailable, RpcError) as exc:
        hint = "`thinbase db push` adds rate_limit_storage()"
        return Check("rate-limit storage", "warn", f"unknown: {exc}", hint)
    finally:
        database.close()
    detail = {
        "logged": "logged (crash-safe, replicated; the limiter's own commits are asynchronous)",
        "unlogged": "unlogged (a crash resets the current windows: fail open for one window; not replicated)",
    }.get(storage, storage)
    return Check("rate-limit storage", "pass", detail)


def _admin_check(wanted: tuple[str, ...], info: dict[str, Any], admins: list[dict[str, Any]]) -> Check:
    actual = {r["email"] for r in admins if r["role"] == "admin"}
    stored = {e.lower() for e in info.get("bootstrap_emails") or []}
    if not actual:
        return Check(
            "admins", "fail", "there is no admin", "set ADMIN_EMAILS, sign up, `thinbase admin bootstrap`"
        )
    if not wanted:
        return Check(
            "admins",
            "warn",
            f"{len(actual)} admin(s); ADMIN_EMAILS is empty",
            "list the admins in ADMIN_EMAILS",
        )
    not_admin = [e for e in wanted if e not in actual]
    if set(wanted) != stored or not_admin:
        detail = []
        if set(wanted) != stored:
            detail.append("ADMIN_EMAILS differs from the database's bootstrap list")
        if not_admin:
            detail.append(f"not admin (yet): {', '.join(not_admin)}")
        return Check(
            "admins",
            "warn",
            "; ".join(detail),
            "`thinbase admin bootstrap` (users not signed up yet are upgraded at sign-up)",
        )
    return Check("admins", "pass", f"{len(actual)} admin(s); ADMIN_EMAILS matches")


STYLE = {"pass": "[green]pass[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]fail[/]"}


def doctor(
    as_json: JsonOption = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Check the configuration only; skip the database.")
    ] = False,
) -> None:
    """Check a deployment: one table of checks with pass, warn or fail and a hint each.

    Configuration completeness per feature (each payment provider, AI, email, storage, JWT verification),
    the database reachable and migrated, the avatars bucket, the billing-cycle schedule, and ADMIN_EMAILS
    against the actual admins. Exits 4 when a check fails (warnings do not)."""
    target = _offline_target() if offline else resolve_target(as_json)
    checks = configuration_checks(target)
    if not offline:
        checks += database_checks(target)
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        emit_json(
            {"target": target.label, "ok": not failed, "checks": [asdict(c) for c in checks]},
            failed=(ExitCode.DRIFT, f"{len(failed)} check(s) failed") if failed else None,
        )
    else:
        from rich.table import Table

        grid = Table("check", "status", "detail", "hint", title=safe(f"thinbase doctor — {target.label}"))
        for check in checks:
            grid.add_row(cell(check.name), STYLE[check.status], cell(check.detail), cell(check.hint))
        stdout.print(grid)
    if failed:
        raise typer.Exit(int(ExitCode.DRIFT))
