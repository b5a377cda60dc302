"""The fleet's routing index: a delivery no owner decides (an id-only DELETE, a clinical
note) is routed by one indexed read of `webhook_records`, taught by the deliveries applied
before it and by the fallback lookups of the practices' copies. Real PostgreSQL; each test's
registry schema (and its practices' schemas) is its own and dropped after.

The fallback is made blind in two ways to prove the index alone answered: the registry's
`schema_name` of a practice pointed at a schema that does not exist (the copies' lookup reads
it; a practice's store does not), or the fake copy's table dropped. Each blinding is shown to
blind (a control lookup the index cannot answer comes back unrouted)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from drchrono_async.errors import InvalidRequestError
from drchrono_async.fleet import PracticeRegistry, webhook_app
from drchrono_async.fleet._routing import Routing
from drchrono_async.testing import VirtualClock

from .conftest import POSTGRES_DSN
from .test_webhooks_routing import EVENTS, fixed, fleet, patch, row


async def sql(statement: str, *args: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        cur = await conn.execute(statement, args)
        return await cur.fetchall() if cur.description else []


async def practices(registry: PracticeRegistry, *keys: str) -> None:
    """Registered practices (no API call is made), each with a synced copy of appointments
    of its own: a table with an id column, as the fallback looks for."""
    for key in keys:
        await registry.add(key, fixed(f"token-{key}"), base_url="http://unused.test", auth="fixed")
        schema = registry.practice_schema(key)
        await sql(f'CREATE SCHEMA "{schema}"')
        await sql(f'CREATE TABLE "{schema}".appointments (id text PRIMARY KEY)')


async def hold(registry: PracticeRegistry, key: str, *ids: str) -> None:
    for rid in ids:
        await sql(f'INSERT INTO "{registry.practice_schema(key)}".appointments VALUES (%s)', rid)


async def blind(registry: PracticeRegistry, key: str) -> None:
    """The copies' lookup no longer sees `key`'s copy (its store still does)."""
    await sql(
        f'UPDATE "{registry.schema}".practices SET schema_name = %s WHERE key = %s',
        f"{registry.schema}_nowhere",
        key,
    )


async def forget(registry: PracticeRegistry, resource: str, rid: str) -> None:
    await sql(
        f'DELETE FROM "{registry.schema}".webhook_records WHERE resource = %s AND id = %s',
        resource,
        rid,
    )


async def test_an_id_only_delete_routes_by_the_index_a_routed_modify_taught(
    registry: PracticeRegistry,
) -> None:
    events = (*EVENTS, "APPOINTMENT_DELETE")
    async with fleet(registry, events=events) as (emu, _, app):
        routing = app.routing
        first, second = emu.practice(1).records("appointments")[:2]
        await routing.learn("south", "doctor", [str(first["doctor"]), str(second["doctor"])])
        await patch(emu, 1, "appointments", first["id"], {"notes": "routed by its doctor"})
        await patch(emu, 1, "appointments", second["id"], {"notes": "the control"})
        assert [e.status for e in await emu.webhooks.deliver_due()] == [200, 200]
        # Each apply taught the index, in the statement that records the apply.
        for appointment in (first, second):
            entries = await routing.index.entries("appointments", str(appointment["id"]))
            assert entries == {"south": True}

        await blind(registry, "south")
        # The control: an id the index does not know is not found by the blinded copies.
        await forget(registry, "appointments", str(second["id"]))
        control = await routing.route("appointments", {"id": second["id"]})
        assert (control.practice, control.reason) == (None, "unknown")

        # The id-only DELETE of the first: the index alone routes it, end to end.
        emu.webhooks.emit("APPOINTMENT_DELETE", {"id": first["id"]}, practice=1)
        assert [e.status for e in await emu.webhooks.deliver_due()] == [200]
        async with registry.data_store("south") as store:
            assert await store.is_deleted("appointments", first["id"]) is True
        assert await row(registry, "north", "appointments", first["id"]) is None
        assert app.deliveries.counts["applied"] == 3
        assert await routing.unrouted() == []
        # A clinical note keys on its appointment: the same entry routes it.
        note = await routing.route("clinical_notes", {"appointment": first["id"]})
        assert note.practice == "south"


async def test_the_fallback_learns_so_the_next_lookup_is_the_index(
    registry: PracticeRegistry,
) -> None:
    await practices(registry, "north", "south")
    await hold(registry, "south", "A1")
    routing = Routing(registry)
    assert await routing.index.entries("appointments", "A1") == {}
    assert (await routing.route("appointments", {"id": "A1"})).practice == "south"
    assert await routing.index.entries("appointments", "A1") == {"south": True}

    await sql(f'DROP TABLE "{registry.practice_schema("south")}".appointments')
    assert (await routing.route("appointments", {"id": "A1"})).practice == "south"
    assert (await routing.route("clinical_notes", {"appointment": "A1"})).practice == "south"
    # The control: without its entry, the dropped copy is not found.
    await forget(registry, "appointments", "A1")
    assert (await routing.route("appointments", {"id": "A1"})).reason == "unknown"

    # An applied clinical note teaches its appointment's entry; an object without its key
    # teaches nothing and the apply is still recorded (one statement for both).
    await routing.applied("north", "clinical_notes", {"appointment": "A9"})
    assert await routing.index.entries("appointments", "A9") == {"north": True}
    await routing.applied("north", "patients", {"doctor": 7})
    assert await routing.last_delivery("north", "patients") is not None
    found = await sql(f'SELECT resource, id, practice FROM "{registry.schema}".webhook_records')
    assert found == [("appointments", "A9", "north")]


async def test_an_index_entry_of_a_removed_practice_does_not_route_there(
    registry: PracticeRegistry,
) -> None:
    await practices(registry, "north", "south")
    routing = Routing(registry)
    await routing.index.learn("appointments", "A1", ["south"])
    await registry.remove("south")
    route = await routing.route("appointments", {"id": "A1"})
    assert (route.practice, route.reason) == (None, "inactive")
    # The active practices' copies are still asked: one that holds it is found (and learned).
    await hold(registry, "north", "A1")
    assert (await routing.route("appointments", {"id": "A1"})).practice == "north"
    entries = await routing.index.entries("appointments", "A1")
    assert entries == {"north": True, "south": False}


async def test_an_id_two_practices_hold_stays_ambiguous_by_copies_and_by_index(
    registry: PracticeRegistry,
) -> None:
    await practices(registry, "north", "south")
    await hold(registry, "north", "A1")
    await hold(registry, "south", "A1")
    routing = Routing(registry)
    route = await routing.route("appointments", {"id": "A1"})
    assert (route.practice, route.reason) == (None, "ambiguous")
    assert await routing.index.entries("appointments", "A1") == {"north": True, "south": True}
    for key in ("north", "south"):
        await blind(registry, key)
    route = await routing.route("appointments", {"id": "A1"})
    assert (route.practice, route.reason) == (None, "ambiguous")
    # Two applies of one id to two practices: both kept, the id stays ambiguous.
    await routing.applied("north", "tasks", {"id": 55})
    await routing.applied("south", "tasks", {"id": 55})
    route = await routing.route("tasks", {"id": 55})
    assert (route.practice, route.reason) == (None, "ambiguous")


async def test_the_purge_removes_old_entries_only_and_at_most_hourly(
    registry: PracticeRegistry,
) -> None:
    for retention in (3599, 367 * 86_400, float("nan")):
        with pytest.raises(InvalidRequestError, match="index_retention"):
            Routing(registry, index_retention=retention)
    await practices(registry, "north")
    clock = VirtualClock(start=1_900_000_000.0, autojump=False)
    app = webhook_app(registry, "whsec-unused", clock=clock, index_retention=86_400)
    routing, index = app.routing, app.routing.index
    await routing.applied("north", "appointments", {"id": "old"})
    await routing.applied("north", "appointments", {"id": "busy"})
    clock.advance(12 * 3600)
    await routing.applied("north", "appointments", {"id": "young"})
    await routing.applied("north", "appointments", {"id": "busy"})  # refreshed: 12 h old
    learned = f'SELECT learned_at FROM "{registry.schema}".webhook_records WHERE id = %s'
    (before,) = await sql(learned, "young")
    clock.advance(600)
    # Not rewritten by every delivery: refreshed only once a tenth of the retention old.
    await routing.applied("north", "appointments", {"id": "young"})
    assert await sql(learned, "young") == [before]
    clock.advance(12 * 3600 + 1 - 600)
    # The housekeeping of the kept deliveries' retry purges.
    assert await app.retry_unrouted() == (0, 0, 0)
    for rid, kept in (("old", False), ("busy", True), ("young", True)):
        assert bool(await index.entries("appointments", rid)) is kept

    # Within the hour, an old entry waits for the next purge.
    await sql(
        f'INSERT INTO "{registry.schema}".webhook_records VALUES (%s, %s, %s, %s)',
        "appointments",
        "stale",
        "north",
        "2020-01-01T00:00:00Z",
    )
    clock.advance(3599)
    assert await index.purge_if_due() == 0
    assert await index.entries("appointments", "stale") == {"north": True}
    clock.advance(1)
    assert await index.purge_if_due() == 1
    assert await index.entries("appointments", "stale") == {}
    assert await index.entries("appointments", "young") == {"north": True}


async def test_an_existing_registry_gains_the_index_at_its_next_open(
    registry: PracticeRegistry,
) -> None:
    await practices(registry, "north")
    await sql(f'DROP TABLE "{registry.schema}".webhook_records')  # a registry from before it
    async with PracticeRegistry(POSTGRES_DSN, schema=registry.schema) as again:
        routing = Routing(again)
        await routing.applied("north", "appointments", {"id": "A1"})
        assert await routing.index.entries("appointments", "A1") == {"north": True}
    async with PracticeRegistry(POSTGRES_DSN, schema=registry.schema) as third:  # idempotent
        assert await Routing(third).index.entries("appointments", "A1") == {"north": True}
