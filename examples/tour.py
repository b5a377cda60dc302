"""The README's tour, whole: list, filter, page concurrently, write, upload, act and fail,
against an in-memory emulator (no credentials, virtual time). Each block of the README's
"Tour" is a part of `tour()` below, in order; `tests/test_readme.py` checks that they are and
runs this script.

    python examples/tour.py

For the live API, give `tour()` a `DrChronoClient(access_token=...)` (it writes: use a test
practice) and `emulator.local_now()` becomes the practice's local time.
"""

from __future__ import annotations

import asyncio

from drchrono_async import DrChronoClient
from drchrono_async.testing import Emulator, VirtualClock


async def tour(client: DrChronoClient, emulator: Emulator) -> None:
    # -- Listing -------------------------------------------------------------------------
    import datetime as dt

    since = emulator.local_now() - dt.timedelta(days=30)
    updated = [appt async for appt in client.appointments.list(since=since)]
    print(len(updated), "appointments changed in 30 days")

    page = await client.patients.list(page_size=20)
    print(len(page.results), "patients on the first page; more:", page.next is not None)

    async for page in client.doctors.list().pages():
        print([doctor.last_name for doctor in page.results])

    # -- Records -------------------------------------------------------------------------
    doctor = (await client.doctors.list()).results[0]
    print(type(doctor).__name__, doctor.id, sorted(doctor.extra))

    # -- Filtering -----------------------------------------------------------------------
    from drchrono_async import InvalidRequestError

    try:
        client.appointments.list(doctor=1)  # appointments need since, date or date_range
    except InvalidRequestError as exc:
        print(exc)

    doctor_id = doctor.id
    aware = dt.datetime(2025, 6, 1, 9, 30, tzinfo=dt.UTC)  # sent as practice-local time
    mine = [a async for a in client.appointments.list(since=aware, doctor=doctor_id, verbose=True)]
    print(len(mine), "with vitals and clinical note keys (verbose pages hold 50)")

    # -- Concurrency ---------------------------------------------------------------------
    today = emulator.local_now().date()
    year = client.appointments.list(
        date_range=(today - dt.timedelta(days=180), today + dt.timedelta(days=180)),
        shards=8,
        ordered=True,
    )
    count = sum([1 async for _ in year])
    print(count, "appointments in", year.shards, "windows")

    everything = await client.fetch_all(
        {"offices": client.offices.list(), "users": client.users.list()}
    )
    print({name: len(items) for name, items in everything.items()})

    # -- Writing -------------------------------------------------------------------------
    from drchrono_async import ConflictError, records

    office = (await client.offices.list()).results[0]
    patient = (await client.patients.list(page_size=1)).results[0]
    slot = dt.datetime.combine(today + dt.timedelta(days=500), dt.time(9, 0))
    appt = await client.appointments.create(
        {
            "doctor": doctor_id,
            "office": office.id,
            "exam_room": 1,
            "patient": patient.id,
            "scheduled_time": slot,
            "duration": 30,
            "reason": "Follow-up",
        }
    )
    try:
        await client.appointments.create(
            records.Appointment(
                doctor=doctor_id,
                office=office.id,
                exam_room=1,
                patient=patient.id,
                scheduled_time=slot,
                duration=30,
            )
        )
    except ConflictError:
        print("409: overlaps appointment", appt.id)

    await client.appointments.patch(appt.id, notes="Bring the insurance card")
    allergies = await client.allergies.create(
        [{"doctor": doctor_id, "patient": patient.id, "reaction": "Hives"}] * 2
    )
    print(len(allergies), "allergies created in one call")
    await client.appointments.delete(appt.id)

    # -- Uploading -----------------------------------------------------------------------
    document = await client.documents.create(
        {
            "doctor": doctor_id,
            "patient": patient.id,
            "date": today,
            "description": "Referral letter",
            "metatags": ["referral"],
            "document": ("referral.pdf", b"%PDF-1.4 ...", "application/pdf"),
        }
    )
    print(document.document)

    # -- Actions and errors --------------------------------------------------------------
    from drchrono_async import NotFoundError

    me = await client.users.current()  # answered with a redirect, followed with the token
    room = await client.offices.add_exam_room(office.id, name="Room 9")
    xml = await client.patients.ccda(patient.id)
    print("user", me.id, "-", len(room.exam_rooms), "exam rooms -", len(xml), "chars of CCDA")
    try:
        await client.patients.get(1)
    except NotFoundError as exc:
        print(exc.status_code, exc.method, exc.path)

    # -- One client, two kinds of caller -------------------------------------------------
    web = client.with_options(max_wait=2, timeout=5)
    doctors = [d async for d in web.doctors.list()]
    print(len(doctors), "doctors through a view that waits at most 2 s for a permit")


async def main() -> None:
    # Virtual time: the quota's spacing (10 calls a second) is skipped, not slept.
    emulator = Emulator(seed=5, clock=VirtualClock(), sizes={"appointments": 1_500})
    async with emulator.client() as client:
        await tour(client, emulator)


if __name__ == "__main__":
    asyncio.run(main())
