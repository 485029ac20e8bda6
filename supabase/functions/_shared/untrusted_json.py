"""JSON from outside (request bodies, webhook bodies), read so that whatever it holds can reach our code, the
encoders it passes through and the database.

`json.loads` accepts more than that, and each of these used to surface as a 500 from some layer below it:
  - NUL (`\\u0000`): PostgreSQL text and jsonb cannot hold it;
  - an unpaired surrogate (`\\ud800`): not Unicode, so every encoder refuses it (hashing a signed field,
    an httpx body, PostgreSQL);
  - nesting past the interpreter's recursion limit: RecursionError, which is not a ValueError;
  - `NaN` and `Infinity` (not JSON; PostgreSQL's json refuses them), and floats that overflow to infinity
    (`1e400`);
  - integers beyond bigint: no amount, id or timestamp of ours is that large, and the database refuses them
    where it expects one.
`loads` refuses them all in one place, as `UnusableJson`; each caller turns that into its own 400. A valid
surrogate pair (`\\ud83d\\ude00`) is one character to the parser and passes.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64  # containers inside containers; provider events nest about 8 deep, our request bodies 3
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


class UnusableJson(ValueError):
    """Not JSON, or JSON holding something we cannot pass on. The message completes "The body …" and never
    quotes the body."""


def _refuse_constant(name: str) -> Any:
    raise UnusableJson(f"holds {name}, which is not a JSON number")


def check_text(value: str) -> None:
    """UnusableJson if `value` holds NUL or an unpaired surrogate (for text that did not come from loads)."""
    if "\x00" in value:
        raise UnusableJson("holds a NUL character, which the database cannot store")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UnusableJson("holds an unpaired surrogate, which is not Unicode text") from None


def _check(value: Any) -> None:
    """Walk the parsed value without recursion (it may be as deep as the parser allowed)."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not BIGINT_MIN <= item <= BIGINT_MAX:
                raise UnusableJson("holds an integer beyond the 64-bit range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise UnusableJson("holds a number too large to represent")
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise UnusableJson(f"is nested more than {MAX_DEPTH} levels deep")
            if isinstance(item, dict):
                for key, child in item.items():
                    check_text(key)
                    pending.append((child, depth + 1))
            else:
                pending.extend((child, depth + 1) for child in item)


def loads(raw: bytes) -> Any:
    """The JSON value in `raw`, or UnusableJson saying what is wrong with it."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except UnusableJson:
        raise
    except RecursionError:
        raise UnusableJson(f"is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, an integer of more than 4300 digits
        raise UnusableJson("is not JSON") from None
    _check(value)
    return value
