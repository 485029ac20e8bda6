"""SupabaseStorage against a local stand-in of Supabase Storage's HTTP API (the calls it makes, over real
HTTP): POST /profile/avatar/confirm needs a ranged read of the stored object's first bytes, as the user,
and a delete of a mismatch. Storage's own behaviour is not ours to test; what we send is."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from thinbase.db import Caller
from thinbase.functions.avatar import content
from thinbase.functions.avatar.storage import SupabaseStorage

USER = Caller.user({"sub": "00000000-0000-4000-8000-00000000000a"}, token="user-jwt")
PATH = "00000000-0000-4000-8000-00000000000a/avatar"
HTML = b"<html><script>alert(1)</script></html>"


class FakeStorage:
    """GET /storage/v1/object/authenticated/{bucket}/{path} (honouring Range) and DELETE
    /storage/v1/object/{bucket}/{path}, for objects put in `objects`; records every request."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[str, bytes]] = {}
        self.requests: list[dict[str, Any]] = []

    def __enter__(self) -> FakeStorage:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _record(self) -> str:
                fake.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers)}
                )
                return self.path.removeprefix("/storage/v1/object/")

            def do_GET(self) -> None:
                name = self._record().removeprefix("authenticated/avatars/")
                if name not in fake.objects:
                    self._send(400, b'{"statusCode": "404", "error": "not_found"}', "application/json")
                    return
                kind, data = fake.objects[name]
                first, _, last = (self.headers.get("Range") or "").removeprefix("bytes=").partition("-")
                if first:
                    self._send(206, data[int(first) : int(last) + 1], kind)
                else:
                    self._send(200, data, kind)

            def do_DELETE(self) -> None:
                name = self._record().removeprefix("avatars/")
                found = fake.objects.pop(name, None)
                self._send(200 if found else 400, json.dumps({"message": "ok"}).encode(), "application/json")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def storage() -> AsyncIterator[tuple[SupabaseStorage, FakeStorage]]:
    with FakeStorage() as fake:
        async with httpx.AsyncClient() as http:
            yield SupabaseStorage(fake.url, "anon-key", http), fake


@pytest.mark.anyio
async def test_head_is_a_ranged_read_as_the_user(storage: tuple[SupabaseStorage, FakeStorage]) -> None:
    client, fake = storage
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 5000
    fake.objects[PATH] = ("image/png", png)
    head = await client.head(USER, PATH)
    assert head is not None
    assert (head.content_type, head.first_bytes) == ("image/png", png[: content.HEAD_BYTES])
    (request,) = fake.requests
    assert request["headers"]["Range"] == f"bytes=0-{content.HEAD_BYTES - 1}"
    assert request["headers"]["Authorization"] == "Bearer user-jwt"  # RLS decides, as the user


@pytest.mark.anyio
async def test_a_missing_object_has_no_head(storage: tuple[SupabaseStorage, FakeStorage]) -> None:
    client, _ = storage
    assert await client.head(USER, PATH) is None


@pytest.mark.anyio
async def test_a_mismatch_is_seen_and_deleted_as_the_user(
    storage: tuple[SupabaseStorage, FakeStorage],
) -> None:
    client, fake = storage
    fake.objects[PATH] = ("image/png", HTML)
    head = await client.head(USER, PATH)
    assert head is not None
    assert not content.matches(head.content_type, head.first_bytes)
    await client.delete(USER, PATH)
    assert PATH not in fake.objects
    assert fake.requests[-1]["method"] == "DELETE"
    assert fake.requests[-1]["headers"]["Authorization"] == "Bearer user-jwt"


@pytest.mark.parametrize(
    ("kind", "head", "ok"),
    [
        ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00", True),
        ("image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF", True),
        ("image/gif", b"GIF89a\x01\x00", True),
        ("image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 ", True),
        ("image/png", b"\xff\xd8\xff\xe0", False),  # a JPEG labelled PNG
        ("image/webp", b"RIFF\x10\x00\x00\x00WAVEfmt ", False),  # a RIFF that is not WebP
        ("image/gif", b"<svg xmlns=", False),
    ],
)
def test_magic_bytes(kind: str, head: bytes, ok: bool) -> None:
    assert content.matches(kind, head) is ok
