"""Payments, in one place: checkouts with the five providers and their signed webhooks.

    providers/   one module per provider (create a checkout, look up a payment, verify and normalize a
                 webhook, its descriptor); the registry finds them; `base` holds the shapes they share
    checkout.py  POST /payments/checkout: the user's open payment, the provider's checkout, attach_checkout
    webhooks.py  POST /webhooks/{provider}: verify, normalize, confirm what the signature leaves open, then
                 apply_payment_event

Everything a provider says is normalized to one `PaymentEvent`; SQL (`apply_payment_event`) decides what it
does to a payment.
"""
