"""One sync process of the kill test: syncs a loopback emulator into SQLite, then exits.

argv: base_url, access token, database path. Exit 0 when the run completed.
"""

from __future__ import annotations

import asyncio
import sys

from drchrono_async import DrChronoClient
from drchrono_async.sync import SQLiteStore, Syncer


async def main() -> int:
    base_url, token, path = sys.argv[1:4]
    # No client-side quota: the emulator's is high, and the test is about crash safety.
    async with (
        DrChronoClient(token, base_url=base_url, quota=None) as client,
        SQLiteStore(path) as store,
    ):
        report = await Syncer(client, store, resources=["appointments", "patients"]).run()
    return 0 if report.complete else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
