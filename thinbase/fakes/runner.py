"""Start the local fakes for every service that has no real settings, and say how the edge app reaches them.

A developer with sandbox keys in `.env` for one provider gets that provider's real sandbox; every other
payment provider, the AI provider and email get a fake on a loopback port, with the local secrets below
(never a real key: they sign and verify only between the fakes and the edge app on this machine). A provider
with some of its settings only is neither faked nor usable: `doctor` names what is missing.

Only the CLI's local commands use this (`serve --local --fakes`, `fakes serve`, `local up --fakes`); the
edge app never imports the fakes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from thinbase.fakes import ai, mail
from thinbase.fakes.payments import build_fake
from thinbase.functions.payments.providers.registry import PROVIDERS
from thinbase.settings import Settings

# The settings a faked provider is configured with: the edge app verifies what the fake signs with these.
LOCAL_SECRETS: dict[str, dict[str, str]] = {
    "midtrans": {
        "MIDTRANS_SERVER_KEY": "SB-Mid-server-thinbase-local",
        "MIDTRANS_CLIENT_KEY": "SB-Mid-client-local",
    },
    "doku": {"DOKU_CLIENT_ID": "BRN-0000-thinbase-local", "DOKU_SECRET_KEY": "SK-thinbase-local"},
    "stripe": {
        "STRIPE_SECRET_KEY": "sk_test_thinbase_local",
        "STRIPE_WEBHOOK_SECRET": "whsec_thinbase_local",
    },
    "lemonsqueezy": {
        "LEMONSQUEEZY_API_KEY": "ls-thinbase-local",
        "LEMONSQUEEZY_STORE_ID": "1",
        "LEMONSQUEEZY_WEBHOOK_SECRET": "ls-webhook-thinbase-local",
        "LEMONSQUEEZY_VARIANT_ID": "1",
    },
    "razorpay": {
        "RAZORPAY_KEY_ID": "rzp_test_thinbaselocal",
        "RAZORPAY_KEY_SECRET": "rzp-secret-thinbase-local",
        "RAZORPAY_WEBHOOK_SECRET": "rzp-webhook-thinbase-local",
    },
}
AI_KEY = "sk-thinbase-local"
AI_MODEL = "thinbase-fake-model"
MAIL_KEY = "re_thinbase_local"

Kind = Literal["fake", "real", "incomplete"]


@dataclass(frozen=True)
class Service:
    """What one service runs against locally: a fake (its URL), the real one, or neither (settings
    missing)."""

    name: str
    kind: Kind
    detail: str  # the fake's URL; for real: which setting said so; for incomplete: what is missing


@dataclass
class RunningFakes:
    services: list[Service] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # settings that point the edge app at the fakes
    fakes: dict[str, Any] = field(default_factory=dict)  # name -> the running fake

    @property
    def urls(self) -> dict[str, str]:
        return {service.name: service.detail for service in self.services if service.kind == "fake"}


def _payment_kind(settings: Settings, required: tuple[str, ...]) -> tuple[Kind, str]:
    given = [name for name in required if settings.get(name).strip()]
    if len(given) == len(required):
        return "real", f"{', '.join(required)} set"
    if given:
        missing = [name for name in required if name not in given]
        return "incomplete", f"{', '.join(missing)} missing (set them, or remove {', '.join(given)})"
    return "fake", ""


def _ai_fake(settings: Settings, environ: Mapping[str, str]) -> tuple[Any, dict[str, str]]:
    provider = settings.get("AI_PROVIDER").strip() or "openai-compatible"
    knobs = ai.ai_knobs_from_env(environ)
    classes: dict[str, Any] = {
        "openai": ai.OpenAIFake,
        "openai-compatible": ai.OpenAIFake,
        "anthropic": ai.AnthropicFake,
        "gemini": ai.GeminiFake,
    }
    if provider not in classes:
        raise ValueError(f"AI_PROVIDER={provider!r} has no fake; one of {', '.join(classes)}")
    fake = classes[provider](api_key=AI_KEY, **knobs)
    return fake, {
        "AI_PROVIDER": provider,
        "AI_API_KEY": AI_KEY,
        "AI_MODEL": settings.get("AI_MODEL") or AI_MODEL,
    }


@contextlib.contextmanager
def run_fakes(
    settings: Settings, edge_url: str, environ: Mapping[str, str] | None = None
) -> Iterator[RunningFakes]:
    """Start a fake for each service without real settings; stop them all on exit.

    `edge_url` is where the payment fakes deliver their signed webhooks (`{edge_url}/webhooks/{name}`)."""
    environ = os.environ if environ is None else environ
    running = RunningFakes()
    with contextlib.ExitStack() as stack:
        for name, descriptor in PROVIDERS.items():
            kind, detail = _payment_kind(settings, descriptor.required_settings)
            if kind == "fake":
                secrets = LOCAL_SECRETS[name]
                fake = stack.enter_context(
                    build_fake(name, secrets, webhook_url=f"{edge_url}/webhooks/{name}")
                )
                running.fakes[name] = fake
                running.env |= secrets | {f"{name.upper()}_BASE_URL": fake.url}
                detail = fake.url
            running.services.append(Service(name, kind, detail))

        if settings.get("AI_API_KEY").strip():
            running.services.append(Service("ai", "real", "AI_API_KEY set"))
        else:
            fake, ai_env = _ai_fake(settings, environ)
            stack.enter_context(fake)
            running.fakes["ai"] = fake
            running.env |= ai_env | {"AI_BASE_URL": fake.base_url}
            running.services.append(Service("ai", "fake", fake.url))

        if settings.get("RESEND_API_KEY").strip():
            running.services.append(Service("mail", "real", "RESEND_API_KEY set"))
        else:
            catcher = stack.enter_context(mail.FakeResend(api_key=MAIL_KEY))
            running.fakes["mail"] = catcher
            running.env |= {"RESEND_API_KEY": MAIL_KEY, "RESEND_BASE_URL": catcher.url}
            running.env.setdefault(
                "EMAIL_FROM", settings.get("EMAIL_FROM") or "thinbase <noreply@thinbase.local>"
            )
            running.env.setdefault("CONTACT_EMAIL", settings.get("CONTACT_EMAIL") or "team@thinbase.local")
            running.services.append(Service("mail", "fake", catcher.url))

        payment_fakes = [running.fakes[name] for name in PROVIDERS if name in running.fakes]
        if payment_fakes and not settings.allowed_return_urls:
            # Where the browser lands after a fake checkout (success, then cancel: the checkout's order).
            back = f"{payment_fakes[0].url}/_fake/return"
            running.env["ALLOWED_RETURN_URLS"] = f"{back}?result=paid,{back}?result=cancelled"
        yield running
