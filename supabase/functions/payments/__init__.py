"""Payments: checkouts with the five providers and their signed webhooks.

`providers/` holds one module per provider (create a checkout, look up a payment, verify and normalize a
webhook). Everything a provider says is normalized to one `PaymentEvent`; SQL (`apply_payment_event`)
decides what it does to a payment.
"""
