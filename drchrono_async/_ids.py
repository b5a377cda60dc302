"""Record ids as they enter the library: from a listing, a GET, a webhook delivery.

PLACEHOLDER: the webhooks branch brings the full version of this module.
"""

from __future__ import annotations

__all__ = ["MAX_ID_CHARS", "check_object_id"]

MAX_ID_CHARS = 64
_I64 = 2**63


def check_object_id(value: object) -> str | None:
    """The id as text when it is one a store can key on, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if -_I64 <= value < _I64 else None
    if (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_CHARS
        and value.isprintable()
        and value == value.strip()
    ):
        return value
    return None
