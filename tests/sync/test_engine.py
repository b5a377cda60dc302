"""The sync engine against the emulator: exact copies, incremental runs, deletes, resumption."""

from __future__ import annotations

from typing import Any

import pytest

from drchrono_async._endpoints import BY_NAME
from drchrono_async.errors import InvalidRequestError
from drchrono_async.sync import SQLiteStore, Syncer
from drchrono_async.sync import _planning as planning
from drchrono_async.sync._engine import DEFAULT_RESOURCES
from drchrono_async.sync._planning import default_verbose
from drchrono_async.testing import Emulator, VirtualClock

from ._memory_store import MemoryStore

HOUR = 3600.0
DAY = 86_400.0


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """The in-memory double and the real SQLite store: the engine must not care which."""
    if request.param == "memory":
        yield MemoryStore()
        return
    async with SQLiteStore(tmp_path / "sync.db") as sqlite:
        yield sqlite


def emulator(**sizes: int) -> Emulator:
    return Emulator(seed=7, clock=VirtualClock(), sizes=sizes)


async def assert_equal(
    emu: Emulator, store: Any, resource: str, *, verbose: bool | None = None
) -> None:
    """Every live emulator record is in the store as listed (verbosely, as a sync lists it
    by default, unless `verbose` says); nothing extra is live."""
    endpoint = emu.tables[resource].endpoint
    if verbose is None:
        verbose = default_verbose(endpoint)
    expected = {}
    for row in emu.tables[resource]:
        view = row.view(verbose, endpoint.verbose_keys)
        expected[str(view["id"])] = view
    live = await store.ids(resource, deleted=False)
    flagged = {i for i, v in expected.items() if v.get("deleted_flag") or v.get("archived")}
    assert live == set(expected) - flagged
    for rid, view in expected.items():
        assert await store.get(resource, rid) == view
        assert await store.is_deleted(resource, rid) == (rid in flagged)


async def test_a_first_run_copies_every_record_exactly(store: Any) -> None:
    emu = emulator(appointments=1200, patients=400)
    async with emu.client() as client:
        report = await Syncer(client, store, resources=["appointments", "patients"]).run()
    assert report.complete and report["appointments"].mode == "backfill"
    for resource in ("appointments", "patients"):
        await assert_equal(emu, store, resource)
    assert report.calls == len(emu.requests)  # every call is accounted to a resource


async def test_a_run_with_nothing_changed_costs_one_call_per_since_resource(store: Any) -> None:
    emu = emulator(appointments=300, patients=100)
    async with emu.client() as client:
        syncer = Syncer(client, store)
        first = await syncer.run()
        assert first.complete
        emu.clock.advance(HOUR)  # type: ignore[attr-defined]
        before = len(emu.requests)
        second = await syncer.run()
    since_resources = [r for r in second.resources if r.mode == "incremental"]
    assert second.complete and since_resources
    assert len(emu.requests) - before == second.calls == len(since_resources)
    assert all(r.status == "up to date" for r in second.resources if r.mode == "")


async def test_changes_creates_and_soft_deletes_cost_a_handful_of_calls(store: Any) -> None:
    emu = emulator(appointments=900, patients=300)
    async with emu.client() as client:
        syncer = Syncer(client, store, resources=["appointments", "patients"])
        await syncer.run()
        emu.clock.advance(HOUR)  # type: ignore[attr-defined]
        log = await emu.activity.run(changes=6, creates=4, deletes=3)
        emu.clock.advance(60)  # type: ignore[attr-defined]
        report = await syncer.run()
    assert report.complete and report.calls == 2
    await assert_equal(emu, store, "appointments")
    for rid in log.deleted["appointments"]:
        assert await store.is_deleted("appointments", rid)  # kept, marked
    # Patients deleted through the API vanish from it: still held until a reconciliation.
    for rid in log.deleted["patients"]:
        assert await store.get("patients", rid) is not None


async def test_reconciliation_marks_vanished_records_and_never_drops_them(store: Any) -> None:
    emu = emulator(appointments=200, patients=300)
    async with emu.client() as client:
        syncer = Syncer(client, store, resources=["patients", "appointments"])
        await syncer.run()
        log = await emu.activity.run(changes=0, creates=0, deletes=2, vanish=3)
        emu.clock.advance(DAY + HOUR)  # type: ignore[attr-defined]
        report = await syncer.run()
    assert report.complete and report["patients"].mode == "reconcile"
    gone = log.deleted["patients"] + log.vanished["patients"] + log.vanished["appointments"]
    for rid in gone:
        resource = "appointments" if rid in log.vanished["appointments"] else "patients"
        assert await store.is_deleted(resource, rid) is True
        assert await store.get(resource, rid)  # the last copy is kept
    await assert_equal(emu, store, "patients")


async def test_a_crash_between_pages_resumes_and_ends_exact_with_little_refetching() -> None:
    emu = emulator(appointments=1500, patients=0)
    clean_calls = 0
    async with emu.client() as client:
        clean = MemoryStore()
        await Syncer(client, clean, resources=["appointments"]).run()
        clean_calls = len(emu.requests)
    emu.requests.clear() if hasattr(emu.requests, "clear") else None
    store = MemoryStore()
    crashes = 0
    async with emu.client() as client:
        for _ in range(30):
            store.fail_after = 2  # the third write of each attempt dies before commit
            syncer = Syncer(client, store, resources=["appointments"])
            try:
                report = await syncer.run()
            except RuntimeError:
                crashes += 1
                continue
            if report.complete:
                break
        store.fail_after = None
        assert (await Syncer(client, store, resources=["appointments"]).run()).complete
    assert crashes >= 3
    await assert_equal(emu, store, "appointments")
    assert len(emu.requests) - clean_calls < 2 * clean_calls


async def test_a_failing_page_leaves_the_resource_incomplete_not_complete(store: Any) -> None:
    emu = emulator(appointments=0, patients=600)
    emu.faults.error_rate = 1.0  # every API answer is a 500
    async with emu.client(max_retries=1) as client:
        report = await Syncer(client, store, resources=["patients"]).run()
    assert not report.complete and report["patients"].status == "incomplete"
    assert "ServerError" in report["patients"].reason
    emu.faults.clear()
    async with emu.client() as client:
        assert (await Syncer(client, store, resources=["patients"]).run()).complete
    await assert_equal(emu, store, "patients")


async def test_an_older_redelivery_never_rolls_a_newer_row_back(store: Any) -> None:
    emu = emulator(appointments=0, patients=50)
    async with emu.client() as client:
        syncer = Syncer(client, store, resources=["patients"])
        await syncer.run()
        rid = sorted(await store.ids("patients"))[0]
        old = await store.get("patients", rid)
        emu.clock.advance(HOUR)  # type: ignore[attr-defined]
        await emu.activity.run(changes=0, creates=0, deletes=0)
        await client.patients.patch(int(rid), nick_name="newer")
        emu.clock.advance(60)  # type: ignore[attr-defined]
        await syncer.run()
    new = await store.get("patients", rid)
    assert new is not None and old is not None and new["nick_name"] == "newer"
    from drchrono_async.records import Patient
    from drchrono_async.sync._rows import row_from

    stale = row_from(
        client._resources["patients"]._ctx.converter.structure(old, Patient),
        emu.tables["patients"].endpoint,
    )
    assert stale is not None
    result = await store.write("patients", [stale])
    assert result.skipped == 1 and (await store.get("patients", rid)) == new


def test_resources_and_settings_are_checked() -> None:
    emu = emulator()
    client = emu.client()
    store = MemoryStore()
    for kwargs in (
        {"resources": ["nope"]},
        {"resources": "appointments"},
        {"resources": ["mu_2015_report"]},  # a report: not data of its own
        {"resources": ["appointments"], "verbose": ["patients"]},  # not a resource of it
        {"verbose": "appointments"},
        {"overlap": -1},
        {"shards": 0},
        {"full_every": float("nan")},
    ):
        with pytest.raises(InvalidRequestError):
            Syncer(client, store, **kwargs)  # type: ignore[arg-type]
    assert "appointments" in DEFAULT_RESOURCES and "mu_2015_report" not in DEFAULT_RESOURCES


async def test_endpoints_whose_since_selects_by_creation_are_listed_in_full(store: Any) -> None:
    emu = emulator(appointments=0, patients=0)
    async with emu.client() as client:
        syncer = Syncer(client, store, resources=["lab_orders", "patients"], full_every=DAY)
        await syncer.run()
        emu.clock.advance(HOUR)  # type: ignore[attr-defined]
        second = await syncer.run()
    # patients' since is on updates: one incremental call; lab_orders' is on creation: a
    # since listing would miss changes, so it waits for its daily full listing.
    assert second["patients"].mode == "incremental"
    assert second["lab_orders"].status == "up to date" and second["lab_orders"].calls == 0


async def test_the_plan_costs_a_run_before_it_sends_anything(store: Any) -> None:
    emu = emulator(appointments=1000, patients=600)
    async with emu.client() as client:
        syncer = Syncer(client, store, resources=["appointments", "patients"])
        before = len(emu.requests)
        plan = await syncer.plan()
        assert len(emu.requests) == before  # planning sends nothing
        modes = {i.resource: i.mode for i in plan.items}
        assert modes == {"appointments": "backfill", "patients": "full"}
        # One `since` chain: its floor is one call (windows, with shards, one each).
        assert {i.resource: i.calls for i in plan.items}["appointments"] == 1
        sharded = Syncer(client, store, resources=["appointments"], shards=3)
        spans = planning.windows(
            BY_NAME["appointments"], syncer.server_now(), client.timezone, sharded.settings
        )
        assert (await sharded.plan()).items[0].calls == len(spans) > 3
        first = await syncer.run()
        assert first.calls >= plan.calls and plan.quota_hours == 1
        emu.clock.advance(HOUR)  # type: ignore[attr-defined]
        again = await syncer.plan()
        assert {i.mode for i in again.items} == {"incremental"} and again.calls == 2


async def test_resources_whose_scope_was_not_granted_are_skipped_not_mistaken_for_empty(
    store: Any,
) -> None:
    from drchrono_async.oauth import MemoryTokenStore, OAuthApp, Token

    emu = emulator(appointments=50, patients=20)
    issued = emu.oauth.issue_token(emu.current_user_id)
    issued.scope = "patients:read"  # the user granted patients only
    app = OAuthApp(
        emu.client_id,
        emu.client_secret,
        emu.redirect_uri,
        base_url=emu.base_url,
        transport=emu.transport,
        clock=emu.clock,
    )
    token = Token(issued.access, issued.refresh, emu.clock.now() + DAY, scope=issued.scope)
    async with emu.client(access_token=None, oauth=app, token_store=MemoryTokenStore(token)) as c:
        report = await Syncer(c, store, resources=["appointments", "patients"]).run()
    await app.aclose()
    assert report["patients"].status == "complete" and report["patients"].records > 0
    assert report["appointments"].status == "skipped" and report["appointments"].calls == 0
    assert "calendar" in report["appointments"].reason and not report.complete


async def test_shards_cut_the_past_from_the_earliest_record_and_lose_nothing() -> None:
    """With shards > 1 a one-record probe finds where records begin; the past from there is
    cut into equal spans (the emulator's year of history into about equal windows), while the
    first window still starts at `backfill_from`."""
    emu = emulator(appointments=3000, patients=0)
    store = MemoryStore()
    async with emu.client() as client:
        syncer = Syncer(client, store, resources=["appointments"], shards=4)
        report = await syncer.run()
    assert report.complete
    await assert_equal(emu, store, "appointments")
    probes = [e for e in emu.requests if e.query.get("page_size") == "1"]
    assert len(probes) == 1  # the probe is one call, counted in the report
    assert report.calls == len(emu.requests)
    windows = sorted(
        {e.query["date_range"] for e in emu.requests if "date_range" in e.query and e not in probes}
    )
    today = emu.local_now().date().isoformat()
    past = [w for w in windows if w.split("/")[1] < today]
    assert len(past) == 4 and past[0].startswith(syncer.settings.backfill_from.isoformat())
    dates = [r["scheduled_time"][:10] for r in emu.records("appointments")]
    held = [sum(1 for d in dates if a <= d <= b) for a, b in (w.split("/") for w in past)]
    assert min(held) > 0.15 * sum(held)  # balanced: no window holds (nearly) everything


async def test_a_backfill_by_one_since_chain_costs_exactly_the_minimum() -> None:
    emu = emulator(appointments=5000, patients=0)
    store = MemoryStore()
    async with emu.client() as client:
        report = await Syncer(client, store, resources=["appointments"]).run()
    # Verbose by default: pages of 50; one chain, so only its last page is partial.
    minimum = -(-5000 // BY_NAME["appointments"].max_page_size_for(True))
    assert report["appointments"].calls == minimum
    assert all("since" in e.query and "date_range" not in e.query for e in emu.requests)
    # Every date at once, however far ahead (windows stopped at 380 days).
    await assert_equal(emu, store, "appointments")


async def test_a_fixed_token_with_stated_scopes_skips_what_it_cannot_read() -> None:
    emu = emulator(appointments=50, patients=20)
    async with emu.client() as client:
        syncer = Syncer(
            client,
            MemoryStore(),
            resources=["appointments", "patients"],
            granted_scopes="patients:read user",
        )
        report = await syncer.run()
    assert report["patients"].status == "complete"
    assert report["appointments"].status == "skipped" and report["appointments"].calls == 0
    assert not any(e.path.startswith("/api/appointments") for e in emu.requests)
    with pytest.raises(InvalidRequestError):
        Syncer(client, MemoryStore(), granted_scopes=["", "x"])


async def test_the_sync_takes_background_permits_and_leaves_the_client_as_it_was() -> None:
    from drchrono_async import HourlyQuota

    emu = emulator(patients=30)
    quota = HourlyQuota(limit=10**6, clock=emu.clock)
    lanes: list[str] = []
    acquire = quota.acquire

    async def recording(*, max_wait: Any = None, priority: Any = "interactive") -> Any:
        lanes.append(str(priority))
        return await acquire(max_wait=max_wait, priority=priority)

    quota.acquire = recording  # type: ignore[method-assign]
    async with emu.client(quota=quota) as client:
        report = await Syncer(client, MemoryStore(), resources=["patients"]).run()
        assert report.complete and lanes and set(lanes) == {"background"}
        lanes.clear()
        await client.patients.get(int(emu.records("patients")[0]["id"]))
        assert lanes == ["interactive"]  # the caller's own client keeps its lane


async def test_a_sync_held_off_by_the_reserve_says_when_the_reserve_is_released() -> None:
    from drchrono_async import HourlyQuota

    emu = emulator(patients=2000)  # 8 pages at the largest page size
    clock = emu.clock
    quota = HourlyQuota(limit=10, reserve=4, clock=clock)  # 6 background permits, then held
    async with emu.client(quota=quota, max_wait=0) as client:
        report = await Syncer(client, MemoryStore(), resources=["patients"]).run()
    patients = report["patients"]
    assert patients.status == "incomplete" and patients.calls == 6
    assert patients.reason.startswith("QuotaExhaustedError")
    window_end = quota.snapshot().resets_at
    # Not the reset: the reserve's release, the window's last minute (a 60th of an hour).
    assert patients.retry_at is not None
    assert window_end - 61 <= patients.retry_at <= window_end - 59


async def test_a_stop_wastes_no_call_of_the_chains_in_flight() -> None:
    """With several windows in flight, stop() lets each write the page it asked for: every
    call of the run is a page written (or the probe), none thrown away."""
    emu = Emulator(
        seed=7,
        clock=VirtualClock(),
        sizes={"appointments": 2500, "patients": 0},
        latency=(0.1, 0.5),
    )  # every window in flight, answers apart
    store = MemoryStore()
    async with emu.client() as client:
        syncer: Syncer

        def progress(report: Any) -> None:
            if report.pages >= 1:
                syncer.stop()

        syncer = Syncer(client, store, resources=["appointments"], shards=3, progress=progress)
        report = await syncer.run()
        part = report["appointments"]
        assert part.status == "incomplete" and part.pages > 1  # siblings' pages came in too
        assert part.calls == part.pages + 1  # + the probe
        again = await Syncer(client, store, resources=["appointments"], shards=3).run()
    assert again.complete
    await assert_equal(emu, store, "appointments")
