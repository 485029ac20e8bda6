"""JWTs as Supabase issues them: the legacy API keys and user access tokens (HS256, shared secret).

Only what the local stack and the local RPC gateway need lives here: minting keys and tokens with the local
secret, and verifying an HS256 token the way PostgREST does. Verifying Supabase Auth tokens in production
(JWKS, ES256/RS256, audience) is the edge handler's job and builds on this.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt

from thinbase.errors import TokenError

# The platform's "no expiry in practice" for API keys: the Supabase CLI's local keys expire in 2032.
API_KEY_EXPIRY = 1983812996
ACCESS_TOKEN_SECONDS = 3600


def is_user_id(value: object) -> bool:
    """Whether `value` is a user id as Supabase Auth writes `sub`: a UUID in canonical form (hyphenated, lower
    case). uuid.UUID() also reads "urn:uuid:…", braces, no hyphens and upper case; PostgreSQL's uuid input
    refuses the first (auth.uid() fails), and text comparisons (`auth.uid()::text`, storage paths
    `<uid>/avatar`) miss the others."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def sign(claims: Mapping[str, Any], secret: str) -> str:
    return jwt.encode(dict(claims), secret, algorithm="HS256")


def api_key(role: str, secret: str, *, ref: str = "local") -> str:
    """A legacy Supabase API key (anon or service_role): a JWT carrying only the role.

    No `iat`: like the Supabase CLI's demo keys, it depends on the role and the secret alone, so every
    `thinbase local env` and every `serve` prints the same keys for the life of the stack (as a project's
    keys stay the same) and a frontend's `.env.local` keeps working across restarts."""
    return sign({"iss": "supabase-demo", "ref": ref, "role": role, "exp": API_KEY_EXPIRY}, secret)


def access_token(
    user: Mapping[str, Any],
    secret: str,
    *,
    expires_in: int = ACCESS_TOKEN_SECONDS,
    issuer: str = "http://127.0.0.1/auth/v1",
    now: int | None = None,
    session_id: str | None = None,
    authenticated_at: int | None = None,
) -> str:
    """A user access token with the claim set Supabase Auth issues (see reference §5.1).

    `user` is a row of auth.users with at least id, email, phone, raw_app_meta_data, raw_user_meta_data,
    is_anonymous (or the same as Supabase Auth's user JSON: app_metadata, user_metadata). `session_id` is
    the auth.sessions row the token belongs to (a random one when there is none: such a token works for
    the Data API, which never looks sessions up, but not for /auth/v1/user); `authenticated_at` is when
    the session signed in, the `amr` entry's timestamp (default: now).
    """
    issued = int(time.time()) if now is None else now
    signed_in = issued if authenticated_at is None else authenticated_at
    claims = {
        "iss": issuer,
        "sub": str(user["id"]),
        "aud": "authenticated",
        "exp": issued + expires_in,
        "iat": issued,
        "email": user.get("email") or "",
        "phone": user.get("phone") or "",
        "app_metadata": user.get("raw_app_meta_data") or user.get("app_metadata") or {},
        "user_metadata": user.get("raw_user_meta_data") or user.get("user_metadata") or {},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": signed_in}],
        "session_id": session_id or str(uuid.uuid4()),
        "is_anonymous": bool(user.get("is_anonymous", False)),
    }
    return sign(claims, secret)


def verify_hs256(token: str, secret: str, *, audience: str | None = None) -> dict[str, Any]:
    """Verify signature and expiry (and audience, when given). Only HS256 is accepted."""
    if not secret:
        raise TokenError("no JWT secret configured")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=audience,
            options={"require": ["exp"], "verify_aud": audience is not None},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("JWT expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid JWT: {exc}") from exc
    return claims
