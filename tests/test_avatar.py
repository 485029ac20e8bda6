"""Avatar upload and download end to end on the local storage adapter: signed URLs, the bucket's limits,
storage.objects rows as the Storage API writes them, and storage RLS deciding who may touch what."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import EdgeServer, User, serve_edge
from thinbase.db.psycopg_adapter import PsycopgDatabase
from thinbase.errors import RpcError
from thinbase.local.stack import LocalStack

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


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
