"""Where avatars live: Supabase Storage on a real project, the local filesystem on the local stack.

Both adapters answer the same two questions — a signed upload URL for `<uid>/avatar`, a signed download
URL for it — and both let the database's storage.objects policies decide, acting as the user:
- SupabaseStorage calls the Storage API with the user's own JWT (it checks RLS when signing);
- LocalStorage reproduces what the Storage API does on the local stack: it checks the user may insert the
  object by a rolled-back INSERT as that user (RLS), signs a short-lived token, serves the upload itself
  (enforcing the bucket's size and type limits) and writes the storage.objects row as the Storage API
  would (owner, owner_id, metadata with size and mimetype).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
import psycopg

from thinbase import upstream
from thinbase.db import Caller
from thinbase.errors import HttpError, StorageError

BUCKET = "avatars"
MAX_BYTES = 2 * 1024 * 1024
ALLOWED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
UPLOAD_SECONDS = 120
DOWNLOAD_SECONDS = 60


@dataclass(frozen=True)
class SignedUrl:
    url: str
    token: str | None
    expires_in: int


class AvatarStorage(Protocol):
    def sign_upload(self, caller: Caller, path: str) -> SignedUrl: ...
    def sign_download(self, caller: Caller, path: str) -> SignedUrl: ...


def avatar_path(caller: Caller) -> str:
    return f"{caller.claims['sub']}/avatar"


class SupabaseStorage:
    """Supabase Storage's HTTP API (<SUPABASE_URL>/storage/v1), called with the user's JWT."""

    def __init__(self, supabase_url: str, anon_key: str, http: httpx.Client) -> None:
        self._base = f"{supabase_url.rstrip('/')}/storage/v1"
        self._anon_key = anon_key
        self._http = http

    def _post(
        self, caller: Caller, path: str, *, headers: dict[str, str] | None = None, body: Any = None
    ) -> dict[str, Any]:
        sent = {"Authorization": f"Bearer {caller.token}", "apikey": self._anon_key, **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/json"
        response = upstream.send(
            self._http,
            "POST",
            f"{self._base}{path}",
            service="storage",
            errors=StorageError,
            timeout=10.0,
            headers=sent,
            content=json.dumps(body).encode() if body is not None else None,
        )
        if response.status_code in (400, 403, 404):  # the Storage API's answer when RLS refuses the path
            raise HttpError(
                404 if response.status_code == 404 else 403,
                "avatar_not_allowed",
                "Storage refused this avatar.",
            )
        return upstream.json_object(response, service="storage", errors=StorageError)

    def sign_upload(self, caller: Caller, path: str) -> SignedUrl:
        body = self._post(caller, f"/object/upload/sign/{BUCKET}/{path}", headers={"x-upsert": "true"})
        return SignedUrl(f"{self._base}{body['url']}", body.get("token"), 7200)

    def sign_download(self, caller: Caller, path: str) -> SignedUrl:
        body = self._post(caller, f"/object/sign/{BUCKET}/{path}", body={"expiresIn": DOWNLOAD_SECONDS})
        return SignedUrl(f"{self._base}{body['signedURL']}", None, DOWNLOAD_SECONDS)


class LocalStorage:
    """The local stack's stand-in for the Storage API: files under `root`, rows in storage.objects."""

    def __init__(self, root: Path, base_url: str, secret: str, database_url: str) -> None:
        self.root = root
        self.base = f"{base_url.rstrip('/')}/storage/v1"
        self._secret = secret
        self._database_url = database_url

    def _as_user(self, caller: Caller) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self._database_url)
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps(dict(caller.claims)),),
        )
        return conn

    def _token(self, caller: Caller, path: str, scope: str, seconds: int) -> str:
        now = int(time.time())
        return jwt.encode(
            {
                "url": f"{BUCKET}/{path}",
                "scope": scope,
                "owner": caller.claims["sub"],
                "upsert": True,
                "iat": now,
                "exp": now + seconds,
            },
            self._secret,
            algorithm="HS256",
        )

    def sign_upload(self, caller: Caller, path: str) -> SignedUrl:
        # As the Storage API does: a test INSERT as the user, rolled back, so RLS decides.
        with self._as_user(caller) as conn:
            try:
                conn.execute(
                    "insert into storage.objects (bucket_id, name, owner, owner_id) values (%s, %s, %s, %s)",
                    (BUCKET, path, caller.claims["sub"], caller.claims["sub"]),
                )
            except psycopg.errors.InsufficientPrivilege as exc:
                raise HttpError(403, "avatar_not_allowed", "You may only upload your own avatar.") from exc
            except psycopg.errors.UniqueViolation:
                pass  # it exists: an upsert, which the update policy allows for the owner
            finally:
                conn.rollback()
        token = self._token(caller, path, "upload", UPLOAD_SECONDS)
        return SignedUrl(
            f"{self.base}/object/upload/sign/{BUCKET}/{path}?token={token}", token, UPLOAD_SECONDS
        )

    def sign_download(self, caller: Caller, path: str) -> SignedUrl:
        with self._as_user(caller) as conn:
            visible = conn.execute(
                "select 1 from storage.objects where bucket_id = %s and name = %s", (BUCKET, path)
            ).fetchone()
            conn.rollback()
        if not visible:
            raise HttpError(404, "avatar_not_found", "No avatar has been uploaded yet.")
        token = self._token(caller, path, "download", DOWNLOAD_SECONDS)
        return SignedUrl(f"{self.base}/object/sign/{BUCKET}/{path}?token={token}", None, DOWNLOAD_SECONDS)

    def verify(self, token: str, path: str, scope: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(token, self._secret, algorithms=["HS256"])
        except jwt.InvalidTokenError as exc:
            raise HttpError(400, "invalid_signature", "The signed URL is invalid or expired.") from exc
        if claims.get("scope") != scope or claims.get("url") != f"{BUCKET}/{path}":
            raise HttpError(400, "invalid_signature", "The signed URL is for another object.")
        return claims

    def file(self, path: str) -> Path:
        return self.root / BUCKET / path

    def store(self, path: str, owner: str, data: bytes, content_type: str) -> None:
        """Write the file and its storage.objects row, as the Storage API's (privileged) upload does."""
        target = self.file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        metadata = {
            "size": len(data),
            "mimetype": content_type,
            "contentLength": len(data),
            "cacheControl": "max-age=3600",
        }
        with psycopg.connect(self._database_url) as conn:
            conn.execute("set local role service_role")
            conn.execute(
                """
                insert into storage.objects (bucket_id, name, owner, owner_id, metadata)
                values (%s, %s, %s, %s, %s)
                on conflict (bucket_id, name) do update
                set metadata = excluded.metadata, owner = excluded.owner, owner_id = excluded.owner_id,
                    updated_at = now()
                """,
                (BUCKET, path, owner, owner, json.dumps(metadata)),
            )

    def content_type(self, path: str) -> str:
        with psycopg.connect(self._database_url) as conn:
            conn.execute("set local role service_role")
            row = conn.execute(
                "select metadata ->> 'mimetype' from storage.objects where bucket_id = %s and name = %s",
                (BUCKET, path),
            ).fetchone()
        return str(row[0]) if row and row[0] else "application/octet-stream"
