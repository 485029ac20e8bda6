"""`thinbase fakes …` and the fakes' part of `serve --local --fakes` and `local up --fakes`: local stand-ins
for the payment providers, the AI provider and email, for every one of them without real settings.

Three ways to run them, one mechanism (`thinbase.fakes.runner`):
- `thinbase serve --local --fakes` (what `make dev` runs): in the edge app's process, stopped with it;
- `thinbase fakes serve`: in the foreground on their own, delivering webhooks to an edge app elsewhere;
- `thinbase local up --fakes`: `fakes serve` in the background (log in .local/fakes.log), which a later
  `thinbase serve --local` finds; `thinbase local down` stops it.
Whichever runs them writes .local/fakes.json (mode 0600): their URLs and the settings that point at them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Annotated

import typer

from thinbase.cli.output import ExitCode, fail, progress
from thinbase.fakes import state as fakes_state
from thinbase.fakes.runner import RunningFakes, Service, run_fakes
from thinbase.local import paths
from thinbase.settings import Settings, load_settings

app = typer.Typer(
    help="Local fakes of the payment providers, the AI provider and email (no accounts needed)."
)

LOG_NAME = "fakes.log"
START_TIMEOUT = 15.0


def describe(services: list[Service]) -> None:
    """One line per service: which run against a fake (and where), which against the real thing."""
    for service in services:
        if service.kind == "fake":
            progress(f"{service.name:<13} fake   {service.detail}")
        elif service.kind == "real":
            progress(f"{service.name:<13} real   ({service.detail})")
        else:
            progress(f"{service.name:<13} NOT CONFIGURED: {service.detail}")


def pages(running: RunningFakes) -> None:
    urls = running.urls
    if "mail" in urls:
        progress(f"mail catcher  {urls['mail']}/   (or `thinbase local mail list`)")


@contextlib.contextmanager
def started(settings: Settings, edge_url: str) -> Iterator[RunningFakes]:
    """The fakes running in this process, recorded in the state file while they serve (the record goes only
    after they have stopped, so whoever waits for it to go finds their ports closed)."""
    with contextlib.ExitStack() as stack:
        stack.callback(_forget_own_state)
        try:
            running = stack.enter_context(run_fakes(settings, edge_url))
        except ValueError as exc:  # a setting the fakes cannot honour (THINBASE_FAKE_AI_*, AI_PROVIDER)
            fail(str(exc), code=ExitCode.USAGE)
        fakes_state.write_state(pid=os.getpid(), edge_url=edge_url, services=running.urls, env=running.env)
        yield running


def _forget_own_state() -> None:
    current = fakes_state.read_state()
    if current is None or current.pid == os.getpid():  # never another live process's record
        fakes_state.clear_state()


@app.command("serve")
def serve_fakes(
    edge_url: Annotated[
        str | None,
        typer.Option(
            help="Where the payment fakes deliver webhooks (default: http://127.0.0.1:THINBASE_PORT)."
        ),
    ] = None,
) -> None:
    """Run the fakes in the foreground (Ctrl-C stops them) for every service without real settings.

    Prints which services are faked and the settings that point an edge app at them."""
    running_elsewhere = fakes_state.read_state()
    if running_elsewhere is not None:
        fail(
            f"the fakes already run (pid {running_elsewhere.pid})",
            hint="`thinbase local down` stops background fakes",
        )
    settings = load_settings()
    target = edge_url or f"http://127.0.0.1:{settings.port}"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with started(settings, target) as running:
        describe(running.services)
        pages(running)
        for key, value in running.env.items():
            print(f"{key}={value}", flush=True)
        progress(f"webhooks go to {target}/webhooks/<provider>; Ctrl-C stops the fakes")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


def start_background(edge_url: str) -> fakes_state.FakesState:
    """`fakes serve` as a detached process; returns once it has written its state."""
    existing = fakes_state.read_state()
    if existing is not None:
        return existing
    log = paths.LOCAL_DIR / LOG_NAME
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        child = subprocess.Popen(  # noqa: S603 - our own CLI, by the interpreter running us
            [sys.executable, "-m", "thinbase.cli.main", "fakes", "serve", "--edge-url", edge_url],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # outlives this command and its terminal's Ctrl-C
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        current = fakes_state.read_state()
        if current is not None and current.pid == child.pid:
            return current
        if child.poll() is not None:
            break
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        child.terminate()
    fail("the fakes did not start", hint=f"see {log}")


def stop_background() -> bool:
    """Stop fakes started by `local up --fakes` and wait until they have; False when none run."""
    current = fakes_state.read_state()
    if current is None:
        return False
    for sig, patience in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(current.pid, sig)
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline and fakes_state.alive(current.pid):
            time.sleep(0.05)
        if not fakes_state.alive(current.pid):
            break
    fakes_state.clear_state()  # SIGKILL leaves it behind
    return True

