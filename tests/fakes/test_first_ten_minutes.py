"""The README's "First ten minutes", as a newcomer does it: what `make dev` runs (`thinbase serve --local
--fakes`, with no provider accounts), a checkout started through supabase-js, Pay clicked on the fake's
hosted page in a real browser (headless Chromium), and the PRO plan active when supabase-js reads it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from thinbase.fakes import state as fakes_state
from thinbase.local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
THINBASE = ROOT / ".venv" / "bin" / "thinbase"
SCRIPT = ROOT / "tests" / "js" / "first_ten_minutes.mjs"
# Settings that would make a service real instead of faked: a newcomer has none of them.
REAL_SERVICE_SETTINGS = ("MIDTRANS_", "DOKU_", "STRIPE_", "LEMONSQUEEZY_", "RAZORPAY_", "AI_", "RESEND_")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def newcomer_env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(REAL_SERVICE_SETTINGS)}
    env.pop("ALLOWED_RETURN_URLS", None)
    env.pop("PAYMENT_PROVIDER", None)
    return env | {"THINBASE_PORT": str(port)}


@pytest.fixture(scope="module")
def make_dev(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`make dev`'s command, from a directory without a .env; yields the edge app's URL."""
    port = free_port()
    cwd = tmp_path_factory.mktemp("newcomer")
    log = (cwd / "serve.log").open("w+")
    server = subprocess.Popen(
        [str(THINBASE), "serve", "--local", "--fakes"],
        cwd=cwd,
        env=newcomer_env(port),
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, Path(log.name).read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.2)
        yield url
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        log.close()
    assert fakes_state.read_state() is None, "the fakes' state file outlived `serve --local --fakes`"


def supabase_js(url: str, *args: str) -> Any:
    node = shutil.which("node")
    assert node, "node is required (the Makefile's system packages include it)"
    keys = LocalStack().env(int(url.rsplit(":", 1)[1]))
    env = {**os.environ, "SUPABASE_URL": url, "SUPABASE_ANON_KEY": keys["SUPABASE_ANON_KEY"]}
    done = subprocess.run(
        [node, str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_checkout_in_a_browser_makes_the_plan_active(make_dev: str, browser: webdriver.Chrome) -> None:
    email, password = f"newcomer-{uuid.uuid4().hex[:8]}@example.test", "correct-horse-battery"
    assert supabase_js(make_dev, "plan", email, password) == {"plan_code": "FREE", "status": "active"}

    started = supabase_js(make_dev, "checkout", email, password, "stripe", "USD")
    assert started["redirect_url"].startswith("http://127.0.0.1:"), started  # the fake's hosted page

    browser.get(started["redirect_url"])
    assert started["order_id"] in browser.find_element(By.TAG_NAME, "body").text
    browser.find_element(By.ID, "pay").click()
    WebDriverWait(browser, 30).until(expected_conditions.url_contains("/_fake/return"))

    assert supabase_js(make_dev, "plan", email, password) == {"plan_code": "PRO", "status": "active"}
