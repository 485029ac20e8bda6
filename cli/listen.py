"""`thinbase webhooks listen --forward-to URL`: relay the local payment fakes' signed webhooks to any URL,
like `stripe listen --forward-to`.

Each payment fake lists what it delivered at `GET /_fake/deliveries?after=SEQ`; this polls every running fake
and POSTs each new delivery's headers and body, byte for byte, to the URL — so the signature still verifies
wherever it lands (your own app's webhook route, a tunnel, a second edge app). Only deliveries made after it
starts are relayed.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import httpx
import typer

from thinbase.cli.output import ExitCode, fail, progress, safe, stdout
from thinbase.cli.payments import ProviderName
from thinbase.fakes import state as fakes_state

POLL_SECONDS = 0.25
# Headers that describe the hop, not the delivery: httpx sets them for the new request.
HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}


def _deliveries(http: httpx.Client, url: str, after: int) -> list[dict[str, Any]]:
    response = http.get(f"{url}/_fake/deliveries", params={"after": after})
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


def _forward(http: httpx.Client, target: str, delivery: dict[str, Any]) -> str:
    headers = {k: v for k, v in delivery["headers"].items() if k.lower() not in HOP_HEADERS}
    try:
        response = http.post(target, content=delivery["body"].encode(), headers=headers)
    except httpx.HTTPError as exc:
        return f"not delivered ({type(exc).__name__})"
    return str(response.status_code)


def _report(seq: int, provider: str, answer: str, as_json: bool) -> None:
    if as_json:  # a line per delivery as it happens: a stream, so no single envelope
        sys.stdout.write(json.dumps({"seq": seq, "provider": provider, "answer": answer}) + "\n")
        sys.stdout.flush()
    else:
        stdout.print(f"{seq:>5}  {safe(provider):<13} -> {safe(answer)}", highlight=False)


def listen(
    forward_to: Annotated[
        str,
        typer.Option(
            "--forward-to",
            help="Where to POST each delivery; `{provider}` in it is replaced by the provider's name.",
        ),
    ],
    provider: Annotated[
        list[ProviderName] | None, typer.Option(help="Relay only this provider's deliveries (repeatable).")
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="Stop after relaying this many deliveries.", min=1)
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="A JSON object per relayed delivery, one per line.")
    ] = False,
) -> None:
    """Relay the local payment fakes' signed webhooks to URL as they are sent (Ctrl-C stops).

    Needs the fakes running (`make dev`, `thinbase serve --local --fakes` or `thinbase local up --fakes`).
    Prints one line per delivery: its sequence number, the provider and what the URL answered (with
    --json: a JSON object per line)."""
    if not forward_to.startswith(("http://", "https://")):
        fail(f"--forward-to must be an http(s) URL, not {forward_to!r}", code=ExitCode.USAGE)
    running = fakes_state.read_state()
    if running is None:
        fail("no local fakes are running", hint="`make dev` or `thinbase local up --fakes` starts them")
    wanted = {p.value for p in provider} if provider else None
    sources = {
        name: url
        for name, url in running.services.items()
        if name not in ("ai", "mail") and (wanted is None or name in wanted)
    }
    if not sources:
        fail(
            "none of the chosen providers runs as a fake here (they use their real sandbox)",
            code=ExitCode.USAGE,
        )
    relayed = 0
    with httpx.Client(timeout=30) as http:
        try:
            seen = {
                name: max((d["seq"] for d in _deliveries(http, url, 0)), default=0)
                for name, url in sources.items()
            }
        except httpx.HTTPError as exc:
            fail(f"cannot read the fakes' deliveries: {exc}", hint="are the fakes still running?")
        progress(f"relaying {', '.join(sorted(sources))} to {forward_to}; Ctrl-C stops")
        try:
            while count is None or relayed < count:
                for name, url in sources.items():
                    try:
                        new = _deliveries(http, url, seen[name])
                    except httpx.HTTPError:
                        fail(f"the {name} fake stopped answering", hint="are the fakes still running?")
                    for delivery in new:
                        seen[name] = max(seen[name], delivery["seq"])
                        status = _forward(http, forward_to.replace("{provider}", name), delivery)
                        _report(delivery["seq"], name, status, as_json)
                        relayed += 1
                        if count is not None and relayed >= count:
                            return
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            return
