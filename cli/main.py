"""The `thinbase` command: one Typer sub-app per group (DESIGN.md, "CLI conventions")."""

from __future__ import annotations

from typing import Annotated

import typer

from thinbase.cli import (
    admin,
    audit,
    billing,
    contact,
    db,
    doctor,
    fakes,
    listen,
    local,
    payments,
    plans,
    ratelimit,
    users,
    webhooks,
)
from thinbase.cli.output import ExitCode, fail, progress
from thinbase.errors import StackError
from thinbase.local.stack import LocalStack
from thinbase.settings import load_settings

app = typer.Typer(
    name="thinbase",
    help="Operate a thinbase backend: the local stack, the schema, admins, users, plans, payments, webhooks, "
    "rate limits, the audit log, the billing cycle, contact messages and the edge app.\n\n"
    "Commands act on the local stack unless DATABASE_URL (or SUPABASE_URL with SUPABASE_SERVICE_ROLE_KEY) "
    "names a project. Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 drift or failed check.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(local.app, name="local")
app.add_typer(db.app, name="db")
app.add_typer(admin.app, name="admin")
app.add_typer(users.app, name="users")
app.add_typer(plans.app, name="plans")
app.add_typer(payments.app, name="payments")
app.add_typer(webhooks.app, name="webhooks")
webhooks.app.command("listen")(listen.listen)
app.add_typer(ratelimit.app, name="ratelimit")
app.add_typer(audit.app, name="audit")
app.add_typer(billing.app, name="billing")
app.add_typer(contact.app, name="contact")
app.add_typer(fakes.app, name="fakes")
app.command("doctor")(doctor.doctor)


def _port_is_free(host: str, port: int) -> bool:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is free
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default THINBASE_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default THINBASE_PORT or 54321).")] = None,
    use_local: Annotated[bool, typer.Option("--local", help="Use the local stack's URLs and keys.")] = False,
    use_fakes: Annotated[
        bool,
        typer.Option(
            "--fakes",
            help="With --local: local fakes for every payment provider, the AI provider and email that "
            "has no real settings (what `make dev` runs).",
        ),
    ] = False,
) -> None:
    """Serve the edge app (ASGI, uvicorn) in the foreground; Ctrl-C stops it.

    uvicorn's proxy-header handling is off: only TRUSTED_PROXY_HEADER sets the client IP.
    With --local, fakes started by `thinbase local up --fakes` are used when they run.
    """
    import contextlib
    import os

    from thinbase.fakes import state as fakes_state
    from thinbase.functions._shared.logging import configure_logging
    from thinbase.functions._shared.serving import serve as serve_app
    from thinbase.functions.app import create_app

    if use_fakes and not use_local:
        fail(
            "--fakes runs only with --local: fakes never stand in for a project's providers",
            code=ExitCode.USAGE,
        )
    settings = load_settings()
    bind_host = host or settings.host
    bind_port = port or settings.port
    if not _port_is_free(bind_host, bind_port):
        # Fail before printing URLs and keys as if serving. Not a free port chosen instead: a frontend's
        # .env.local names this URL, so it must stay the same.
        fail(
            f"{bind_host}:{bind_port} is already in use (another `thinbase serve`, or `make dev`, running?)",
            hint="stop it, or serve elsewhere with THINBASE_PORT=<port> (or --port)",
        )
    with contextlib.ExitStack() as running:
        if use_local:
            try:
                local_env = LocalStack().env(bind_port)
            except StackError as exc:
                fail(str(exc), hint="run `thinbase local up` first")
            os.environ.update(local_env)
            background = fakes_state.read_state()
            if background is not None:
                os.environ.update(background.env)
                progress(
                    f"fakes of `thinbase local up --fakes` (pid {background.pid}): "
                    + ", ".join(sorted(background.services))
                )
            elif use_fakes:
                edge = f"http://{_loopback(bind_host)}:{bind_port}"
                fakes_running = running.enter_context(fakes.started(load_settings(), edge))
                os.environ.update(fakes_running.env)
                fakes.describe(fakes_running.services)
            settings = load_settings()
            progress(f"edge app   http://{bind_host}:{bind_port}   (health: /health, RPC: /rest/v1/rpc/<fn>)")
            for key, value in local_env.items():
                progress(f"{key}={value}")
        configure_logging()
        if not serve_app(create_app(settings), host=bind_host, port=bind_port):
            raise typer.Exit(1)


def _loopback(host: str) -> str:
    """The address this machine reaches a server bound to `host` at."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - naming the wildcard address, not binding to it
        return "127.0.0.1"
    if ":" in host:
        return "[::1]" if host == "::" else f"[{host}]"
    return host


if __name__ == "__main__":
    app()
