"""`thinbase local mail list|show`: the emails the local mail catcher captured (thinbase/fakes/mail.py).

The catcher runs with the other fakes (`make dev`, `thinbase local up --fakes`), which record its URL in
.local/fakes.json; these commands read it there and ask the catcher's JSON API. What a message holds came
from the app's users (a contact form's name is in its subject), so it is printed made safe for the
terminal (cli/output.py); the HTML body is only ever shown by the catcher's page, in a sandboxed frame.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer

from thinbase.cli.common import JsonOption
from thinbase.cli.output import ExitCode, emit_json, fail, key_values, printable, progress, table
from thinbase.fakes import state as fakes_state

app = typer.Typer(help="Emails the local mail catcher captured (the fakes of `make dev`).")

START_HINT = "run `make dev` (or `thinbase local up --fakes`) to start the fakes with the mail catcher"


def _catcher(as_json: bool) -> str:
    """The running catcher's URL, or a clear failure saying how to start one."""
    running = fakes_state.read_state()
    if running is None:
        fail("no local fakes are running, so no mail is being caught", hint=START_HINT, as_json=as_json)
    url = running.services.get("mail")
    if url is None:
        fail(
            "the running fakes have no mail catcher: email goes to the real Resend (RESEND_API_KEY is set)",
            hint="unset RESEND_API_KEY and start the fakes again to catch mail locally",
            as_json=as_json,
        )
    return url.rstrip("/")


def _get(url: str, path: str, as_json: bool) -> httpx.Response:
    try:
        return httpx.get(f"{url}{path}", timeout=10)
    except httpx.HTTPError as exc:
        fail(
            f"the mail catcher at {url} did not answer ({type(exc).__name__})",
            hint="the fakes may have stopped: `make dev` starts them again",
            as_json=as_json,
        )


@app.command("list")
def list_messages(as_json: JsonOption = False) -> None:
    """Captured emails, newest first: time, from, to, subject (and the id `show` takes)."""
    url = _catcher(as_json)
    messages: list[dict[str, Any]] = _get(url, "/_fake/messages", as_json).json()["messages"]
    if as_json:
        emit_json(messages)
        return
    if messages:
        table(
            ("id", "received", "from", "to", "subject"),
            ((m["id"], m["created_at"], m["from"], ", ".join(m["to"]), m["subject"]) for m in messages),
            title="captured mail",
        )
    progress(f"{len(messages)} message(s); the catcher's page: {url}/")


@app.command()
def show(
    message_id: Annotated[
        str, typer.Argument(metavar="ID", help="A message id from `thinbase local mail list`.")
    ],
    as_json: JsonOption = False,
) -> None:
    """One captured email: its headers and text body (the HTML body is on the catcher's page).

    Exits 3 when the catcher has no message with that id."""
    url = _catcher(as_json)
    response = _get(url, f"/_fake/messages/{quote(message_id, safe='')}", as_json)
    if response.status_code == 404:
        fail(
            f"no captured message {message_id}",
            hint="`thinbase local mail list` shows what was caught (the catcher forgets on restart)",
            code=ExitCode.NOT_FOUND,
            as_json=as_json,
        )
    message: dict[str, Any] = response.json()
    if as_json:
        emit_json(message)
        return
    pairs: list[tuple[str, Any]] = [("id", message["id"]), ("date", message["created_at"])]
    pairs.append(("from", message["from"]))
    for name in ("to", "cc", "bcc", "reply_to"):
        if message[name]:
            pairs.append((name.replace("_", "-"), ", ".join(message[name])))
    pairs.append(("subject", message["subject"]))
    pairs.extend(message["headers"].items())
    key_values(pairs, title="message")
    if message["text"]:
        # Line by line, so the body keeps its lines while any other control character is shown escaped.
        for line in message["text"].replace("\r\n", "\n").split("\n"):
            typer.echo(printable(line))
    else:
        progress("no text body")
    if message["html"]:
        progress(f"the HTML body: {url}/messages/{message['id']}")
