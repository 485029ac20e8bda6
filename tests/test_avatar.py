"""Avatar upload and download end to end on the local storage adapter: signed URLs, the bucket's limits,
storage.objects rows as the Storage API writes them, and storage RLS deciding who may touch what."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import EdgeServer, User, serve_edge
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.errors import HttpError, RpcError
from thinbase.functions.avatar.storage import LocalStorage
from thinbase.local.paths import LOCAL_DIR
from thinbase.local.stack import LocalStack

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 60
IMAGES = {"image/png": PNG, "image/webp": WEBP}


def auth(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}


def test_upload_then_download_own_avatar(
    stack: LocalStack, edge: EdgeServer, make_user: Callable[..., User], db: PsycopgDatabase
) -> None:
    user = make_user("avatar")
    with httpx.Client(base_url=edge.url, timeout=30) as client:
        assert client.get("/profile/avatar", headers=auth(user)).status_code == 404  # nothing uploaded yet
        signed = client.post(
            "/profile/avatar", json={"fileSize": len(PNG), "fileType": "image/png"}, headers=auth(user)
        )
        assert signed.status_code == 200, signed.text
        body = signed.json()
        assert body["path"] == f"{user.id}/avatar"
        assert body["expires_in"] <= 120
        uploaded = httpx.put(body["upload_url"], content=PNG, headers={"Content-Type": "image/png"})
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json() == {"Key": f"avatars/{user.id}/avatar"}

        link = client.get("/profile/avatar", headers=auth(user))
        assert link.status_code == 200
        fetched = httpx.get(link.json()["url"])
        assert (fetched.status_code, fetched.content, fetched.headers["content-type"]) == (
            200,
            PNG,
            "image/png",
        )
        tampered = httpx.get(link.json()["url"].replace("/avatar?", "/other?"))
        assert tampered.status_code in (400, 404)

    with stack.superuser_connection() as conn:
        obj = conn.execute(
            "select owner::text, owner_id, metadata from storage.objects "
            "where bucket_id = 'avatars' and name = %s",
            (f"{user.id}/avatar",),
        ).fetchone()
    assert obj is not None
    assert (obj["owner"], obj["owner_id"]) == (user.id, user.id)
    assert obj["metadata"]["size"] == len(PNG)
    assert obj["metadata"]["mimetype"] == "image/png"
    profile = db.rpc("update_profile", {"avatar_path": f"{user.id}/avatar"}, caller=user.caller)
    assert profile["avatar_path"] == f"{user.id}/avatar"


def test_another_users_path_is_refused(
    edge: EdgeServer, make_user: Callable[..., User], db: PsycopgDatabase
) -> None:
    owner, other = make_user("owner"), make_user("other")
    signed = httpx.post(
        f"{edge.url}/profile/avatar", json={"fileSize": 10, "fileType": "image/png"}, headers=auth(owner)
    ).json()
    # The other user cannot reuse the owner's signed URL for their own path...
    forged = httpx.put(
        signed["upload_url"].replace(owner.id, other.id), content=PNG, headers={"Content-Type": "image/png"}
    )
    assert forged.status_code == 400
    # ...nor point their profile at the owner's avatar.
    with pytest.raises(RpcError) as refused:
        db.rpc("update_profile", {"avatar_path": f"{owner.id}/avatar"}, caller=other.caller)
    assert (refused.value.status, refused.value.message) == (403, "invalid_avatar_path")
    # The other user can still edit their own profile.
    assert db.rpc("update_profile", {"full_name": "Other"}, caller=other.caller)["full_name"] == "Other"


def stored_object(stack: LocalStack, user: User) -> dict[str, Any] | None:
    with stack.superuser_connection() as conn:
        row: dict[str, Any] | None = conn.execute(
            "select owner_id, metadata from storage.objects where bucket_id = 'avatars' and name = %s",
            (f"{user.id}/avatar",),
        ).fetchone()
    return row


def test_replacing_an_avatar_is_an_upsert(
    stack: LocalStack, edge: EdgeServer, make_user: Callable[..., User]
) -> None:
    """Signing again once the object exists passes the insert check (unique violation: an upsert), and
    the second upload replaces the row's metadata and the type downloads carry."""
    user = make_user("replace")
    with httpx.Client(base_url=edge.url, timeout=30) as client:
        for kind, image in IMAGES.items():
            signed = client.post(
                "/profile/avatar", json={"fileSize": len(image), "fileType": kind}, headers=auth(user)
            )
            assert signed.status_code == 200, signed.text
            uploaded = client.put(signed.json()["upload_url"], content=image, headers={"Content-Type": kind})
            assert uploaded.status_code == 200, uploaded.text
        fetched = client.get(client.get("/profile/avatar", headers=auth(user)).json()["url"])
    assert (fetched.status_code, fetched.headers["content-type"]) == (200, "image/webp")
    row = stored_object(stack, user)
    assert row is not None
    assert (row["owner_id"], row["metadata"]["mimetype"]) == (user.id, "image/webp")


def test_local_storage_asks_rls_as_the_user(
    stack: LocalStack, db: PsycopgDatabase, make_user: Callable[..., User], tmp_path: Path
) -> None:
    """LocalStorage over the database port (as the app builds it): the storage.objects policies decide
    who may sign what, and the trial insert behind an allowed upload leaves no row."""
    owner, other = make_user("rls-owner"), make_user("rls-other")
    storage = LocalStorage(tmp_path, "http://127.0.0.1:1", "local-test-secret-local-test-secret", db.port)
    signed = db.run(storage.sign_upload(owner.caller, f"{owner.id}/avatar", len(PNG), "image/png"))
    assert signed.token is not None
    assert storage.verify(signed.token, f"{owner.id}/avatar", "upload")["owner"] == owner.id
    assert stored_object(stack, owner) is None  # the trial insert was rolled back
    with pytest.raises(HttpError) as refused:
        db.run(storage.sign_upload(other.caller, f"{owner.id}/avatar", len(PNG), "image/png"))
    assert (refused.value.status, refused.value.code) == (403, "avatar_not_allowed")
    with pytest.raises(HttpError) as missing:
        db.run(storage.sign_download(owner.caller, f"{owner.id}/avatar"))
    assert (missing.value.status, missing.value.code) == (404, "avatar_not_found")

    db.run(storage.store(f"{owner.id}/avatar", owner.id, PNG, "image/png"))
    assert storage.file(f"{owner.id}/avatar").read_bytes() == PNG
    assert db.run(storage.content_type(f"{owner.id}/avatar")) == "image/png"
    assert db.run(storage.sign_download(owner.caller, f"{owner.id}/avatar")).url.startswith(
        "http://127.0.0.1:1/"
    )
    with pytest.raises(HttpError) as hidden:  # it exists, but the other user's policies do not see it
        db.run(storage.sign_download(other.caller, f"{owner.id}/avatar"))
    assert (hidden.value.status, hidden.value.code) == (404, "avatar_not_found")
    assert db.run(storage.content_type(f"{other.id}/avatar")) == "application/octet-stream"


def test_the_storage_api_schema_is_not_exposed(edge: EdgeServer, make_user: Callable[..., User]) -> None:
    """The Storage API's calls live in `storage_api`, which the gateway never serves: no client can ask
    can_insert_object or write an object row through /rest/v1."""
    user = make_user("sapi")
    headers = {"apikey": edge.settings.anon_key, "Content-Profile": "storage_api"}
    for fn, token, body in (
        ("can_insert_object", user.token, {"bucket_id": "avatars", "name": f"{user.id}/avatar"}),
        (
            "upsert_object",
            edge.settings.service_role_key,
            {"bucket_id": "avatars", "name": f"{user.id}/avatar", "owner_id": user.id, "metadata": {}},
        ),
    ):
        response = httpx.post(
            f"{edge.url}/rest/v1/rpc/{fn}", json=body, headers={**headers, "Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 406, response.text
        assert response.json()["code"] == "PGRST106"


@pytest.mark.parametrize(
    ("request_body", "code"),
    [
        ({"fileSize": 2 * 1024 * 1024 + 1, "fileType": "image/png"}, "file_too_large"),
        ({"fileSize": 100, "fileType": "image/svg+xml"}, "unsupported_file_type"),
        ({"fileSize": 0, "fileType": "image/png"}, "invalid_file_size"),
        ({"fileType": "image/png"}, "invalid_file_size"),
    ],
)
def test_upload_requests_outside_the_limits_are_refused(
    edge: EdgeServer, make_user: Callable[..., User], request_body: dict[str, Any], code: str
) -> None:
    response = httpx.post(f"{edge.url}/profile/avatar", json=request_body, headers=auth(make_user("limits")))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_the_signed_upload_enforces_size_and_type(edge: EdgeServer, make_user: Callable[..., User]) -> None:
    user = make_user("liar")
    signed = httpx.post(
        f"{edge.url}/profile/avatar", json={"fileSize": 10, "fileType": "image/png"}, headers=auth(user)
    ).json()
    too_big = httpx.put(
        signed["upload_url"], content=b"x" * (2 * 1024 * 1024 + 1), headers={"Content-Type": "image/png"}
    )
    assert too_big.status_code == 413
    wrong_type = httpx.put(signed["upload_url"], content=b"<svg/>", headers={"Content-Type": "image/svg+xml"})
    assert wrong_type.status_code == 415


def test_anonymous_callers_get_401(edge: EdgeServer) -> None:
    assert (
        httpx.post(f"{edge.url}/profile/avatar", json={"fileSize": 1, "fileType": "image/png"}).status_code
        == 401
    )
    assert httpx.get(f"{edge.url}/profile/avatar").status_code == 401


def test_health_lists_features_without_secrets(edge: EdgeServer) -> None:
    body = httpx.get(f"{edge.url}/health").json()
    assert body["features"]["storage"] == "local"
    assert body["features"]["auth"] == {"hs256": True, "jwks": False}
    assert edge.settings.jwt_secret not in str(body)
    assert edge.settings.service_role_key not in str(body)


def test_cors_preflight_from_an_allowed_origin_only(stack: LocalStack) -> None:
    with serve_edge(stack, ALLOWED_ORIGINS="https://app.example.test") as server:
        headers = {
            "Origin": "https://app.example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        allowed = httpx.options(f"{server.url}/payments/checkout", headers=headers)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.test"
        denied = httpx.options(
            f"{server.url}/payments/checkout", headers={**headers, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in denied.headers
        exposed = httpx.get(f"{server.url}/health", headers={"Origin": "https://app.example.test"})
        assert "X-RateLimit-Remaining" in exposed.headers["access-control-expose-headers"]


def _signed_upload(edge: EdgeServer, user: User, size: int, kind: str = "image/png") -> str:
    answer = httpx.post(
        f"{edge.url}/profile/avatar", json={"fileSize": size, "fileType": kind}, headers=auth(user)
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["upload_url"])


def test_an_upload_must_be_the_size_it_was_signed_for(
    edge: EdgeServer, make_user: Callable[..., User]
) -> None:
    """A URL signed for N bytes used to take anything up to the bucket's 2 MB."""
    user = make_user("avatar-size")
    url = _signed_upload(edge, user, len(PNG))
    bigger = httpx.put(url, content=PNG + b"\x00" * 1000, headers={"Content-Type": "image/png"})
    assert (bigger.status_code, bigger.json()["error"]["code"]) == (400, "upload_size_mismatch")
    other_type = httpx.put(url, content=WEBP[: len(PNG)], headers={"Content-Type": "image/webp"})
    assert (other_type.status_code, other_type.json()["error"]["code"]) == (415, "invalid_mime_type")
    assert httpx.put(url, content=PNG, headers={"Content-Type": "image/png"}).status_code == 200


def test_an_upload_must_be_the_image_it_claims_to_be(
    stack: LocalStack, edge: EdgeServer, make_user: Callable[..., User]
) -> None:
    """HTML labelled image/png used to be stored and served as image/png."""
    user = make_user("avatar-html")
    html = b"<html><script>alert(1)</script></html>"
    url = _signed_upload(edge, user, len(html))
    refused = httpx.put(url, content=html, headers={"Content-Type": "image/png"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (415, "avatar_content_mismatch")
    assert stored_object(stack, user) is None


def test_confirming_an_avatar_checks_its_bytes_and_records_it(
    stack: LocalStack, edge: EdgeServer, db: PsycopgDatabase, make_user: Callable[..., User], tmp_path: Path
) -> None:
    """POST /profile/avatar/confirm reads the stored object's first bytes: a real image is recorded on the
    profile; a file that is not the image its type says (here written behind the upload's back, as a
    client uploading straight to Supabase Storage could) is deleted and refused."""
    good, bad = make_user("confirm-good"), make_user("confirm-bad")
    with httpx.Client(base_url=edge.url, timeout=30) as client:
        uploaded = client.put(
            _signed_upload(edge, good, len(PNG)), content=PNG, headers={"Content-Type": "image/png"}
        )
        assert uploaded.status_code == 200
        confirmed = client.post("/profile/avatar/confirm", headers=auth(good))
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["avatar_path"] == f"{good.id}/avatar"

        # The app's own local storage (the same files and rows the edge app serves).
        root = LOCAL_DIR / "storage"
        storage = LocalStorage(root, edge.settings.supabase_url, edge.settings.jwt_secret, db.port)
        db.run(storage.store(f"{bad.id}/avatar", bad.id, b"<html>not an image</html>", "image/png"))
        refused = client.post("/profile/avatar/confirm", headers=auth(bad))
        assert (refused.status_code, refused.json()["error"]["code"]) == (415, "avatar_content_mismatch")
        assert stored_object(stack, bad) is None  # deleted
        missing = client.post("/profile/avatar/confirm", headers=auth(bad))
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "avatar_not_found")
    with stack.superuser_connection() as conn:
        rows = conn.execute(
            "select id::text as id, avatar_path from public.profiles where id = any(%s::uuid[])",
            ([good.id, bad.id],),
        ).fetchall()
    assert {row["id"]: row["avatar_path"] for row in rows} == {good.id: f"{good.id}/avatar", bad.id: None}
