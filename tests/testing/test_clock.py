import asyncio

import pytest

from drchrono_async.ratelimit import Clock
from drchrono_async.testing import VirtualClock


def test_is_a_clock() -> None:
    assert isinstance(VirtualClock(), Clock)


async def test_autojump_wakes_sleepers_in_deadline_order() -> None:
    clock = VirtualClock(start=1000.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, s: float) -> None:
        await clock.sleep(s)
        woke.append((name, clock.now()))

    await asyncio.gather(sleeper("late", 3600), sleeper("early", 5), sleeper("mid", 60))
    assert woke == [("early", 1005.0), ("mid", 1060.0), ("late", 4600.0)]


async def test_time_does_not_jump_while_work_is_runnable() -> None:
    clock = VirtualClock(start=0.0)
    steps = 0

    async def busy() -> None:
        nonlocal steps
        for _ in range(200):
            steps += 1
            await asyncio.sleep(0)

    async def sleeper() -> float:
        await clock.sleep(10)
        return steps

    seen, _ = await asyncio.gather(sleeper(), busy())
    assert seen == 200  # the jump waited for the busy task to finish


async def test_cancelled_sleeper_does_not_block_others() -> None:
    clock = VirtualClock(start=0.0)
    task = asyncio.create_task(clock.sleep(5))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await clock.sleep(10)
    assert clock.now() == 10.0


async def test_manual_advance_without_autojump() -> None:
    clock = VirtualClock(start=0.0, autojump=False)
    task = asyncio.create_task(clock.sleep(30))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()
    clock.advance(29)
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(1)
    await task
    assert clock.now() == 30.0
