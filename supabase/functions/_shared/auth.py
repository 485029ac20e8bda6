"""Who is calling: Supabase Auth access tokens and Supabase API keys.

Access tokens (Authorization: Bearer …) are verified with the legacy shared secret (HS256) or the
project's JWKS (ES256/RS256, keys cached and refetched when an unknown `kid` shows up). `exp` and
`aud` ("authenticated") are required; `alg=none`, HS256 tokens when only JWKS is configured, and every
other algorithm are refused. The key is chosen by the *configured* secret and the token's `kid`, never by
what the token claims alone, so an HS256 token signed with a public key cannot pass.

An `apikey` header, when present, must be one of the project's keys: a legacy anon/service_role JWT or a
new `sb_publishable_…`/`sb_secret_…` key.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt

from thinbase import upstream
from thinbase.errors import JwksError, TokenError
from thinbase.settings import Settings
from thinbase.tokens import is_user_id

ASYMMETRIC_ALGORITHMS = ("ES256", "RS256")
JWKS_LIFETIME_SECONDS = 600.0
JWKS_REFRESH_COOLDOWN_SECONDS = 30.0


class JwksCache:
    """The project's signing keys, fetched over HTTP and kept for ten minutes, as the platform does."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self._url = url
        self._http = http
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()  # one refresh at a time; others wait for its keys

    async def key(self, kid: str | None) -> jwt.PyJWK:
        async with self._lock:
            fresh = time.monotonic() - self._fetched_at < JWKS_LIFETIME_SECONDS
            if not fresh or (kid not in self._keys and self._may_refresh()):
                await self._refresh()
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            if kid is None or kid not in self._keys:
                raise TokenError("the token's signing key is not in the project's JWKS")
            return self._keys[kid]

    def _may_refresh(self) -> bool:
        return time.monotonic() - self._fetched_at >= JWKS_REFRESH_COOLDOWN_SECONDS

    async def _refresh(self) -> None:
        try:
            response = await upstream.asend(
                self._http, "GET", self._url, service="jwks", errors=JwksError, timeout=5.0
            )
            jwks = jwt.PyJWKSet.from_dict(upstream.json_object(response, service="jwks", errors=JwksError))
        except (JwksError, jwt.PyJWKSetError) as exc:
            if self._keys:
                return  # keep serving the keys we have; the next request tries again after the cooldown
            raise TokenError(f"could not load the project's JWKS: {type(exc).__name__}") from exc
        finally:
            self._fetched_at = time.monotonic()
        self._keys = {key.key_id: key for key in jwks.keys if key.key_id}
        if len(jwks.keys) == 1 and not self._keys:
            self._keys = {"": jwks.keys[0]}


class Authenticator:
    """Verifies user access tokens and API keys against the project's settings."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._secret = settings.jwt_secret
        self._jwks = JwksCache(settings.jwks_url, http) if settings.jwks_url else None
        self._api_keys = tuple(k for k in (settings.anon_key, settings.service_role_key) if k)
        self._service_key = settings.service_role_key

    @property
    def configured(self) -> bool:
        return bool(self._secret or self._jwks)

    async def verify_access_token(self, token: str) -> dict[str, Any]:
        """The verified claims of a signed-in user's access token, or TokenError. Async: fetching the JWKS
        (every JWKS_LIFETIME_SECONDS, or for an unknown key id) does not block the event loop."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenError("malformed token") from exc
        alg = header.get("alg")
        if alg == "HS256" and self._secret:
            key: Any = self._secret
        elif alg in ASYMMETRIC_ALGORITHMS and self._jwks is not None:
            jwk = await self._jwks.key(header.get("kid"))
            if jwk.algorithm_name not in (alg, None):
                raise TokenError("the token's algorithm does not match its key")
            key = jwk.key
        else:
            raise TokenError(f"tokens signed with {alg!r} are not accepted")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience="authenticated",
                options={"require": ["exp", "sub", "aud"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {type(exc).__name__}") from exc
        if claims.get("role") != "authenticated":
            raise TokenError("not a signed-in user's token")
        if not is_user_id(claims["sub"]):
            raise TokenError("the token's subject is not a user id")
        return claims

    def check_api_key(self, headers: Mapping[str, str]) -> str | None:
        """The role an `apikey` header grants ('anon' or 'service_role'); None when absent.

        An unknown key raises TokenError."""
        given = headers.get("apikey")
        if given is None:
            return None
        for known in self._api_keys:
            if hmac.compare_digest(given.encode(), known.encode()):
                return "service_role" if known == self._service_key else "anon"
        raise TokenError("unknown API key")


def bearer_token(headers: Mapping[str, str]) -> str | None:
    scheme, _, credential = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip()
