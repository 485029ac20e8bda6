"""Where avatars live: Supabase Storage on a real project, the local filesystem on the local stack.

Both adapters answer the same two questions — a signed upload URL for `<uid>/avatar`, a signed download
URL for it — and both let the database's storage.objects policies decide, acting as the user:
- SupabaseStorage calls the Storage API with the user's own JWT (it checks RLS when signing);
- LocalStorage reproduces what the Storage API does on the local stack: it checks the user may insert the
  object by a rolled-back INSERT as that user (RLS), signs a short-lived token, serves the upload itself
  (enforcing the bucket's size and type limits) and writes the storage.objects row as the Storage API
  would (owner, owner_id, metadata with size and mimetype). Its database work goes through the database
  port like every other call, to the Storage API server's statements in schema `storage_api`, which only
  the local stack has (supabase/platform/45_storage_api.sql): as the user where the Storage API acts with
  the user's JWT (so RLS decides), as service_role where it acts in its privileged mode.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt

from thinbase import upstream
from thinbase.db import Caller, Database
from thinbase.errors import HttpError, StorageError
from thinbase.functions.avatar.content import HEAD_BYTES

BUCKET = "avatars"
MAX_BYTES = 2 * 1024 * 1024
ALLOWED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
UPLOAD_SECONDS = 120
DOWNLOAD_SECONDS = 60
# The local platform stand-in's schema for the Storage API server's database calls (never exposed).
STORAGE_API_SCHEMA = "storage_api"


@dataclass(frozen=True)
class SignedUrl:
    url: str
    token: str | None
    expires_in: int


@dataclass(frozen=True)
class ObjectHead:
    """An uploaded object's declared type and its first bytes (HEAD_BYTES)."""

    content_type: str
    first_bytes: bytes


class AvatarStorage(Protocol):
    """Async: the Storage API's answers (or the local stand-in's database calls) hold no thread."""

    async def sign_upload(self, caller: Caller, path: str, size: int, content_type: str) -> SignedUrl:
        """An upload URL for `path`; where the storage can, bound to `size` bytes of `content_type`."""
        ...

    async def sign_download(self, caller: Caller, path: str) -> SignedUrl: ...

    async def head(self, caller: Caller, path: str) -> ObjectHead | None:
        """The object's type and first bytes as the user may read them; None when there is none."""
        ...

    async def delete(self, caller: Caller, path: str) -> None: ...


def avatar_path(caller: Caller) -> str:
    return f"{caller.claims['sub']}/avatar"


class SupabaseStorage:
    """Supabase Storage's HTTP API (<SUPABASE_URL>/storage/v1), called with the user's JWT."""

    def __init__(self, supabase_url: str, anon_key: str, http: httpx.AsyncClient) -> None:
        self._base = f"{supabase_url.rstrip('/')}/storage/v1"
        self._anon_key = anon_key
        self._http = http

    async def _post(
        self, caller: Caller, path: str, *, headers: dict[str, str] | None = None, body: Any = None
    ) -> dict[str, Any]:
        sent = {"Authorization": f"Bearer {caller.token}", "apikey": self._anon_key, **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/json"
        response = await upstream.asend(
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

    async def sign_upload(self, caller: Caller, path: str, size: int, content_type: str) -> SignedUrl:
        # Supabase Storage's signed upload URLs bind neither a size nor a type (the bucket's limits apply);
        # the bytes are checked after the upload instead (POST /profile/avatar/confirm, `head`).
        body = await self._post(caller, f"/object/upload/sign/{BUCKET}/{path}", headers={"x-upsert": "true"})
        return SignedUrl(f"{self._base}{body['url']}", body.get("token"), 7200)

    def _user_headers(self, caller: Caller) -> dict[str, str]:
        return {"Authorization": f"Bearer {caller.token}", "apikey": self._anon_key}

    async def head(self, caller: Caller, path: str) -> ObjectHead | None:
        # A ranged read of the first bytes, as the user (RLS decides), never the whole object.
        response = await upstream.asend(
            self._http,
            "GET",
            f"{self._base}/object/authenticated/{BUCKET}/{path}",
            service="storage",
            errors=StorageError,
            timeout=10.0,
            headers={**self._user_headers(caller), "Range": f"bytes=0-{HEAD_BYTES - 1}"},
        )
        if response.status_code in (400, 404):  # Storage answers a missing or hidden object either way
            return None
        upstream.check(response, service="storage", errors=StorageError, ok=(200, 206))
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        return ObjectHead(kind, response.content[:HEAD_BYTES])

    async def delete(self, caller: Caller, path: str) -> None:
        response = await upstream.asend(
            self._http,
            "DELETE",
            f"{self._base}/object/{BUCKET}/{path}",
            service="storage",
            errors=StorageError,
            timeout=10.0,
            headers=self._user_headers(caller),
        )
        if response.status_code not in (400, 404):
            upstream.check(response, service="storage", errors=StorageError)

    async def sign_download(self, caller: Caller, path: str) -> SignedUrl:
        body = await self._post(caller, f"/object/sign/{BUCKET}/{path}", body={"expiresIn": DOWNLOAD_SECONDS})
        return SignedUrl(f"{self._base}{body['signedURL']}", None, DOWNLOAD_SECONDS)


class LocalStorage:
    """The local stack's stand-in for the Storage API: files under `root`, rows in storage.objects."""

    def __init__(self, root: Path, base_url: str, secret: str, database: Database) -> None:
        self.root = root
        self.base = f"{base_url.rstrip('/')}/storage/v1"
        self._secret = secret
        self._database = database

    async def _storage_api(self, fn: str, caller: Caller, **args: Any) -> Any:
        return await self._database.rpc(fn, args, caller=caller, schema=STORAGE_API_SCHEMA)

    @staticmethod
    def _user(caller: Caller) -> Caller:
        # The Storage API acts with the user's own JWT, whatever else the caller carries: always
        # `authenticated` with the user's claims, so the storage.objects policies decide.
        return Caller.user(caller.claims, token=caller.token)

    def _token(self, caller: Caller, path: str, scope: str, seconds: int, **bound: Any) -> str:
        now = int(time.time())
        return jwt.encode(
            {
                "url": f"{BUCKET}/{path}",
                "scope": scope,
                "owner": caller.claims["sub"],
                "upsert": True,
                "iat": now,
                "exp": now + seconds,
                **bound,
            },
            self._secret,
            algorithm="HS256",
        )

    async def sign_upload(self, caller: Caller, path: str, size: int, content_type: str) -> SignedUrl:
        # As the Storage API does: a trial INSERT as the user, rolled back, so RLS decides. An existing
        # object counts as allowed: the upload is then an upsert, which the update policy decides. The
        # token binds the declared size and type: the upload must be exactly that (local_upload).
        if not await self._storage_api("can_insert_object", self._user(caller), bucket_id=BUCKET, name=path):
            raise HttpError(403, "avatar_not_allowed", "You may only upload your own avatar.")
        token = self._token(caller, path, "upload", UPLOAD_SECONDS, size=size, type=content_type)
        return SignedUrl(
            f"{self.base}/object/upload/sign/{BUCKET}/{path}?token={token}", token, UPLOAD_SECONDS
        )

    async def sign_download(self, caller: Caller, path: str) -> SignedUrl:
        if not await self._storage_api("object_visible", self._user(caller), bucket_id=BUCKET, name=path):
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

    async def store(self, path: str, owner: str, data: bytes, content_type: str) -> None:
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
        # The signed URL's token was verified: the Storage API writes the row in its privileged mode.
        await self._storage_api(
            "upsert_object", Caller.service(), bucket_id=BUCKET, name=path, owner_id=owner, metadata=metadata
        )

    async def head(self, caller: Caller, path: str) -> ObjectHead | None:
        if not await self._storage_api("object_visible", self._user(caller), bucket_id=BUCKET, name=path):
            return None
        target = self.file(path)
        if not target.is_file():
            return None
        with target.open("rb") as stream:
            first = stream.read(HEAD_BYTES)
        return ObjectHead(await self.content_type(path), first)

    async def delete(self, caller: Caller, path: str) -> None:
        if await self._storage_api("delete_object", self._user(caller), bucket_id=BUCKET, name=path):
            self.file(path).unlink(missing_ok=True)

    async def content_type(self, path: str) -> str:
        mimetype = await self._storage_api("object_mimetype", Caller.service(), bucket_id=BUCKET, name=path)
        return str(mimetype) if mimetype else "application/octet-stream"
