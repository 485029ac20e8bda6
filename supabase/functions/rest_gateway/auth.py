"""Supabase Auth at /auth/v1, the subset supabase-js and supabase-py sign users in with; local stack only.

Supabase Auth (GoTrue) cannot run here, so the gateway answers for it, faithfully for this subset:
  POST /signup                         email + password (+ data); confirmed at once, as `supabase start`
                                       does with enable_confirmations = false; answers a session
  POST /token?grant_type=password      email + password; answers a session
  POST /token?grant_type=refresh_token rotation: the old token is revoked and a child issued; reusing a
                                       rotated token after the reuse interval revokes the whole session
  GET  /user, PUT /user                the signed-in user; PUT changes the password and/or user metadata
  POST /logout?scope=global|local|others
Everything else under /auth/v1 (OTP, magic links, OAuth, MFA, e-mail and phone changes, PKCE, …) answers
GoTrue's 404 `feature_disabled`, naming this subset and `supabase start`.

The database work is GoTrue's own, as functions in the stand-in's schema `auth_api`
(supabase/platform/35_auth_api.sql), called through the database port as the service role: sign-ups
land in auth.users as supabase_auth_admin (the onboarding trigger fires as on a project), passwords are
bcrypt (`$2a$`, cost 10, as GoTrue), sessions and refresh tokens live in auth.sessions and
auth.refresh_tokens. Here: the request and response shapes, the checks GoTrue makes before the database
(email format, password strength, scope), and the access tokens — Supabase Auth's claim set
(thinbase.tokens), signed with the stack's JWT secret, `session_id` naming the auth.sessions row.

Settings come from supabase/config.toml's [auth] table, which `supabase start` reads too: jwt_expiry,
enable_signup, minimum_password_length, refresh_token_reuse_interval (GoTrue's defaults when absent).

Errors have GoTrue's two shapes: clients that send `X-Supabase-Api-Version: 2024-01-01` (supabase-js and
supabase-py do) get `{"code": "<error code>", "message"}` and the header echoed; others get the original
`{"code": <status>, "error_code", "msg"}` with `x-sb-error-code`. The platform's gateway (Kong) requires
an `apikey` first: without a project key the answer is its 401 `{"message"}`.
"""

from __future__ import annotations

import functools
import json
import re
import time
import tomllib
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from thinbase import tokens
from thinbase.db import Caller
from thinbase.errors import DatabaseUnavailable, RpcError, TokenError
from thinbase.functions._shared.state import app_state
from thinbase.local.paths import SUPABASE_DIR
from thinbase.settings import Settings

SCHEMA = "auth_api"
API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION_2024 = "2024-01-01"
_API_VERSION = re.compile(r"^2[0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
# GoTrue checks addresses with checkmail: a local part, an @, a domain with at least one dot.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# GoTrue's first refresh-token algorithm: 12 characters of [a-z0-9]. Longer tokens are its second
# (signed) algorithm, which the stand-in never issues, so any such token is "not valid" here.
_REFRESH_TOKEN = re.compile(r"^[a-z0-9]{12}$")
MAX_PASSWORD_BYTES = 72  # bcrypt reads no further; GoTrue refuses longer passwords
SUBSET = (
    "The local stack serves sign-up with email and password, the password and refresh_token grants, "
    "GET/PUT /user and logout; run `supabase start` (Docker) for the rest of Supabase Auth."
)


@dataclass(frozen=True)
class AuthConfig:
    """supabase/config.toml [auth], with GoTrue's defaults (as `supabase start` applies them)."""

    jwt_expiry: int = tokens.ACCESS_TOKEN_SECONDS
    enable_signup: bool = True
    minimum_password_length: int = 6
    refresh_token_reuse_interval: int = 10

    @classmethod
    def from_toml(cls, text: str) -> AuthConfig:
        section = tomllib.loads(text).get("auth", {})
        defaults = cls()
        return cls(
            jwt_expiry=int(section.get("jwt_expiry", defaults.jwt_expiry)),
            enable_signup=bool(section.get("enable_signup", defaults.enable_signup)),
            minimum_password_length=int(
                section.get("minimum_password_length", defaults.minimum_password_length)
            ),
            refresh_token_reuse_interval=int(
                section.get("refresh_token_reuse_interval", defaults.refresh_token_reuse_interval)
            ),
        )


@functools.cache
def auth_config() -> AuthConfig:
    path = SUPABASE_DIR / "config.toml"
    return AuthConfig.from_toml(path.read_text()) if path.exists() else AuthConfig()


class AuthError(Exception):
    """An answer in GoTrue's error shape: HTTP status, GoTrue error code, message, extra body fields."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.extra = status, code, message, extra


class OAuthError(Exception):
    """GoTrue's OAuth-style error, always 400: {"error", "error_description"}."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description


class GatewayKeyError(Exception):
    """The platform's API gateway refused the request before Auth saw it (no or unknown apikey)."""


def _new_error_shape(request: Request) -> bool:
    version = request.headers.get(API_VERSION_HEADER.lower(), "")
    return bool(_API_VERSION.match(version)) and version >= API_VERSION_2024


def _error_response(request: Request, error: AuthError) -> JSONResponse:
    if _new_error_shape(request):
        body = {"code": error.code, "message": error.message, **error.extra}
        return JSONResponse(body, error.status, headers={API_VERSION_HEADER: API_VERSION_2024})
    body = {"code": error.status, "error_code": error.code, "msg": error.message, **error.extra}
    return JSONResponse(body, error.status, headers={"x-sb-error-code": error.code})


def _check_apikey(request: Request, settings: Settings) -> None:
    apikey = request.headers.get("apikey", "")
    if not apikey:
        raise GatewayKeyError("No API key found in request")
    if apikey not in (settings.anon_key, settings.service_role_key):
        raise GatewayKeyError("Invalid API key")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise AuthError(400, "bad_json", f"Could not parse request body as JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise AuthError(400, "bad_json", "Could not parse request body as JSON: not an object")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AuthError(400, "bad_json", f"Could not parse request body as JSON: {name} must be a string")
    return value


def _object(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise AuthError(400, "bad_json", f"Could not parse request body as JSON: {name} must be an object")
    return value


def _check_password_strength(password: str) -> None:
    """GoTrue's checkPasswordStrength, as configured by minimum_password_length (no character classes)."""
    size = len(password.encode())
    if size > MAX_PASSWORD_BYTES:
        raise AuthError(
            400, "validation_failed", f"Password cannot be longer than {MAX_PASSWORD_BYTES} characters"
        )
    minimum = auth_config().minimum_password_length
    if size < minimum:
        message = f"Password should be at least {minimum} characters."
        raise AuthError(422, "weak_password", message, weak_password={"reasons": ["length"]})


def _check_email(email: str) -> str:
    if not email:
        raise AuthError(400, "validation_failed", "An email address is required")
    if len(email) > 255:
        raise AuthError(400, "validation_failed", "An email address is too long")
    if not _EMAIL.match(email):
        raise AuthError(400, "validation_failed", "Unable to validate email address: invalid format")
    return email.lower()


def _client(request: Request) -> dict[str, str | None]:
    return {
        "user_agent": request.headers.get("user-agent"),
        "ip": request.client.host if request.client else None,
    }


async def _call(request: Request, fn: str, args: dict[str, Any]) -> Any:
    """One auth_api function through the port, as the service role (GoTrue's own connection)."""
    try:
        return await app_state(request).database.rpc(fn, args, caller=Caller.service(), schema=SCHEMA)
    except RpcError as exc:
        if exc.code.startswith("PT") and exc.status < 500:
            # Raised by auth_api as GoTrue would answer: the message is GoTrue's code, the detail its text.
            raise AuthError(exc.status, exc.message, exc.details or exc.message) from exc
        raise AuthError(500, "unexpected_failure", "Database error") from exc
    except DatabaseUnavailable as exc:
        raise AuthError(503, "unexpected_failure", "Database unavailable") from exc


def _session(request: Request, result: dict[str, Any]) -> dict[str, Any]:
    """GoTrue's AccessTokenResponse for a session auth_api started or refreshed."""
    settings = app_state(request).settings
    expiry = auth_config().jwt_expiry
    now = int(time.time())
    user = result["user"]
    access_token = tokens.access_token(
        user,
        settings.jwt_secret,
        expires_in=expiry,
        issuer=f"{settings.supabase_url.rstrip('/')}/auth/v1",
        now=now,
        session_id=str(result["session_id"]),
        authenticated_at=int(result["authenticated_at"]),
    )
    return {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": expiry,
        "expires_at": now + expiry,
        "refresh_token": result["refresh_token"],
        "user": user,
    }


def _bearer_claims(request: Request) -> dict[str, Any]:
    """GoTrue's requireAuthentication: a valid access token with a UUID `sub`."""
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")
    try:
        claims = tokens.verify_hs256(token.strip(), app_state(request).settings.jwt_secret)
    except TokenError as exc:
        reason = "token has invalid claims: token is expired" if "expired" in str(exc) else str(exc)
        raise AuthError(
            403, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {reason}"
        ) from exc
    if not claims.get("sub"):
        raise AuthError(403, "bad_jwt", "invalid claim: missing sub claim")
    if not tokens.is_user_id(claims["sub"]):
        raise AuthError(400, "bad_jwt", "invalid claim: sub claim must be a UUID")
    session_id = claims.get("session_id")
    if session_id is not None and not tokens.is_user_id(session_id):
        raise AuthError(403, "bad_jwt", "invalid claim: session_id claim must be a UUID")
    return claims


# -- endpoints -------------------------------------------------------------------------------------------


async def signup(request: Request, body: dict[str, Any]) -> Response:
    if not auth_config().enable_signup:
        raise AuthError(422, "signup_disabled", "Signups not allowed for this instance")
    email, phone, password = _text(body, "email"), _text(body, "phone"), _text(body, "password")
    data = _object(body, "data") or {}
    if not password:
        raise AuthError(400, "validation_failed", "Signup requires a valid password")
    _check_password_strength(password)
    if email and phone:
        raise AuthError(
            400, "validation_failed", "Only an email address or phone number should be provided on signup."
        )
    if phone:
        # `supabase start` ships with [auth.sms] enable_signup = false.
        raise AuthError(400, "phone_provider_disabled", "Phone signups are disabled")
    if not email:
        raise AuthError(400, "validation_failed", "Sign up only available with email provider")
    result = await _call(
        request,
        "sign_up",
        {"email": _check_email(email), "password": password, "data": data, **_client(request)},
    )
    return JSONResponse(_session(request, result))


async def token(request: Request, body: dict[str, Any]) -> Response:
    grant_type = request.query_params.get("grant_type", "")
    if grant_type == "password":
        email, phone = _text(body, "email"), _text(body, "phone")
        if email and phone:
            raise AuthError(
                400, "validation_failed", "Only an email address or phone number should be provided on login."
            )
        if phone:
            raise AuthError(422, "phone_provider_disabled", "Phone logins are disabled")
        if not email:
            raise AuthError(400, "validation_failed", "missing email or phone")
        args = {"email": email, "password": _text(body, "password"), **_client(request)}
        return JSONResponse(_session(request, await _call(request, "password_grant", args)))
    if grant_type == "refresh_token":
        refresh_token = _text(body, "refresh_token")
        if not refresh_token:
            raise OAuthError("invalid_request", "refresh_token required")
        if not _REFRESH_TOKEN.match(refresh_token):
            raise AuthError(400, "validation_failed", "Refresh token is not valid")
        result = await _call(
            request,
            "refresh_token_grant",
            {"refresh_token": refresh_token, "reuse_interval": auth_config().refresh_token_reuse_interval},
        )
        if "error" in result:  # reuse: committed (the session's tokens are revoked), then refused
            raise AuthError(400, str(result["error"]), str(result["message"]))
        return JSONResponse(_session(request, result))
    if grant_type in ("pkce", "id_token", "web3"):
        raise AuthError(404, "feature_disabled", f"grant_type={grant_type} is not available. {SUBSET}")
    raise AuthError(400, "invalid_credentials", "unsupported_grant_type")


async def get_user(request: Request, body: dict[str, Any]) -> Response:
    claims = _bearer_claims(request)
    user = await _call(
        request, "get_user", {"user_id": claims["sub"], "session_id": claims.get("session_id")}
    )
    return JSONResponse(user)


async def update_user(request: Request, body: dict[str, Any]) -> Response:
    claims = _bearer_claims(request)
    who = {"user_id": claims["sub"], "session_id": claims.get("session_id")}
    if body.get("app_metadata") is not None:
        raise AuthError(403, "not_admin", "Updating app_metadata requires admin privileges")
    email, phone = _text(body, "email"), _text(body, "phone")
    password = body.get("password")
    data = _object(body, "data")
    if email or phone:
        current = await _call(request, "get_user", who)
        if (email and email.lower() != current.get("email")) or (phone and phone != current.get("phone")):
            # A permanent user's new address needs GoTrue's confirmation mails or SMS; none exist here.
            raise AuthError(
                404, "feature_disabled", f"Changing the email or phone is not available. {SUBSET}"
            )
    if password is not None:
        if not isinstance(password, str):
            raise AuthError(
                400, "bad_json", "Could not parse request body as JSON: password must be a string"
            )
        _check_password_strength(password)
    user = await _call(request, "update_user", {**who, "password": password, "data": data})
    return JSONResponse(user)


async def logout(request: Request, body: dict[str, Any]) -> Response:
    scope = request.query_params.get("scope", "global") or "global"
    if scope not in ("global", "local", "others"):
        raise AuthError(400, "validation_failed", f'Unsupported logout scope "{scope}"')
    claims = _bearer_claims(request)
    await _call(
        request,
        "logout",
        {"user_id": claims["sub"], "session_id": claims.get("session_id"), "scope": scope},
    )
    return Response(status_code=204)


async def not_available(request: Request, body: dict[str, Any]) -> Response:
    path = request.url.path.removeprefix("/auth/v1")
    raise AuthError(404, "feature_disabled", f"{request.method} /auth/v1{path} is not available. {SUBSET}")


def _endpoint(handler: Any) -> Any:
    """The gateway's key check, the body, and GoTrue's error shapes around one handler."""

    async def endpoint(request: Request) -> Response:
        try:
            _check_apikey(request, app_state(request).settings)
            body = await _body(request) if request.method in ("POST", "PUT") else {}
            response: Response = await handler(request, body)
            return response
        except GatewayKeyError as exc:
            return JSONResponse({"message": str(exc)}, 401)
        except AuthError as error:
            return _error_response(request, error)
        except OAuthError as error:
            return JSONResponse({"error": error.error, "error_description": error.description}, 400)

    return endpoint


routes = [
    Route("/auth/v1/signup", _endpoint(signup), methods=["POST"]),
    Route("/auth/v1/token", _endpoint(token), methods=["POST"]),
    Route("/auth/v1/user", _endpoint(get_user), methods=["GET"]),
    Route("/auth/v1/user", _endpoint(update_user), methods=["PUT"]),
    Route("/auth/v1/logout", _endpoint(logout), methods=["POST"]),
    Route(
        "/auth/v1/{rest:path}",
        _endpoint(not_available),
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    ),
]
