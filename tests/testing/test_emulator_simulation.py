"""The activity simulation (`Simulation`: Poisson changes at the documented rates, made on the
emulator's clock) and lossy webhooks (`webhooks.loss`, `redelivery_after`, `deliver_forever`)."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest

from drchrono_async.errors import InvalidRequestError
from drchrono_async.testing import ACTIVITY_RATES, Emulator, Rate, Simulation, VirtualClock

from .conftest import START

DAY = 86_400.0
TINY = {"appointments": 40, "patients": 20, "problems": 10, "medications": 10, "allergies": 10}
REFERENCE = ("offices", "doctors", "users", "fee_schedules")


class Sink:
    """An ASGI receiver answering `statuses` in turn (then the last forever); records the
    delivery ids it was sent."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses) or [200]
        self.ids: list[str] = []
        self.objects: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        self.ids.append(headers[b"x-drchrono-delivery"].decode())
        self.objects.append(orjson.loads(body)["object"])
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def emulator(practices: int = 3) -> Emulator:
    return Emulator(seed=3, clock=VirtualClock(start=START), practices=practices, sizes=TINY)


def within(count: float, expected: float, sigmas: float = 4.0) -> bool:
    """A Poisson count within `sigmas` standard deviations of its mean."""
    return abs(count - expected) <= sigmas * math.sqrt(max(expected, 1.0))


# --- the rates ------------------------------------------------------------------------------


def test_a_plan_draws_the_documented_rates() -> None:
    sim = Simulation(emulator(), ["small", "medium", "large"], seed=1)
    days = 28
    planned = sim.plan(days * DAY)
    assert planned == sorted(planned, key=lambda c: c.at)
    assert all(0 <= c.at < days * DAY for c in planned)
    counts = Counter((c.practice, c.resource, c.kind) for c in planned)
    for practice, size in enumerate(["small", "medium", "large"]):
        for resource, rate in ACTIVITY_RATES[size].items():
            for kind, per_day in (("create", rate.creates), ("change", rate.changes)):
                got = counts[(practice, resource, kind)]
                if resource in REFERENCE:
                    continue  # too few to test one by one: summed below
                assert within(got, per_day * days), (size, resource, kind, got, per_day * days)
    # Reference data: rare (a few a month per practice), but there.
    reference = sum(1 for c in planned if c.resource in REFERENCE)
    expected = sum(
        ACTIVITY_RATES[s][r].changes * days for s in ("small", "medium", "large") for r in REFERENCE
    )
    assert within(reference, expected)
    assert reference < 0.01 * len(planned)
    # Sizes order the volume: a large practice works ten times a small one's pace.
    per_practice = Counter(c.practice for c in planned)
    assert per_practice[0] < per_practice[1] < per_practice[2]
    assert 8 < per_practice[2] / per_practice[0] < 12
    # Fewer patient changes than appointment changes, fewer clinical ones still.
    by_resource = Counter(c.resource for c in planned)
    assert by_resource["appointments"] > 5 * by_resource["patients"] > 0
    assert by_resource["patients"] > by_resource["allergies"] > reference


def test_a_plan_is_the_seeds_and_each_practice_its_own() -> None:
    emu = emulator()
    three = Simulation(emu, ["small", "medium", "large"], seed=1).plan(DAY)
    assert three == Simulation(emu, ["small", "medium", "large"], seed=1).plan(DAY)
    assert three != Simulation(emu, ["small", "medium", "large"], seed=2).plan(DAY)
    # A practice added (or removed) changes no other practice's changes.
    two = Simulation(emu, ["small", "medium"], seed=1).plan(DAY)
    assert [c for c in three if c.practice < 2] == two
    only = Simulation(emu, ["large"], seed=1, resources=["patients"]).plan(DAY)
    assert {c.resource for c in only} == {"patients"}


def test_bad_profiles_and_durations_are_refused() -> None:
    emu = emulator(2)
    for profiles in ("small", ["huge"], ["small"] * 3, [{"doctors": Rate(creates=1)}]):
        with pytest.raises(InvalidRequestError):
            Simulation(emu, profiles)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        Simulation(emu, [{"patients": Rate(changes=-1)}])
    with pytest.raises(InvalidRequestError):
        Simulation(emu, ["small"], scale=0)
    with pytest.raises(InvalidRequestError):
        Simulation(emu, ["small"]).plan(math.inf)


# --- a run on the emulator's clock ----------------------------------------------------------


async def test_a_run_makes_each_change_at_its_scaled_time_and_records_its_version() -> None:
    emu = emulator(2)
    sink = Sink()
    emu.webhooks.transport = httpx.ASGITransport(sink)
    emu.webhooks.register("http://sink.test/h", "s3cret", ["APPOINTMENT_MODIFY"])
    sim = Simulation(emu, ["large", "small"], seed=4, scale=600.0)
    start = emu.clock.now()
    planned = sim.plan(6 * 3600)
    made = await sim.run(6 * 3600)
    assert sim.failed == 0 and made == sim.changes and len(made) == len(planned) > 50
    for plan, change in zip(planned, made, strict=True):
        assert (change.practice, change.resource, change.kind) == (
            plan.practice,
            plan.resource,
            plan.kind,
        )
        # 600 times faster: six hours in 36 clock seconds, each change at its own time.
        assert change.at == pytest.approx(start + plan.at / 600.0, abs=1e-6)
    assert emu.clock.now() - start <= 36.0
    # The record holds the version of its last change; a created record exists.
    last: dict[tuple[int, str, str], str] = {}
    for change in made:
        if change.marker is not None:
            last[(change.practice, change.resource, change.id)] = change.marker
        else:
            assert emu.practice(change.practice).record(change.resource, change.id) is not None
    for (practice, resource, record_id), marker in last.items():
        record = emu.practice(practice).record(resource, record_id)
        assert record is not None and marker in record.values()
    # Every appointment change raised its delivery (reference data raises none).
    await emu.webhooks.deliver_due()
    changed = [c for c in made if c.resource == "appointments" and c.kind == "change"]
    assert len(sink.ids) == len(changed)
    assert [o["notes"] for o in sink.objects] == [c.marker for c in changed]


async def test_reference_data_is_changed_in_place_without_a_webhook() -> None:
    emu = emulator(1)
    sink = Sink()
    emu.webhooks.transport = httpx.ASGITransport(sink)
    emu.webhooks.register("http://sink.test/h", "s3cret", ["PATIENT_MODIFY"])
    emu.clock.advance(3600)  # type: ignore[attr-defined]
    act = await emu.activity.act("fee_schedules", "change")
    record = emu.record("fee_schedules", act.id)
    assert record is not None and record["description"] == act.marker
    assert record["updated_at"] == emu.local_now().isoformat(timespec="seconds")
    assert await emu.webhooks.deliver_due() == []
    with pytest.raises(InvalidRequestError):
        await emu.activity.act("doctors", "create")
    with pytest.raises(InvalidRequestError):
        await emu.activity.act("patients", "erase")


# --- lossy webhooks ---------------------------------------------------------------------------


async def test_loss_drops_the_set_share_for_good_and_the_log_names_them() -> None:
    emu = emulator(1)
    sink = Sink(500)  # every first attempt fails: redeliveries are due too
    emu.webhooks.transport = httpx.ASGITransport(sink)
    emu.webhooks.register("http://sink.test/h", "s3cret", ["PATIENT_MODIFY"])
    emu.webhooks.loss = 0.1
    total = 600
    queued = [
        d
        for i in range(total)
        for d in emu.webhooks.emit("PATIENT_MODIFY", {"id": 5_000_000 + i}, practice=0)
    ]
    assert len(queued) == total
    lost = [e for e in emu.webhooks.log if e.outcome == "lost"]
    assert abs(len(lost) - 0.1 * total) <= 4 * math.sqrt(total * 0.1 * 0.9)
    assert [e.delivery_id for e in lost] == emu.webhooks.lost
    assert all(e.attempt == 0 and e.status is None and e.record_id is not None for e in lost)
    sink.statuses = [500]
    for _ in range(4):  # the first attempt and the three redeliveries
        await emu.webhooks.deliver_due()
        emu.clock.advance(8 * 3600)  # type: ignore[attr-defined]
    sent = Counter(sink.ids)
    lost_ids = set(emu.webhooks.lost)
    assert not lost_ids & set(sent)  # never sent, not even again
    assert set(sent) == set(queued) - lost_ids
    assert set(sent.values()) == {4}


async def test_no_loss_draws_nothing_and_full_loss_sends_nothing() -> None:
    plain, lossless = emulator(1), emulator(1)
    lossless.webhooks.loss = 0.0
    ids = []
    for emu in (plain, lossless):
        emu.webhooks.register("http://sink.test/h", "s3cret", ["PATIENT_MODIFY"])
        ids.append([emu.webhooks.emit("PATIENT_MODIFY", {"id": i})[0] for i in range(5)])
    assert ids[0] == ids[1] and not plain.webhooks.lost
    plain.webhooks.loss = 1
    plain.webhooks.emit("PATIENT_MODIFY", {"id": 9})
    assert len(plain.webhooks.lost) == 1 and len(plain.webhooks.pending) == 5
    for bad in (-0.1, 1.5, math.nan, "0.1", True):
        with pytest.raises(InvalidRequestError):
            plain.webhooks.loss = bad  # type: ignore[assignment]


async def test_redelivery_delays_shorten_with_the_hour_and_deliver_forever_sends() -> None:
    emu = emulator(1)
    sink = Sink(500, 500, 200)
    emu.webhooks.transport = httpx.ASGITransport(sink)
    emu.webhooks.register("http://sink.test/h", "s3cret", ["PATIENT_MODIFY"])
    emu.webhooks.redelivery_after = (36.0, 108.0, 252.0)  # an hour of 36 s
    start = emu.clock.now()
    emu.webhooks.emit("PATIENT_MODIFY", {"id": 1})
    runner = asyncio.create_task(emu.webhooks.deliver_forever(1.0))
    while len(sink.ids) < 3:
        await emu.clock.sleep(1.0)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    attempts = [(e.attempt, e.outcome, e.at - start) for e in emu.webhooks.log]
    assert attempts == [(1, "failed", 0.0), (2, "failed", 36.0), (3, "delivered", 108.0)]
    for bad in ((36.0, 36.0), (-1.0,), "36", (1.0,) * 11, (math.inf,)):
        with pytest.raises(InvalidRequestError):
            emu.webhooks.redelivery_after = bad  # type: ignore[assignment]
    with pytest.raises(InvalidRequestError):
        await emu.webhooks.deliver_forever(0)


async def test_staff_work_is_never_throttled_by_the_api_quota() -> None:
    emu = Emulator(seed=3, clock=VirtualClock(start=START), sizes=TINY, quota=2)
    for _ in range(5):  # more than the quota, all made
        await emu.activity.act("patients", "change")
    assert emu.count(status=429) == 0 and emu.count(status=204) == 5
    headers = {"Authorization": f"Bearer {emu.access_token}"}
    async with httpx.AsyncClient(
        transport=emu.transport, base_url=emu.base_url, headers=headers
    ) as client:
        statuses = [(await client.get("/api/doctors")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # the application's own calls still are


async def test_deliveries_go_out_concurrency_at_a_time_in_due_order() -> None:
    emu = emulator(1)
    inflight = peak = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal inflight, peak
        while (await receive()).get("more_body"):
            pass
        inflight += 1
        peak = max(peak, inflight)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        inflight -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    emu.webhooks.transport = httpx.ASGITransport(app)
    emu.webhooks.register("http://sink.test/h", "s3cret", ["PATIENT_MODIFY"])
    ids = [emu.webhooks.emit("PATIENT_MODIFY", {"id": i})[0] for i in range(10)]
    emu.webhooks.concurrency = 4
    made = await emu.webhooks.deliver_due()
    assert [e.delivery_id for e in made] == ids and {e.outcome for e in made} == {"delivered"}
    assert peak == 4
    with pytest.raises(InvalidRequestError):
        emu.webhooks.concurrency = 0
