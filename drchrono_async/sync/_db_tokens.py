"""The token stores kept in a sync database: `SQLiteStore.token_store()`, `PostgresStore...`.

Both save with compare-and-set inside a database transaction, and keep the token in the
bookkeeping table `_tokens`, keyed by the store's `key`. Neither shows a token in its repr
or its errors. With keys in `DRCHRONO_TOKEN_KEYS` (or a `cipher=`), the token is stored
encrypted: a reader of the database, or of a backup, without the key cannot use it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError, TokenStoreError
from ..oauth import (
    CipherChoice,
    FileTokenStore,
    StoreCipher,
    Token,
    TokenCipher,
    check_replaces,
    resave,
    seal,
    unseal,
)
from ._pg_values import lock_key
from ._sql import TOKENS, now_utc
from ._sqlite_sql import q, transaction

if TYPE_CHECKING:
    import psycopg

    from ._postgres import PostgresStore
    from ._sqlite import SQLiteStore

__all__ = ["PostgresTokenStore", "SQLiteTokenStore"]


class SQLiteTokenStore:
    """A token in a `SQLiteStore`; see `SQLiteStore.token_store()`."""

    def __init__(self, store: SQLiteStore, key: str, *, cipher: CipherChoice = "env") -> None:
        self._store = store
        self.key = key
        self._cipher = StoreCipher(cipher)

    @property
    def cipher(self) -> TokenCipher | None:
        """The cipher in use (the environment's is read on first use), or None: plain text."""
        return self._cipher.get()

    async def load(self) -> Token | None:
        cipher = self.cipher

        def run() -> str | None:
            found = (
                self._store._db()
                .execute(f"SELECT token FROM {q(TOKENS)} WHERE key = ?", (self.key,))
                .fetchone()
            )
            return None if found is None else str(found[0])

        data = await self._store._call("load the token", "", run, error=TokenStoreError)
        return None if data is None else await _loaded(self, data, cipher)

    async def save(self, token: Token, *, replaces: str | None = None) -> None:
        if not isinstance(token, Token):
            raise InvalidRequestError("token must be a Token")
        cipher = self.cipher
        data = seal(token, cipher).decode()

        def run() -> None:
            conn = self._store._db()
            with transaction(conn):
                if replaces is not None:  # unconditional: a corrupt token is replaced unread
                    found = conn.execute(
                        f"SELECT token FROM {q(TOKENS)} WHERE key = ?", (self.key,)
                    ).fetchone()
                    check_replaces(_stored(found, cipher), replaces)
                conn.execute(
                    f"INSERT INTO {q(TOKENS)} (key, token, updated_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE"
                    " SET token = excluded.token, updated_at = excluded.updated_at",
                    (self.key, data, now_utc().isoformat()),
                )

        await self._store._call("save the token", "", run, error=TokenStoreError)

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        held = self._store._token_lock
        async with held.lock() if isinstance(held, FileTokenStore) else held:
            yield

    def __repr__(self) -> str:
        return f"SQLiteTokenStore(key={self.key!r})"


class PostgresTokenStore:
    """A token in a `PostgresStore`; see `PostgresStore.token_store()`."""

    def __init__(self, store: PostgresStore, key: str, *, cipher: CipherChoice = "env") -> None:
        self._store = store
        self.key = key
        self._cipher = StoreCipher(cipher)

    @property
    def cipher(self) -> TokenCipher | None:
        """The cipher in use (the environment's is read on first use), or None: plain text."""
        return self._cipher.get()

    async def load(self) -> Token | None:
        store = self._store
        cipher = self.cipher

        async def run(conn: psycopg.AsyncConnection[Any]) -> str | None:
            cur = await conn.execute(
                store.sql("SELECT token FROM {s}.{t} WHERE key = %s", t=TOKENS), (self.key,)
            )
            found = await cur.fetchone()
            return None if found is None else str(found[0])

        data = await store.run("load the token", "", run, error=TokenStoreError)
        return None if data is None else await _loaded(self, data, cipher)

    async def save(self, token: Token, *, replaces: str | None = None) -> None:
        if not isinstance(token, Token):
            raise InvalidRequestError("token must be a Token")
        cipher = self.cipher
        data = seal(token, cipher).decode()
        store = self._store

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():
                if replaces is not None:  # unconditional: a corrupt token is replaced unread
                    cur = await conn.execute(
                        store.sql("SELECT token FROM {s}.{t} WHERE key = %s FOR UPDATE", t=TOKENS),
                        (self.key,),
                    )
                    found = await cur.fetchone()
                    check_replaces(_stored(found, cipher), replaces)
                await conn.execute(
                    store.sql(
                        "INSERT INTO {s}.{t} (key, token, updated_at) VALUES (%s, %s, now())"
                        " ON CONFLICT (key) DO UPDATE"
                        " SET token = excluded.token, updated_at = excluded.updated_at",
                        t=TOKENS,
                    ),
                    (self.key, data),
                )

        await store.run("save the token", "", run, error=TokenStoreError)

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        store = self._store
        key = lock_key("token", store.schema, self.key)
        conn = await store.connect("take the refresh lock", error=TokenStoreError)
        try:

            async def take() -> None:
                while True:
                    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                    found = await cur.fetchone()
                    if found is not None and found[0]:
                        return
                    await asyncio.sleep(store.settings.lock_poll)  # another process refreshes

            await store.guard("take the refresh lock", take, error=TokenStoreError)
            yield
        finally:
            # Released at once (see PostgresStore.lock); the session's end would too, later.
            with contextlib.suppress(Exception):
                await conn.execute("SELECT pg_advisory_unlock_all()")
            with contextlib.suppress(Exception):
                await conn.close()

    def __repr__(self) -> str:
        return f"PostgresTokenStore(key={self.key!r})"


def _stored(found: Any, cipher: TokenCipher | None) -> Token | None:
    """The token of a `SELECT token` row (None: no row)."""
    return None if found is None else unseal(str(found[0]), cipher)[0]


async def _loaded(
    tokens: SQLiteTokenStore | PostgresTokenStore, data: str, cipher: TokenCipher | None
) -> Token:
    """A loaded token, written back first if it was plain text under a cipher or under an
    older key."""
    token, why = unseal(data, cipher)
    if why is not None:
        await resave(tokens, token)
    return token
