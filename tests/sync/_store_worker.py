"""Run by the store tests in a separate process.

python -m tests.sync._store_worker lock sqlite PATH           -> prints "got" or "blocked"
python -m tests.sync._store_worker lock postgres DSN SCHEMA   -> same
python -m tests.sync._store_worker pages PATH SEED            -> writes pages until killed
python -m tests.sync._store_worker migrate PATH STEP          -> ensures (migrates), killed at STEP
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys

from drchrono_async.sync import Column, PostgresStore, Row, SQLiteStore

PAGE = 50


def page_rows(page: int) -> list[Row]:
    return [
        Row(f"{page}-{i}", None, {"page": page, "i": i, "text": "x" * 200}, {"page": page})
        for i in range(PAGE)
    ]


async def try_lock(store: SQLiteStore | PostgresStore) -> None:
    async with store:
        try:
            async with asyncio.timeout(0.5), store.token_store().lock():
                print("got", flush=True)
        except TimeoutError:
            print("blocked", flush=True)


async def write_pages(path: str, seed: int) -> None:
    rng = random.Random(seed)

    def maybe_die() -> int:
        if rng.random() < 1 / 40:
            os.kill(os.getpid(), signal.SIGKILL)
        return 0

    async with SQLiteStore(path) as store:
        await store.ensure_resource("appointments", [Column("page", "integer")])
        # Called every 500 VM instructions on the store's own thread and connection.
        await store._call("test", "", lambda: store._db().set_progress_handler(maybe_die, 500))
        checkpoint = await store.checkpoint("appointments")
        page = 0 if checkpoint is None else checkpoint["page"] + 1
        while True:
            await store.write("appointments", page_rows(page), checkpoint={"page": page})
            print(page, flush=True)  # committed
            page += 1


async def migrate(path: str, kill_at: int) -> None:
    """Open a database of an older layout and ensure its tables, SIGKILLed at the `kill_at`th
    progress call (every 20 SQLite instructions) of the work, if it gets that far."""
    from .test_store_migration import ensure_all

    steps = 0

    def maybe_die() -> int:
        nonlocal steps
        steps += 1
        if steps >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return 0

    async with SQLiteStore(path) as store:
        await store._call("test", "", lambda: store._db().set_progress_handler(maybe_die, 20))
        await ensure_all(store)


def main(argv: list[str]) -> None:
    if argv[0] == "lock" and argv[1] == "sqlite":
        asyncio.run(try_lock(SQLiteStore(argv[2])))
    elif argv[0] == "lock":
        asyncio.run(try_lock(PostgresStore(argv[2], schema=argv[3])))
    elif argv[0] == "migrate":
        asyncio.run(migrate(argv[1], int(argv[2])))
    else:
        asyncio.run(write_pages(argv[1], int(argv[2])))


if __name__ == "__main__":
    main(sys.argv[1:])
