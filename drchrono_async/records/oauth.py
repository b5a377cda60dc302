"""The OAuth token response (`POST /o/token/`)."""

import attrs

from ._base import ALWAYS, Record, read_only

__all__ = ["Token"]


@attrs.frozen(kw_only=True)
class Token(Record):
    """The answer of `/o/token/` to a code exchange or a refresh.

    The tokens are kept out of `repr` so that a logged record cannot leak them.
    """

    access_token: str = attrs.field(metadata=ALWAYS, repr=False)
    refresh_token: str = attrs.field(metadata=ALWAYS, repr=False)
    expires_in: int = attrs.field(metadata=ALWAYS)
    # Not in the reference's response table; standard OAuth 2 response fields.
    token_type: str | None = read_only()
    scope: str | None = read_only()
