"""Why a PostgreSQL connection could not be made: `StoreOpenError` kinds, from a psycopg error.

The SQLSTATE where the error carries one (3D000 invalid_catalog_name: the database is
missing; class 28, invalid authorization: the role or its password refused; class 08, a
connection exception). libpq reports most connection failures without one (no session
exists yet to send it), as text: its English phrases are matched then. The text itself is
never repeated (it quotes the DSN's user, host and database); a server whose lc_messages is
another language leaves the failure unclassified, a plain `StoreError` naming its class.
"""

from __future__ import annotations

from ..errors import StoreOpenError

__all__ = ["open_error"]

_NO_DATABASE = ('database "', "does not exist")
_AUTH = (
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    'role "',  # role "x" does not exist
    "no password supplied",
)
_UNREACHABLE = (
    "connection refused",
    "failed to resolve host",
    "could not translate host name",
    "timeout expired",
    "no route to host",
    "network is unreachable",
    "no such file or directory",  # a Unix socket that is not there
    "could not connect",
    "server closed the connection",
)


def open_error(exc: BaseException) -> StoreOpenError | None:
    """The kind of a failed connection attempt, as a `StoreOpenError`; None: not one of them."""
    state = getattr(exc, "sqlstate", None) or ""
    name = type(exc).__name__
    text = str(exc).lower()
    if state == "3D000" or (all(w in text for w in _NO_DATABASE) and 'role "' not in text):
        return StoreOpenError(
            f"the PostgreSQL database does not exist ({name})", kind="database_missing"
        )
    if state.startswith("28") or any(phrase in text for phrase in _AUTH):
        return StoreOpenError(
            f"PostgreSQL refused the user or password ({name})", kind="auth_failed"
        )
    if state.startswith("08") or any(phrase in text for phrase in _UNREACHABLE):
        return StoreOpenError(
            f"the PostgreSQL server could not be reached ({name})", kind="unreachable"
        )
    return None
