"""The mail catcher: a contact form sent through the served edge app is caught and listed, its pages escape
what came from users and keep the HTML body inside a sandboxed frame, the Resend contract still holds, and
`thinbase local mail list|show` (the real `thinbase`, pointed by THINBASE_LOCAL_DIR at a state file of
its own) finds the catcher through the fakes' state file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client_ips import fresh_ip
from tests.conftest import EdgeServer, serve_edge
from thinbase.fakes import state as fakes_state
from thinbase.fakes.mail import FakeResend
from thinbase.local.stack import LocalStack

KEY = "re_catcher_key"
HOSTILE_NAME = 'Eve <script>alert("name")</script>'


@pytest.fixture(scope="module")
def catcher() -> Iterator[FakeResend]:
    with FakeResend(api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def site(stack: LocalStack, catcher: FakeResend) -> Iterator[EdgeServer]:
    with serve_edge(
        stack,
        RESEND_API_KEY=KEY,
        RESEND_BASE_URL=catcher.url,
        EMAIL_FROM="Site <hello@example.test>",
        CONTACT_EMAIL="support@example.test",
        TRUSTED_PROXY_HEADER="x-forwarded-for",
    ) as server:
        yield server


def send_email(catcher: FakeResend, **fields: Any) -> str:
    """POST /emails as the app does; the new message's id."""
    body = {"from": "App <app@example.test>", "to": "ada@example.test", "subject": "Hello", **fields}
    response = httpx.post(
        f"{catcher.url}/emails", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    message_id: str = response.json()["id"]
    return message_id


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    parser.close()
    return parser.found


# What the catcher's own markup uses; a mail's markup must never add to it.
PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "a", "table", "thead"}
PAGE_TAGS |= {"tbody", "tr", "th", "td", "pre", "iframe"}


def test_a_contact_message_is_caught_listed_and_escaped(site: EdgeServer, catcher: FakeResend) -> None:
    posted = httpx.post(
        f"{site.url}/contact",
        json={"name": HOSTILE_NAME, "email": "eve@example.test", "message": "Hi <b>there</b> & bye"},
        headers={"X-Forwarded-For": fresh_ip()},
        timeout=30,
    )
    assert posted.status_code == 202, posted.text
    submission = posted.json()["id"]
    later = send_email(catcher, subject="Sent after the contact form")

    listed = httpx.get(f"{catcher.url}/_fake/messages", timeout=10).json()["messages"]
    assert [m["subject"] for m in listed[:2]] == [
        "Sent after the contact form",
        f"Contact form: {HOSTILE_NAME}",
    ]
    caught = listed[1]
    assert (caught["from"], caught["to"]) == ("Site <hello@example.test>", ["support@example.test"])
    assert set(caught) == {"id", "created_at", "from", "to", "subject"}
    whole = httpx.get(f"{catcher.url}/_fake/messages/{caught['id']}", timeout=10).json()
    assert whole["reply_to"] == ["eve@example.test"]
    assert whole["idempotency_key"] == f"contact-{submission}"
    assert "Hi <b>there</b> & bye" in whole["text"]
    assert "Hi &lt;b&gt;there&lt;/b&gt; &amp; bye" in whole["html"]  # the app's template escaped it

    for path in ("/", f"/messages/{caught['id']}"):
        page = httpx.get(f"{catcher.url}{path}", timeout=10)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "script-src 'none'" in page.headers["content-security-policy"]
        assert "Contact form: Eve &lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in page.text
        assert "<script" not in page.text
        assert {tag for tag, _ in tags(page.text)} <= PAGE_TAGS
    index = httpx.get(f"{catcher.url}/", timeout=10).text
    assert index.index(f"/messages/{later}") < index.index(f"/messages/{caught['id']}")  # newest first


def test_the_html_body_stays_inside_its_sandbox(catcher: FakeResend) -> None:
    breakout = '"></iframe><script>alert(1)</script><p onclick="steal()">hi</p><form action=/x>'
    message_id = send_email(
        catcher,
        **{"from": '"Mal <m@x>" <script>', "subject": "<img src=x onerror=alert(2)>", "html": breakout},
        headers={"X-Entity-Ref": "<b>ref</b>"},
        text="line one\nline <two>",
    )
    page = httpx.get(f"{catcher.url}/messages/{message_id}", timeout=10).text
    found = tags(page)
    assert {tag for tag, _ in found} <= PAGE_TAGS
    (frame,) = [attrs for tag, attrs in found if tag == "iframe"]
    # The browser gets the mail's HTML back exactly, as the frame's document, with no sandbox allowance.
    assert frame["srcdoc"] == breakout
    assert "sandbox" in frame
    assert frame["sandbox"] in (None, "")
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&quot;Mal &lt;m@x&gt;&quot; &lt;script&gt;" in page
    assert "X-Entity-Ref" in page
    assert "&lt;b&gt;ref&lt;/b&gt;" in page
    assert "<pre>line one\nline &lt;two&gt;</pre>" in page

    missing = httpx.get(f"{catcher.url}/messages/<nope>", timeout=10)
    assert missing.status_code == 404
    assert "&lt;nope&gt;" in missing.text
    assert "<nope>" not in missing.text
    unknown = httpx.get(f"{catcher.url}/_fake/messages/nope", timeout=10)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "message_not_found"


def test_the_resend_contract_still_holds(catcher: FakeResend) -> None:
    before = len(catcher.sent)
    url = f"{catcher.url}/emails"
    body = {"from": "a@example.test", "to": ["b@example.test"], "subject": "once"}
    wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer re_wrong"}, timeout=10)
    assert (wrong.status_code, wrong.json()["name"]) == (401, "missing_api_key")
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "welcome-42"}
    first, again = (httpx.post(url, json=body, headers=headers, timeout=10) for _ in range(2))
    assert first.json() == again.json()
    missing = httpx.post(url, json={**body, "subject": ""}, headers=headers | {"Idempotency-Key": "x"})
    assert (missing.status_code, missing.json()["name"]) == (422, "missing_required_field")
    assert len(catcher.sent) == before + 1


# -- thinbase local mail ------------------------------------------------------------------------------------


def thinbase(local_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `thinbase`, with its .local/ (and so its fakes.json) in `local_dir`."""
    env = {**os.environ, "THINBASE_LOCAL_DIR": str(local_dir), "COLUMNS": "200"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "thinbase"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def envelope(done: subprocess.CompletedProcess[str], code: int = 0) -> Any:
    assert done.returncode == code, done.stderr
    parsed = json.loads(done.stdout)
    assert parsed["ok"] is (code == 0)
    return parsed["data"] if code == 0 else parsed["error"]


def test_local_mail_list_and_show_read_the_catcher_named_in_the_state_file(
    tmp_path: Path, catcher: FakeResend
) -> None:
    message_id = send_email(
        catcher, subject="Hi \x1b]0;pwned\x07 there", text="first\n\x1b[2Jsecond", html="<p>x</p>"
    )
    # Three local dirs: no fakes, fakes with the catcher, and fakes that left email to the real Resend.
    nothing, running, real = tmp_path / "nothing", tmp_path / "running", tmp_path / "real"
    written = fakes_state.write_state(
        pid=os.getpid(),
        edge_url=None,
        services={"mail": catcher.url},
        env={"RESEND_API_KEY": KEY},
        local_dir=running,
    )
    assert stat.S_IMODE(fakes_state.state_path(running).stat().st_mode) == 0o600  # it holds local secrets
    assert fakes_state.read_state(running) == written
    fakes_state.write_state(
        pid=os.getpid(), edge_url=None, services={"stripe": "http://127.0.0.1:9"}, local_dir=real
    )

    commands: dict[str, tuple[Path, tuple[str, ...]]] = {
        "no fakes": (nothing, ("list",)),
        "real resend": (real, ("list",)),
        "list json": (running, ("list", "--json")),
        "list": (running, ("list",)),
        "show": (running, ("show", message_id)),
        "show json": (running, ("show", message_id, "--json")),
        "show unknown": (running, ("show", "no-such-id", "--json")),
    }
    # Each is its own process (most of a second to start): run them side by side.
    with ThreadPoolExecutor(len(commands)) as pool:
        futures = {
            name: pool.submit(thinbase, where, "local", "mail", *words)
            for name, (where, words) in commands.items()
        }
        done = {name: future.result() for name, future in futures.items()}

    said = " ".join(done["no fakes"].stderr.split())
    assert done["no fakes"].returncode == 1
    assert "no local fakes are running" in said
    assert "`make dev`" in said
    assert "`thinbase local up --fakes`" in said
    assert done["real resend"].returncode == 1
    assert "real Resend" in " ".join(done["real resend"].stderr.split())

    listed = envelope(done["list json"])
    assert listed == httpx.get(f"{catcher.url}/_fake/messages", timeout=10).json()["messages"]
    assert listed[0]["id"] == message_id
    table = done["list"]
    assert table.returncode == 0, table.stderr
    assert message_id in table.stdout
    assert "Hi \\x1b]0;pwned\\x07 there" in table.stdout  # shown, never acted on by the terminal
    assert "\x1b" not in table.stdout
    assert f"{catcher.url}/" in table.stderr

    shown = done["show"]
    assert shown.returncode == 0, shown.stderr
    assert "first\n\\x1b[2Jsecond\n" in shown.stdout
    assert "\x1b" not in shown.stdout
    assert f"{catcher.url}/messages/{message_id}" in " ".join(shown.stderr.split())
    whole = envelope(done["show json"])
    assert (whole["subject"], whole["text"], whole["html"]) == (
        "Hi \x1b]0;pwned\x07 there",
        "first\n\x1b[2Jsecond",
        "<p>x</p>",
    )
    assert envelope(done["show unknown"], 3)["code"] == "not_found"


def test_a_state_file_whose_process_is_gone_reads_as_no_fakes(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    fakes_state.write_state(pid=gone.pid, edge_url="http://127.0.0.1:1", services={}, local_dir=tmp_path)
    assert fakes_state.state_path(tmp_path).is_file()
    assert fakes_state.read_state(tmp_path) is None
    fakes_state.state_path(tmp_path).write_text("{not json")
    assert fakes_state.read_state(tmp_path) is None
    fakes_state.clear_state(tmp_path)
    fakes_state.clear_state(tmp_path)  # already gone: nothing to do
    assert not fakes_state.state_path(tmp_path).exists()
    assert fakes_state.read_state(tmp_path) is None
