"""Caller identity: access tokens verified with the shared secret (HS256) or a JWKS served over real HTTP
(ES256/RS256), and API keys. Every way of forging a token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.aio import run
from thinbase.errors import TokenError
from thinbase.functions._shared.auth import Authenticator
from thinbase.settings import load_settings

SECRET = "local-test-secret-local-test-secret-0123456789"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": str(uuid.uuid4()),
        "aud": "authenticated",
        "role": "authenticated",
        "exp": now + 300,
        "iat": now,
    }
    return {**base, **overrides}


class Jwks:
    """A JWKS endpoint on loopback whose key set can change, counting fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.fetches += 1
                body = json.dumps({"keys": jwks.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/auth/v1/.well-known/jwks.json"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        # shutdown() only stops the loop; the listening socket stays open (a ResourceWarning) until closed.
        self.server.server_close()
        self._thread.join(timeout=5)

    def add(self, public_key: Any, kid: str, alg: str) -> None:
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(public_key))
        self.keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    server = Jwks()
    yield server
    server.close()


@pytest.fixture
def http() -> Iterator[httpx.AsyncClient]:
    client = httpx.AsyncClient()  # the edge app's kind, on the tests' loop (tests.aio)
    yield client
    run(client.aclose())


def authenticator(http: httpx.AsyncClient, **env: str) -> Authenticator:
    return Authenticator(load_settings(env=env), http)


def test_hs256_token_with_the_shared_secret(http: httpx.AsyncClient) -> None:
    auth = authenticator(http, SUPABASE_JWT_SECRET=SECRET)
    token_claims = claims(email="a@example.test")
    assert (
        run(auth.verify_access_token(jwt.encode(token_claims, SECRET, algorithm="HS256")))["email"]
        == "a@example.test"
    )


@pytest.mark.parametrize(
    ("why", "token_claims", "key"),
    [
        ("expired", claims(exp=int(time.time()) - 60), SECRET),
        ("wrong audience", claims(aud="somebody-else"), SECRET),
        ("no audience", {k: v for k, v in claims().items() if k != "aud"}, SECRET),
        ("no expiry", {k: v for k, v in claims().items() if k != "exp"}, SECRET),
        ("wrong key", claims(), "another-secret-another-secret-0123456789"),
        ("anon key, not a user", claims(role="anon"), SECRET),
        ("service role, not a user", claims(role="service_role"), SECRET),
        ("subject is not a user id", claims(sub="admin"), SECRET),
        # uuid.UUID() reads all of these; Supabase Auth writes none of them, PostgreSQL's uuid refuses the
        # urn (a 500 from auth.uid()), and text comparisons (storage paths) miss the others.
        ("subject as a urn", claims(sub="urn:uuid:6f1c2a1e-0000-4000-8000-000000000000"), SECRET),
        ("subject in braces", claims(sub="{6f1c2a1e-0000-4000-8000-000000000000}"), SECRET),
        ("subject without hyphens", claims(sub="6f1c2a1e000040008000000000000000"), SECRET),
        ("subject in upper case", claims(sub="6F1C2A1E-0000-4000-8000-00000000000A"), SECRET),
        ("subject as a number", claims(sub=12345), SECRET),
    ],
)
def test_bad_hs256_tokens_are_refused(
    http: httpx.AsyncClient, why: str, token_claims: dict[str, Any], key: str
) -> None:
    auth = authenticator(http, SUPABASE_JWT_SECRET=SECRET)
    with pytest.raises(TokenError):
        run(auth.verify_access_token(jwt.encode(token_claims, key, algorithm="HS256")))


def _unsigned(payload: dict[str, Any], alg: str = "none") -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(payload)}."


def test_alg_none_is_refused(http: httpx.AsyncClient) -> None:
    auth = authenticator(http, SUPABASE_JWT_SECRET=SECRET)
    with pytest.raises(TokenError):
        run(auth.verify_access_token(_unsigned(claims())))
    with pytest.raises(TokenError):
        run(auth.verify_access_token("not-a-jwt"))


def test_es256_and_rs256_from_jwks_with_key_rotation(http: httpx.AsyncClient, jwks: Jwks) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks.add(ec_key.public_key(), "ec-1", "ES256")
    auth = authenticator(http, SUPABASE_JWKS_URL=jwks.url)
    token = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert run(auth.verify_access_token(token))["role"] == "authenticated"
    run(auth.verify_access_token(token))
    assert jwks.fetches == 1  # cached

    # The project rotates to a new RSA key: an unknown kid triggers one refetch (after the cooldown).
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks.add(rsa_key.public_key(), "rsa-2", "RS256")
    rotated = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "rsa-2"})
    auth._jwks._fetched_at -= 31  # type: ignore[union-attr]  # pretend the 30 s refetch cooldown passed
    assert run(auth.verify_access_token(rotated))["role"] == "authenticated"
    assert jwks.fetches == 2

    with pytest.raises(TokenError):  # a kid nobody published
        run(
            auth.verify_access_token(
                jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "ghost"})
            )
        )


def test_hs256_signed_with_the_public_key_is_refused(http: httpx.AsyncClient, jwks: Jwks) -> None:
    """The classic confusion attack: an HS256 token whose HMAC key is the published public key."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks.add(rsa_key.public_key(), "rsa-1", "RS256")
    auth = authenticator(http, SUPABASE_JWKS_URL=jwks.url)
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    signing_input = (
        base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=")
        + b"."
        + base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    )
    signature = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input, hashlib.sha256).digest()).rstrip(
        b"="
    )
    with pytest.raises(TokenError):
        run(auth.verify_access_token((signing_input + b"." + signature).decode()))


def test_a_token_signed_with_another_ec_key_under_a_known_kid_is_refused(
    http: httpx.AsyncClient, jwks: Jwks
) -> None:
    published = ec.generate_private_key(ec.SECP256R1())
    jwks.add(published.public_key(), "ec-1", "ES256")
    auth = authenticator(http, SUPABASE_JWKS_URL=jwks.url)
    forged = jwt.encode(
        claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "ec-1"}
    )
    with pytest.raises(TokenError):
        run(auth.verify_access_token(forged))


def test_api_keys_legacy_and_new(http: httpx.AsyncClient) -> None:
    auth = authenticator(
        http, SUPABASE_ANON_KEY="sb_publishable_abc123", SUPABASE_SERVICE_ROLE_KEY="sb_secret_def456"
    )
    assert auth.check_api_key({}) is None
    assert auth.check_api_key({"apikey": "sb_publishable_abc123"}) == "anon"
    assert auth.check_api_key({"apikey": "sb_secret_def456"}) == "service_role"
    with pytest.raises(TokenError):
        auth.check_api_key({"apikey": "sb_publishable_guess"})
    legacy = jwt.encode({"role": "anon", "iss": "supabase"}, SECRET, algorithm="HS256")
    assert authenticator(http, SUPABASE_ANON_KEY=legacy).check_api_key({"apikey": legacy}) == "anon"
