"""The practices registry: add, list, remove, tokens under the practice key."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from drchrono_async.errors import InvalidRequestError, StoreError
from drchrono_async.fleet import PracticeRegistry
from drchrono_async.fleet._app import EVERY
from drchrono_async.oauth import Token

from .conftest import POSTGRES_DSN


def token(n: int = 1) -> Token:
    return Token(f"access-{n}", f"refresh-{n}", 2_000_000_000.0, scope="patients:read")


async def test_add_list_remove(registry: PracticeRegistry) -> None:
    added = await registry.add(
        "acme",
        token(1),
        name="Acme Clinic",
        base_url="http://127.0.0.1:9/",
        resources=["appointments"],
    )
    await registry.add("beta", token(2), auth="fixed", timezone="America/New_York")
    assert added.schema == f"{registry.schema}_p_acme"
    assert added.base_url == "http://127.0.0.1:9"
    assert added.resources == ("appointments",)
    listed = await registry.practices()
    assert [p.key for p in listed] == ["acme", "beta"]
    assert listed[1].resources is None and listed[1].auth == "fixed"
    assert listed[1].timezone == "America/New_York"
    # Each practice's token under its own key, never mixed.
    loaded = await registry.token_store("acme").load()
    assert loaded is not None and loaded.access_token == "access-1"
    other = await registry.token_store("beta").load()
    assert other is not None and other.access_token == "access-2"

    assert await registry.remove("acme") is True
    assert await registry.remove("nobody") is False
    assert [p.key for p in await registry.practices(active_only=True)] == ["beta"]
    assert [p.active for p in await registry.practices()] == [False, True]
    # Adding again re-activates and updates.
    again = await registry.add("acme", token(3), name="Acme 2")
    assert again.active and again.name == "Acme 2" and again.resources is None
    reloaded = await registry.token_store("acme").load()
    assert reloaded is not None and reloaded.access_token == "access-3"


async def test_usage_counts_per_practice(registry: PracticeRegistry) -> None:
    assert await registry.spend("acme", 5, window=3600) == 5
    assert await registry.spend("acme", 7, window=3600) == 12
    assert await registry.spent("beta", window=3600) == 0


@pytest.mark.parametrize(
    ("key", "options"),
    [
        ("Acme", {}),  # upper case would escape the schema name rule
        ("a" * 33, {}),
        ("x; drop", {}),
        ("ok", {"resources": ["no_such_endpoint"]}),
        ("ok", {"resources": "appointments"}),
        ("ok", {"base_url": "ftp://example.com"}),
        ("ok", {"base_url": "https://user:pw@example.com"}),
        ("ok", {"name": "bad\nname"}),
        ("ok", {"auth": "magic"}),
        ("ok", {"timezone": "Mars/Olympus"}),
    ],
)
async def test_bad_values_are_refused(
    registry: PracticeRegistry, key: str, options: dict[str, object]
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await registry.add(key, token(), **options)  # type: ignore[arg-type]
    assert "pw" not in str(caught.value)
    assert await registry.practices() == []


def test_repr_names_no_dsn() -> None:
    registry = PracticeRegistry("postgresql://u:secret-pw@127.0.0.1/test", schema="fleet_x")
    assert "secret-pw" not in repr(registry)


@pytest.mark.parametrize(
    ("every", "crons"),
    [
        (15, ["*/15 * * * *"]),
        (1, ["*/1 * * * *"]),
        (60, ["0 */1 * * *"]),
        (180, ["0 */3 * * *"]),
        (1440, ["0 0 * * *"]),
        (0, []),
    ],
)
def test_every_sets_the_periodic_schedule_and_zero_turns_it_off(
    every: int, crons: list[str]
) -> None:
    from drchrono_async.fleet import FleetConfig, build_app

    app = build_app(FleetConfig("postgresql://u@127.0.0.1/test", every=every))
    assert [t.cron for t in app.periodic_registry.periodic_tasks.values()] == crons
    assert "drchrono_async.fleet.schedule" in app.tasks  # still callable by hand


@pytest.mark.parametrize("every", [e for e in EVERY if e])
def test_every_is_the_period_between_two_scheduled_syncs(every: int) -> None:
    # The schedule as procrastinate reads it (croniter), over two days from an odd moment:
    # every gap is `every` minutes. (`*/45` fired at :00 and :45: gaps of 15 and 45.)
    import croniter

    from drchrono_async.fleet import FleetConfig, build_app

    app = build_app(FleetConfig("postgresql://u@127.0.0.1/test", every=every))
    (task,) = app.periodic_registry.periodic_tasks.values()
    it = croniter.croniter(task.cron, dt.datetime(2024, 2, 28, 23, 17, 42))
    times = [it.get_next(dt.datetime) for _ in range(2 * 1440 // every + 2)]
    assert {round((b - a).total_seconds() / 60) for a, b in itertools.pairwise(times)} == {every}


@pytest.mark.parametrize("every", [-1, 7, 45, 59, 90, 300, 1441, 2880, 1.5, 15.0, True, "15"])
def test_every_is_checked(every: object) -> None:
    from drchrono_async.fleet import FleetConfig

    with pytest.raises(InvalidRequestError, match="every must be"):
        FleetConfig("postgresql://u@127.0.0.1/test", every=every)  # type: ignore[arg-type]


async def test_the_registry_closes_as_everything_else_does(fleet_schema: str) -> None:
    registry = PracticeRegistry(POSTGRES_DSN, schema=fleet_schema)
    await registry.open()
    assert await registry.practices() == []
    await registry.aclose()
    await registry.aclose()  # safe twice
    await registry.close()  # the older name, kept
    with pytest.raises(StoreError):
        await registry.practices()
    async with PracticeRegistry(POSTGRES_DSN, schema=fleet_schema) as again:
        assert await again.practices() == []
    with pytest.raises(StoreError):
        await again.practices()
