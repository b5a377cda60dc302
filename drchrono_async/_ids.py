"""The one check of a record id that arrives from outside (a webhook's object, a listing).

An id becomes a primary key, a `DELETE ... WHERE id = ?` and a log-free handle for a record;
an id a database cannot store (a NUL), that prints as something else (a line separator,
a control character), that differs from its neighbour only by whitespace, or that overflows
a 64-bit column would fail at the database on every redelivery, or worse, silently address
another row. So it is refused where it enters, the same way everywhere.
"""

from __future__ import annotations

__all__ = ["MAX_ID_CHARS", "MAX_INT_ID", "check_object_id"]

MAX_ID_CHARS = 64
MAX_INT_ID = 2**63 - 1  # ids are 64-bit signed integers server-side


def check_object_id(value: object) -> str | None:
    """`value` as text when it is an acceptable record id, else None.

    Acceptable: an `int` (not a `bool`) from 1 to 2**63-1, the range the client's own id
    check allows (DrChrono's ids are positive), or a `str` of 1 to 64 characters, all of
    them printable (no NUL or other C0/C1 control, no DEL, no line or paragraph separator,
    no lone surrogate, no format or unassigned code point) and without leading or trailing
    whitespace. Subclasses are read through the base type, so an `__str__` of theirs cannot
    choose the text. Never raises: the caller decides which typed error a refusal is.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = int.__int__(value)
        return str(number) if 1 <= number <= MAX_INT_ID else None
    if isinstance(value, str):
        text = str.__str__(value)
        if (
            0 < len(text) <= MAX_ID_CHARS
            and text.isprintable()  # False for Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs but " "
            and text.strip() == text
        ):
            return text
    return None
