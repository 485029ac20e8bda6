"""The fakes' runner and the commands that start it: which services are faked (every one without real
settings), the settings that point the edge app at them, `serve --fakes` only with `--local`, `local up
--fakes` in the background, and `webhooks listen` relaying deliveries byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import CONFIG_NAMES, run
from tests.conftest import free_port
from thinbase.cli import fakes as fakes_cli
from thinbase.fakes import state as fakes_state
from thinbase.fakes.payments import FAKES
from thinbase.fakes.runner import LOCAL_SECRETS, run_fakes
from thinbase.functions.payments.providers.registry import PROVIDERS
from thinbase.local.stack import LocalStack
from thinbase.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
THINBASE = ROOT / ".venv" / "bin" / "thinbase"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any setting that would make a service real."""
    return {k: v for k, v in os.environ.items() if k not in CONFIG_NAMES and not k.startswith("AI_")} | extra


def test_every_provider_has_a_fake_that_the_local_secrets_configure() -> None:
    assert set(FAKES) == set(PROVIDERS) == set(LOCAL_SECRETS)
    for name, descriptor in PROVIDERS.items():
        assert descriptor.configured(load_settings(env=LOCAL_SECRETS[name])), name


def test_real_settings_win_and_half_given_ones_are_named() -> None:
    settings = load_settings(
        env={
            "STRIPE_SECRET_KEY": "sk_test_real",
            "STRIPE_WEBHOOK_SECRET": "whsec_real",
            "RAZORPAY_KEY_ID": "rzp_test_real",
            "AI_API_KEY": "sk-real",
        }
    )
    with run_fakes(settings, "http://127.0.0.1:9", environ={}) as running:
        kinds = {service.name: service.kind for service in running.services}
        assert kinds == {
            "doku": "fake",
            "lemonsqueezy": "fake",
            "midtrans": "fake",
            "razorpay": "incomplete",
            "stripe": "real",
            "ai": "real",
            "mail": "fake",
        }
        razorpay = next(service for service in running.services if service.name == "razorpay")
        assert "RAZORPAY_KEY_SECRET" in razorpay.detail
        assert "RAZORPAY_WEBHOOK_SECRET" in razorpay.detail
        assert "STRIPE_BASE_URL" not in running.env
        assert "STRIPE_SECRET_KEY" not in running.env
        assert "RAZORPAY_BASE_URL" not in running.env
        assert "AI_BASE_URL" not in running.env
        midtrans = running.env["MIDTRANS_BASE_URL"]
        assert httpx.get(f"{midtrans}/_fake/deliveries").json() == {"deliveries": []}
        assert httpx.get(f"{running.env['RESEND_BASE_URL']}/_fake/messages").status_code == 200
        assert running.env["ALLOWED_RETURN_URLS"].startswith(f"{running.urls['doku']}/_fake/return")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{midtrans}/_fake/deliveries")  # stopped with the block


def test_a_configured_return_url_is_kept() -> None:
    settings = load_settings(env={"ALLOWED_RETURN_URLS": "https://app.example.test/done"})
    with run_fakes(settings, "http://127.0.0.1:9", environ={}) as running:
        assert "ALLOWED_RETURN_URLS" not in running.env


def test_serve_with_fakes_needs_local() -> None:
    result = run("serve", "--fakes")
    assert result.exit_code == 2, result.output
    assert "--local" in result.output


def test_a_bad_ai_knob_is_refused_before_anything_runs(stack: LocalStack) -> None:
    done = subprocess.run(
        [str(THINBASE), "fakes", "serve"],
        env=clean_env(THINBASE_FAKE_AI_DELAY="soon"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "THINBASE_FAKE_AI_DELAY" in done.stderr
    assert fakes_state.read_state() is None


def test_local_up_with_fakes_runs_them_in_the_background(stack: LocalStack) -> None:
    port = free_port()
    done = subprocess.run(
        [str(THINBASE), "local", "up", "--fakes"],
        env=clean_env(THINBASE_PORT=str(port)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    try:
        running = fakes_state.read_state()
        assert running is not None
        assert running.pid != os.getpid()
        assert running.edge_url == f"http://127.0.0.1:{port}"
        assert set(running.services) == {*PROVIDERS, "ai", "mail"}
        assert httpx.get(f"{running.services['mail']}/_fake/messages").status_code == 200
        assert running.env["STRIPE_BASE_URL"] == running.services["stripe"]
        assert oct(fakes_state.state_path().stat().st_mode & 0o777) == "0o600"
    finally:
        assert fakes_cli.stop_background()
    assert fakes_state.read_state() is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{running.services['mail']}/_fake/messages")


class Receiver:
    """A webhook endpoint that records what reaches it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.arrived:
                    receiver.received.append(
                        (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout=20), self.received


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_listen_relays_each_delivery_byte_for_byte(stack: LocalStack, receiver: Receiver) -> None:
    with fakes_cli.started(load_settings(env={}), f"{receiver.url}/edge") as running:
        listener = subprocess.Popen(
            [
                str(THINBASE),
                "webhooks",
                "listen",
                "--forward-to",
                f"{receiver.url}/relay/{{provider}}",
                "--provider",
                "stripe",
                "--count",
                "1",
                "--json",
            ],
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert listener.stderr is not None
            assert "relaying stripe" in listener.stderr.readline()  # polling from here on
            body = b'{"id": "evt_relay", "type": "checkout.session.completed", "note": "caf\\u00e9"}'
            headers = {"Stripe-Signature": "t=1,v1=00ff", "Content-Type": "application/json"}
            running.fakes["midtrans"].deliver(dict(headers), b"{}")  # another provider's: not relayed
            running.fakes["stripe"].deliver(headers, body)
            out, _ = listener.communicate(timeout=30)
        finally:
            listener.kill()
        assert listener.returncode == 0
        assert json.loads(out) == {"seq": 1, "provider": "stripe", "answer": "200"}
        receiver.wait_for(3)
        relayed = [entry for entry in receiver.received if entry[0] == "/relay/stripe"]
        direct = [entry for entry in receiver.received if entry[0] == "/edge/webhooks/stripe"]
        assert len(relayed) == len(direct) == 1
        assert relayed[0][2] == direct[0][2] == body
        assert relayed[0][1]["stripe-signature"] == "t=1,v1=00ff"


def test_listen_without_running_fakes_says_how_to_start_them(stack: LocalStack) -> None:
    result = run("webhooks", "listen", "--forward-to", "http://127.0.0.1:9/")
    assert result.exit_code == 1
    assert "make dev" in result.output
