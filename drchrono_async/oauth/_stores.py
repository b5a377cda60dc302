"""Where a token lives between runs: the `TokenStore` protocol and its stores.

Every store saves with compare-and-set: `save(token, replaces=old_refresh_token)` writes only
if the stored token is still the one being replaced, so a slow process can never overwrite a
newer token with an older one (`TokenConflictError` otherwise). `lock()` is held around a
refresh so that, across every process sharing the store, exactly one refreshes while the
others wait and then read the new token.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable

import anyio

from ..errors import InvalidRequestError, TokenConflictError, TokenStoreError
from ._cipher import MAX_STORED, CipherChoice, StoreCipher, TokenCipher, resave, seal, unseal
from ._token import Token

__all__ = ["FileTokenStore", "MemoryTokenStore", "TokenStore", "check_replaces"]

logger = logging.getLogger("drchrono_async.oauth")


@runtime_checkable
class TokenStore(Protocol):
    """What a client with `oauth=` needs of a place that keeps its token."""

    async def load(self) -> Token | None:
        """The stored token, or None when nothing is stored yet."""
        ...

    async def save(self, token: Token, *, replaces: str | None = None) -> None:
        """Store `token`.

        `replaces`: the refresh token of the token this one replaces; the save happens only if
        that is still the stored one (else `TokenConflictError`). `None` stores
        unconditionally (a new authorization).
        """
        ...

    def lock(self) -> AbstractAsyncContextManager[None]:
        """Held around a refresh: one refresher at a time across every user of the store."""
        ...


def check_replaces(current: Token | None, replaces: str | None) -> None:
    """The compare of a token store's compare-and-set save, for stores of your own: with
    `replaces` (the refresh token the caller read), raise `TokenConflictError` unless the
    stored token (`current`) still has it; without it, the save is unconditional."""
    if replaces is None:
        return
    if current is None or current.refresh_token != replaces:
        raise TokenConflictError("the stored token changed since it was read; not overwritten")


class MemoryTokenStore:
    """A token in this process's memory: for tests and short-lived scripts."""

    def __init__(self, token: Token | None = None) -> None:
        self._token = token
        self._lock = asyncio.Lock()

    async def load(self) -> Token | None:
        return self._token

    async def save(self, token: Token, *, replaces: str | None = None) -> None:
        # No await between the check and the write: atomic on the event loop.
        check_replaces(self._token, replaces)
        self._token = token

    def lock(self) -> AbstractAsyncContextManager[None]:
        return self._lock

    def __repr__(self) -> str:
        return f"MemoryTokenStore(holds_token={self._token is not None})"


# Marks the task that holds a FileTokenStore's lock, so its own save does not lock again
# (flock locks are per open file: a second flock in the same process would wait forever).
_holding: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "drchrono_file_token_locks", default=frozenset()
)


class FileTokenStore:
    """A token in a JSON file, readable by its owner only.

    Writes go to a temporary file in the same folder under an unguessable name, created
    exclusively (never through a symlink) with mode 0600, flushed to disk, and replace the old
    file atomically: a crash leaves either the old token or the new one, and a failed write
    removes its temporary file. A save without `replaces` never reads the old file, so a new
    authorization replaces a corrupt one.
    The lock is an advisory `flock` on `<path>.lock`, shared by every process of the machine.

    `cipher`: "env" (the default) encrypts with the keys in `DRCHRONO_TOKEN_KEYS` when it is
    set; a `TokenCipher`; or None (plain text). A plain-text token is still read, and
    written back encrypted. A file holding DrChrono's token answer as is (`expires_in`, no
    `expires_at`) is read too, issued at the file's modification time (logged), and written
    back in the store's own form.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_poll: float = 0.05,
        cipher: CipherChoice = "env",
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not Path(path).name:
            raise InvalidRequestError("path must name a file (not a directory or a root)")
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._poll = lock_poll
        self._local = asyncio.Lock()
        self._cipher = StoreCipher(cipher)

    @property
    def cipher(self) -> TokenCipher | None:
        """The cipher in use (the environment's is read on first use), or None: plain text."""
        return self._cipher.get()

    async def load(self) -> Token | None:
        found = await self._read()
        if found is None:
            return None
        token, stale = found
        if stale:
            await resave(self, token)
        return token

    async def _read(self) -> tuple[Token, bool] | None:
        cipher = self.cipher
        try:
            found = await anyio.to_thread.run_sync(_read_file, self.path)
        except OSError as exc:
            raise TokenStoreError(f"cannot read the token file ({_errname(exc)})") from None
        if found is None:
            return None
        data, mtime = found
        token, why = unseal(data, cipher, issued_at=mtime)
        if why == "answer":
            logger.info(
                "oauth: the token file holds DrChrono's token answer; its issue time is taken "
                "from the file's modification time"
            )
        return token, why is not None

    async def save(self, token: Token, *, replaces: str | None = None) -> None:
        if not isinstance(token, Token):
            raise InvalidRequestError("token must be a Token")
        if id(self) in _holding.get():
            await self._save_locked(token, replaces)
            return
        async with self.lock():
            await self._save_locked(token, replaces)

    async def _save_locked(self, token: Token, replaces: str | None) -> None:
        data = seal(token, self.cipher)
        if replaces is not None:
            # Unconditional saves do not read: a new authorization replaces a corrupt file.
            found = await self._read()
            check_replaces(None if found is None else found[0], replaces)
        try:
            await anyio.to_thread.run_sync(_write_atomically, self.path, data)
        except OSError as exc:
            raise TokenStoreError(f"cannot write the token file ({_errname(exc)})") from None

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        import fcntl

        async with self._local:  # one holder per process; others wait here, not on flock
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
            except OSError as exc:
                raise TokenStoreError(f"cannot open the lock file ({_errname(exc)})") from None
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        await asyncio.sleep(self._poll)  # another process refreshes
                reset = _holding.set(_holding.get() | {id(self)})
                try:
                    yield
                finally:
                    _holding.reset(reset)
            finally:
                os.close(fd)  # closing releases the flock

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"


def _read_file(path: Path) -> tuple[bytes, float] | None:
    """The file's bytes and modification time, or None when there is no file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    try:
        mtime = os.fstat(fd).st_mtime
        data = b""
        while len(data) <= MAX_STORED:
            chunk = os.read(fd, MAX_STORED + 1 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > MAX_STORED:
        raise TokenStoreError("the stored token is unreadable (the file is too large)")
    return data, mtime


# Never through a symlink planted at the name (where the platform can say so).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _write_atomically(path: Path, data: bytes) -> None:
    # An unguessable name, created exclusively (O_EXCL also refuses a symlink there): nobody
    # can plant a link at it beforehand to have the token written somewhere else.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(16)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask cannot loosen it either
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        # A failed write (disk full, ...) leaves no partial token file behind.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def _errname(exc: OSError) -> str:
    # errno's name only: the OS message may include the path, which is the user's business.
    return errno.errorcode.get(exc.errno or 0, "OSError")
