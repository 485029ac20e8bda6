"""Avatars: POST /profile/avatar gives a signed upload URL for `<uid>/avatar`, GET /profile/avatar a
signed, short-lived download URL. On the local stack the app also serves those signed URLs itself
(`/storage/v1/object/...`), standing in for Supabase Storage, and holds an upload to the size and type it
was signed for and to its magic bytes. After uploading, the client calls POST /profile/avatar/confirm: it
reads the stored object's first bytes (a ranged read), deletes a file that is not the image it claims to
be, and records the path on the profile (update_profile).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from thinbase.errors import HttpError
from thinbase.functions._shared.context import call_rpc, require_user
from thinbase.functions._shared.http import read_body, read_json_object
from thinbase.functions._shared.state import app_state
from thinbase.functions.avatar import content
from thinbase.functions.avatar.storage import (
    ALLOWED_TYPES,
    BUCKET,
    MAX_BYTES,
    AvatarStorage,
    LocalStorage,
    avatar_path,
)


def _storage(request: Request) -> AvatarStorage:
    storage = app_state(request).avatar_storage
    if storage is None:
        raise HttpError(503, "storage_not_configured", "Set SUPABASE_URL and SUPABASE_ANON_KEY.")
    return storage


async def request_upload(request: Request) -> JSONResponse:
    user = await require_user(request)
    body = await read_json_object(request, limit=4096)
    size, kind = body.get("fileSize"), body.get("fileType")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise HttpError(400, "invalid_file_size", "`fileSize` must be a positive number of bytes.")
    if size > MAX_BYTES:
        raise HttpError(400, "file_too_large", f"An avatar may be at most {MAX_BYTES} bytes (2 MB).")
    if kind not in ALLOWED_TYPES:
        raise HttpError(
            400, "unsupported_file_type", f"`fileType` must be one of {', '.join(ALLOWED_TYPES)}."
        )
    path = avatar_path(user)
    signed = await _storage(request).sign_upload(user, path, size, kind)
    return JSONResponse(
        {
            "bucket": BUCKET,
            "path": path,
            "upload_url": signed.url,
            "token": signed.token,
            "expires_in": signed.expires_in,
        }
    )


async def confirm(request: Request) -> JSONResponse:
    """After the upload: check the stored bytes are the image they claim to be (on a real project the
    upload went straight to Supabase Storage, which checks only the bucket's size and type list), delete
    them if not, and record the path on the profile (update_profile, as the user)."""
    user = await require_user(request)
    storage = _storage(request)
    path = avatar_path(user)
    head = await storage.head(user, path)
    if head is None:
        raise HttpError(404, "avatar_not_found", "Upload the avatar first (POST /profile/avatar).")
    if not content.matches(head.content_type, head.first_bytes):
        await storage.delete(user, path)
        raise HttpError(
            415, "avatar_content_mismatch", f"The file is not a {head.content_type} image; it was deleted."
        )
    profile: dict[str, Any] = await call_rpc(
        request, "update_profile", {"full_name": None, "avatar_path": path}, caller=user
    )
    return JSONResponse({"bucket": BUCKET, "path": path, "avatar_path": profile["avatar_path"]})


async def download_url(request: Request) -> JSONResponse:
    user = await require_user(request)
    signed = await _storage(request).sign_download(user, avatar_path(user))
    return JSONResponse(
        {"bucket": BUCKET, "path": avatar_path(user), "url": signed.url, "expires_in": signed.expires_in}
    )


def _local(request: Request) -> LocalStorage:
    storage = app_state(request).avatar_storage
    assert isinstance(storage, LocalStorage)
    return storage


async def local_upload(request: Request) -> JSONResponse:
    """PUT a signed upload URL (local stack only): the bucket's limits, then file + storage.objects row."""
    storage = _local(request)
    path = request.path_params["path"]
    claims = storage.verify(request.query_params.get("token", ""), path, "upload")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ALLOWED_TYPES:
        raise HttpError(415, "invalid_mime_type", f"mime type {content_type or 'unknown'} is not supported")
    if content_type != claims.get("type"):
        raise HttpError(415, "invalid_mime_type", f"The upload URL was signed for {claims.get('type')}.")
    data = await read_body(request, limit=MAX_BYTES)
    if not data:
        raise HttpError(400, "empty_upload", "The upload has no content.")
    if len(data) != claims.get("size"):
        raise HttpError(
            400,
            "upload_size_mismatch",
            f"The upload URL was signed for {claims.get('size')} bytes, not {len(data)}.",
        )
    if not content.matches(content_type, data[: content.HEAD_BYTES]):
        raise HttpError(415, "avatar_content_mismatch", f"The file is not a {content_type} image.")
    await storage.store(path, str(claims["owner"]), data, content_type)
    return JSONResponse({"Key": f"{BUCKET}/{path}"})


async def local_download(request: Request) -> Response:
    storage = _local(request)
    path = request.path_params["path"]
    storage.verify(request.query_params.get("token", ""), path, "download")
    target = storage.file(path)
    if not target.is_file():
        raise HttpError(404, "avatar_not_found", "No such object.")
    content_type = await storage.content_type(path)
    return Response(
        target.read_bytes(), media_type=content_type, headers={"Cache-Control": "private, max-age=60"}
    )


routes: list[BaseRoute] = [
    Route("/profile/avatar", request_upload, methods=["POST"]),
    Route("/profile/avatar", download_url, methods=["GET"]),
    Route("/profile/avatar/confirm", confirm, methods=["POST"]),
]
local_routes: list[BaseRoute] = [
    Route(f"/storage/v1/object/upload/sign/{BUCKET}/{{path:path}}", local_upload, methods=["PUT", "POST"]),
    Route(f"/storage/v1/object/sign/{BUCKET}/{{path:path}}", local_download, methods=["GET"]),
]
