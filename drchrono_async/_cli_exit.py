"""The command line's exit codes, and the one line that goes with each failure.

One code per kind of failure an operator fixes differently, so that monitoring can branch
on it: a refused token needs a person, an unreachable server a retry, a missing directory a
fix to the deployment. Standard library and the errors only: `--help` prints the table.
"""

from __future__ import annotations

from .errors import (
    AuthenticationError,
    DrChronoError,
    InvalidGrantError,
    StoreError,
    StoreLockedError,
    StoreOpenError,
    StoreTimeoutError,
    TransportError,
)

__all__ = ["CODES", "CommandError", "epilog", "exit_for"]

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_TOKEN_REFUSED = 3
EXIT_UNREACHABLE = 4
EXIT_SKIPPED = 5
EXIT_STORE_NO_DIRECTORY = 10
EXIT_STORE_READ_ONLY = 11
EXIT_STORE_BUSY = 12
EXIT_PG_NO_DATABASE = 13
EXIT_PG_UNREACHABLE = 14
EXIT_PG_AUTH = 15
EXIT_STORE = 16
EXIT_LOCKED = 75  # sysexits' EX_TEMPFAIL: try again later (kept: crontabs test for it)
EXIT_INTERRUPTED = 130

CODES: tuple[tuple[int, str], ...] = (
    (
        EXIT_OK,
        "done: every resource complete or up to date (skipped for scope too, unless "
        "--strict); also after SIGINT/SIGTERM, the pages being written finished",
    ),
    (
        EXIT_INCOMPLETE,
        "incomplete: a resource failed or waits for the quota; the next run "
        "resumes from its checkpoint",
    ),
    (EXIT_USAGE, "a bad flag or argument (nothing was sent), or an error not listed here"),
    (
        EXIT_TOKEN_REFUSED,
        "the access token was refused (401), or the refresh token "
        "(invalid_grant): sign the practice in again",
    ),
    (
        EXIT_UNREACHABLE,
        "the API server could not be reached (connection refused, DNS, TLS, timeout)",
    ),
    (EXIT_SKIPPED, "with --strict: a resource was skipped (a scope not granted, or 403)"),
    (EXIT_STORE_NO_DIRECTORY, "store: the SQLite file's directory does not exist"),
    (EXIT_STORE_READ_ONLY, "store: the SQLite file or its directory is read-only"),
    (EXIT_STORE_BUSY, "store: another process held the database's write lock past the wait"),
    (EXIT_PG_NO_DATABASE, "store: the PostgreSQL database does not exist"),
    (EXIT_PG_UNREACHABLE, "store: the PostgreSQL server could not be reached"),
    (EXIT_PG_AUTH, "store: PostgreSQL refused the user or password"),
    (EXIT_STORE, "store: any other database failure (the line names its class)"),
    (EXIT_LOCKED, "another sync holds this store's sync lock (after --wait-lock)"),
    (EXIT_INTERRUPTED, "stopped at once by a second SIGINT, or Ctrl-C during set-up"),
)

# Why a store could not be opened (`StoreOpenError.kind`, the store's own classification).
_OPEN_CODES: dict[str, int] = {
    "missing_directory": EXIT_STORE_NO_DIRECTORY,
    "read_only": EXIT_STORE_READ_ONLY,
    "locked": EXIT_STORE_BUSY,
    "database_missing": EXIT_PG_NO_DATABASE,
    "unreachable": EXIT_PG_UNREACHABLE,
    "auth_failed": EXIT_PG_AUTH,
}


class CommandError(DrChronoError):
    """A failure the command line found itself (a pre-check), with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def epilog(*codes: int) -> str:
    """The exit code table for a command's `--help` (only `codes`, in the table's order)."""
    import textwrap

    rows = [
        textwrap.fill(meaning, 78, initial_indent=f"  {code:>3}  ", subsequent_indent=" " * 7)
        for code, meaning in CODES
        if code in codes
    ]
    return "exit codes:\n" + "\n".join(rows)


def exit_for(exc: DrChronoError) -> tuple[int, str]:
    """The exit code and the one line for a typed error (never a traceback)."""
    if isinstance(exc, CommandError):
        return exc.code, str(exc)
    if isinstance(exc, StoreOpenError):
        advice = " (create it, or give another --store)" if exc.kind == "missing_directory" else ""
        return _OPEN_CODES.get(exc.kind, EXIT_STORE), f"{exc}{advice}"
    if isinstance(exc, StoreLockedError):
        return EXIT_LOCKED, str(exc)
    if isinstance(exc, InvalidGrantError):
        return EXIT_TOKEN_REFUSED, (
            "the refresh token was refused (invalid_grant): sign the practice in again "
            "(drchrono-async login)"
        )
    if isinstance(exc, AuthenticationError):
        return EXIT_TOKEN_REFUSED, "the access token was refused (401)"
    if isinstance(exc, TransportError):
        why = exc.reason or "the connection failed"
        return EXIT_UNREACHABLE, f"the API server could not be reached: {why} ({exc})"
    if isinstance(exc, StoreTimeoutError):
        return EXIT_STORE_BUSY, f"the database is busy: {exc}"
    if isinstance(exc, StoreError):
        return EXIT_STORE, f"the store failed: {exc}"
    return EXIT_USAGE, str(exc)
