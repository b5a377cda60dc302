"""Webhook deliveries in any order, redelivered at random, end in the emulator's final state.

DrChrono redelivers a failed delivery hours later with the object as it was at the event, so
a store sees CREATE, MODIFY and DELETE deliveries in any order and some of them twice. The
emulator makes the changes and signs the deliveries; the test decides when each one arrives.
Appointments carry `updated_at` (ordered by it; deletes carry a version); allergies carry no
version (a delivery marks the row stale and one GET reads the current state).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drchrono_async._endpoints import BY_NAME
from drchrono_async.sync import PostgresStore, SQLiteStore, Syncer, apply_event
from drchrono_async.testing import Emulator, VirtualClock
from drchrono_async.webhooks import parse_delivery

from .conftest import POSTGRES_DSN, postgres_or_skip

SECRET = "whsec-order-test"

# resource -> (event stem, a field a MODIFY changes, the body that creates one)
KINDS: dict[str, tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "appointments": (
        "APPOINTMENT",
        "notes",
        lambda a: (
            {k: a[k] for k in ("doctor", "patient", "office", "exam_room", "duration")}
            | {"scheduled_time": "2026-03-02T10:00:00", "notes": "v0"}
        ),
    ),
    "allergies": (
        "PATIENT_ALLERGY",
        "reaction",
        lambda a: {"doctor": a["doctor"], "patient": a["patient"], "reaction": "v0"},
    ),
}

# Only what the records need (an emulator seeds every endpoint otherwise: slow per example).
SIZES = {name: 0 for name in BY_NAME} | {
    "appointments": 1,
    "patients": 1,
    "allergies": 1,
    "doctors": 1,
    "offices": 1,
}

Op = tuple[str, int]  # ("modify", 0) | ("delete", 0) | ("deliver", index)
ops = st.lists(
    st.one_of(
        st.just(("modify", 0)),
        st.just(("delete", 0)),
        st.tuples(st.just("deliver"), st.integers(0, 50)),
    ),
    max_size=12,
)


class Deliveries:
    """Every delivery the emulator sent (answered 200: the test redelivers them itself)."""

    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, str], bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((dict(request.headers), request.content))
        return httpx.Response(200)


async def play(
    store: Any, resource: str, plan: list[Op], finish: list[int], *, use_client: bool
) -> None:
    clock = VirtualClock()
    emu = Emulator(seed=5, clock=clock, sizes=SIZES)
    stem, field, body = KINDS[resource]
    deliveries = Deliveries()
    emu.webhooks.transport = httpx.MockTransport(deliveries)
    emu.webhooks.register(
        "http://receiver.test/h", SECRET, [f"{stem}_{a}" for a in ("CREATE", "MODIFY", "DELETE")]
    )
    headers = {"Authorization": f"Bearer {emu.access_token}"}
    async with (
        emu.client() as client,
        httpx.AsyncClient(transport=emu.transport, base_url=emu.base_url, headers=headers) as raw,
    ):
        by_sync = not use_client and resource != "appointments"
        if by_sync:  # copied once before: the last sync below is up to date but for the stale
            assert (await Syncer(client, store, resources=[resource]).run()).complete
        created = await raw.post(f"/api/{resource}", json=body(emu.records(resource)[0]))
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
        applied: set[int] = set()

        async def deliver(index: int) -> None:
            hdrs, data = deliveries.sent[index]
            event = parse_delivery(hdrs, data, SECRET)
            await apply_event(store, event, client=client if use_client else None)
            applied.add(index)

        await emu.webhooks.deliver_due()
        deleted = False
        version = 0
        for kind, arg in plan:
            clock.advance(3)  # the emulator's updated_at has whole seconds
            if kind == "modify" and not deleted:
                version += 1
                answer = await raw.patch(f"/api/{resource}/{rid}", json={field: f"v{version}"})
                assert answer.status_code == 204
            elif kind == "delete" and not deleted:
                await delete(emu, raw, resource, rid)
                deleted = True
            elif kind == "deliver":
                await deliver(arg % len(deliveries.sent))
            await emu.webhooks.deliver_due()
        clock.advance(3)
        # Every delivery arrives at least once in the end, in an order of hypothesis's.
        left = [i for i in range(len(deliveries.sent)) if i not in applied]
        for pick in finish:
            if left:
                await deliver(left.pop(pick % len(left)))
        for index in left:
            await deliver(index)
        if by_sync:
            # Without a client, rows of records without a version wait, marked stale, for
            # the next sync of their resource, which GETs them (its listing is not due).
            report = await Syncer(client, store, resources=[resource]).run()
            assert report.complete and report[resource].mode == ""
        answer = await raw.get(f"/api/{resource}/{rid}")  # as a listing shows it
        expected = answer.json() if answer.status_code == 200 else None
        live = expected is not None and not expected.get("deleted_flag")
        assert await store.is_deleted(resource, rid) is (not live)
        if expected is not None:
            assert await store.get(resource, rid) == expected


async def delete(emu: Emulator, raw: httpx.AsyncClient, resource: str, rid: Any) -> None:
    """Delete the record as the practice's staff would."""
    if resource == "appointments":
        assert (await raw.delete(f"/api/{resource}/{rid}")).status_code == 204
        return
    # The API has no DELETE for allergies: they go in DrChrono's own UI, which sends the
    # newer PATIENT_ALLERGY_DELETE event with the record as it was.
    row = emu.tables[resource].lookup(str(rid))
    assert row is not None
    before = (await raw.get(f"/api/{resource}/{rid}")).json()
    emu.tables[resource].remove(row.key)
    emu.webhooks.emit("PATIENT_ALLERGY_DELETE", before)


@asynccontextmanager
async def sqlite_store() -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(":memory:") as store:
        yield store


@asynccontextmanager
async def postgres_store() -> AsyncIterator[PostgresStore]:
    schema = f"test_{uuid.uuid4().hex[:16]}"
    try:
        async with PostgresStore(POSTGRES_DSN, schema=schema) as store:
            yield store
    finally:
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as c:
            await c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


STORES = {"sqlite": (sqlite_store, 60), "postgres": (postgres_store, 8)}


def check(kind: str, resource: str, use_client: bool) -> Callable[..., None]:
    make, examples = STORES[kind]

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(plan=ops, finish=st.lists(st.integers(0, 50), max_size=12))
    def run(plan: list[Op], finish: list[int]) -> None:
        async def go() -> None:
            async with make() as store:
                await play(store, resource, plan, finish, use_client=use_client)

        asyncio.run(go())

    return run


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@pytest.mark.parametrize(
    ("resource", "use_client"),
    [("appointments", False), ("allergies", True), ("allergies", False)],
)
def test_deliveries_in_any_order_end_in_the_final_state(
    kind: str, resource: str, use_client: bool
) -> None:
    if kind == "postgres":
        asyncio.run(postgres_or_skip())
    check(kind, resource, use_client)()
