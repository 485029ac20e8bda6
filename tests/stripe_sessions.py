"""The Stripe fake, plus the one endpoint Stripe's `locate` asks: `GET /v1/checkout/sessions?payment_intent=`
(the Checkout Session a PaymentIntent belongs to, as Stripe's list endpoint filters it).

Kept beside the fake rather than in it while the fakes move into the distribution (thinbase/fakes/payments);
fold it into the fake's `handle` there."""

from __future__ import annotations

from tests.providers.fakes import StripeFake
from tests.providers.fakes.base import RecordedRequest, Reply


class StripeWithSessionSearch(StripeFake):
    def handle(self, request: RecordedRequest) -> Reply:
        if request.method == "GET" and request.path == "/v1/checkout/sessions":
            if request.header("authorization") != f"Bearer {self.secret_key}":
                return 401, self.error_body(401, "Invalid API Key provided", "api_key_invalid"), {}
            wanted = request.query.get("payment_intent", [None])[0]
            with self._lock:
                found = [
                    {**session, "payment_intent": intent["id"]}
                    for session in self.sessions.values()
                    if isinstance(intent := session["payment_intent"], dict) and intent["id"] == wanted
                ]
            return 200, {"object": "list", "data": found[:1], "has_more": False}, {}
        return super().handle(request)
