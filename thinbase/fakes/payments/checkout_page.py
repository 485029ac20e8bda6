"""The hosted checkout page every payment fake serves, and its landing page.

`GET {fake.url}/checkout/{reference}` shows what is being paid (provider, amount in major units, our order
id) and one form with three buttons that POST back to the same URL: Pay, Fail and Cancel, with the stable
ids `pay`, `fail` and `cancel` a browser test clicks. Once a checkout is paid or failed the page says so and
offers no buttons. Every value on these pages is escaped: order ids, URLs and labels come from requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from typing import Literal

Outcome = Literal["pay", "fail", "cancel"]
OUTCOMES: tuple[Outcome, ...] = ("pay", "fail", "cancel")


@dataclass(frozen=True)
class CheckoutView:
    """What a fake knows about one of its checkouts, for the page and for the redirect after it."""

    reference: str  # the provider's id in the page URL (session, token, checkout or order id)
    order_id: str  # ours
    amount: int  # in the provider's units
    decimals: int  # of the provider's units
    currency: str
    return_url: str | None  # where the customer lands after paying (what our checkout passed)
    cancel_url: str | None  # where Cancel lands; None: return_url


def major_units(amount: int, decimals: int) -> str:
    """149000000 with 2 decimals -> '1,490,000.00'; 1400 with 0 -> '1,400'."""
    value = Decimal(amount).scaleb(-decimals)
    return f"{value:,.{decimals}f}"


_STYLE = """
  body { font-family: system-ui, sans-serif; background: #f4f5f7; color: #1d2330; margin: 0; }
  main { max-width: 26rem; margin: 4rem auto; background: #fff; border-radius: 12px; padding: 2rem;
         box-shadow: 0 2px 12px rgba(0, 0, 0, .08); }
  h1 { font-size: 1.1rem; margin: 0 0 .25rem; }
  .note { color: #6b7280; font-size: .85rem; margin: 0 0 1.5rem; }
  .amount { font-size: 2rem; font-weight: 600; margin: 0; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: .35rem 1rem; margin: 1.5rem 0; }
  dt { color: #6b7280; } dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
  form { display: flex; gap: .5rem; }
  button { flex: 1; font: inherit; padding: .7rem; border-radius: 8px; border: 1px solid #d1d5db;
           background: #fff; cursor: pointer; }
  #pay { background: #16a34a; border-color: #16a34a; color: #fff; font-weight: 600; }
  #fail { color: #b91c1c; }
  .status { padding: .7rem; border-radius: 8px; background: #f3f4f6; text-align: center; }
"""


def _document(title: str, body: str) -> bytes:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    ).encode()


def render_checkout(label: str, view: CheckoutView, state: str | None) -> bytes:
    """The page for one checkout; `state` is None while it is open, else 'paid' or 'failed'."""
    if state is None:
        action = f"/checkout/{escape(view.reference)}"
        controls = (
            f'<form method="post" action="{action}">'
            '<button id="pay" type="submit" name="action" value="pay">Pay</button>'
            '<button id="fail" type="submit" name="action" value="fail">Fail</button>'
            '<button id="cancel" type="submit" name="action" value="cancel">Cancel</button>'
            "</form>"
        )
    else:
        controls = f'<p class="status" id="state">This checkout is {escape(state)}.</p>'
    amount = f"{view.currency} {major_units(view.amount, view.decimals)}"
    body = (
        f"<h1>{escape(label)}</h1>"
        '<p class="note">A local fake: no money moves. Pay sends the provider\'s signed webhook.</p>'
        f'<p class="amount" id="amount">{escape(amount)}</p>'
        f'<dl><dt>Order</dt><dd id="order-id">{escape(view.order_id)}</dd>'
        f"<dt>Reference</dt><dd>{escape(view.reference)}</dd></dl>"
        f"{controls}"
    )
    return _document(f"{label}: checkout", body)


def render_return(label: str, query: Mapping[str, str]) -> bytes:
    """Where a checkout lands when our checkout gave the provider no return URL."""
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in query.items())
    body = (
        f"<h1>{escape(label)}</h1>"
        '<p class="note">Back from the fake checkout. The app learns the result from the webhook.</p>'
        f"<dl>{rows}</dl>"
    )
    return _document(f"{label}: done", body)


def render_message(label: str, status: int, message: str) -> bytes:
    return _document(f"{label}: {status}", f"<h1>{escape(label)}</h1><p>{escape(message)}</p>")
