"""The sync lock of a store: one sync of a resource at a time, across processes.

`SQLiteStore` locks the whole file with an `flock` on `<path>.sync.lock` (a lock goes with
the process that dies holding it); `PostgresStore` takes one session advisory lock per
resource on a connection of its own. Both wait up to `wait` seconds, polling, then raise
`StoreLockedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path

from .._checks import check_number
from ..errors import StoreError, StoreLockedError

__all__ = ["POLL", "check_wait", "file_lock", "locked_message"]

POLL = 0.05  # seconds between two tries while another holder has the lock
MAX_WAIT = 7 * 86_400.0


def check_wait(wait: object) -> float:
    """Seconds to wait for a lock: a finite number from 0 to a week."""
    return check_number(
        wait, "wait", low=0, high=MAX_WAIT, kind="a number of seconds", tail=" (a week)"
    )


def locked_message(resource: str, wait: float) -> str:
    after = f" after waiting {wait:g} s" if wait else ""
    return f"another sync holds the store's lock of {resource}{after}; this run did nothing"


@contextlib.asynccontextmanager
async def file_lock(path: Path, label: str, wait: float) -> AsyncIterator[None]:
    """An exclusive `flock` on `path` (created 0600), held while the block runs."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        raise StoreError(f"cannot open the sync lock file ({name})") from None
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            try:
                # Per open file: a second store object in this process is excluded too.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if loop.time() >= deadline:
                    raise StoreLockedError(locked_message(label, wait), resource=label) from None
                await asyncio.sleep(min(POLL, max(0.0, deadline - loop.time())))
        yield
    finally:
        os.close(fd)  # closing releases the flock
