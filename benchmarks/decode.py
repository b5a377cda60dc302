"""Decode a page of 250 appointments: JSON parsing alone, and parsing plus typed records.

Run: `python benchmarks/decode.py` (from the repository root, with the `bench` extra installed).
The variants run interleaved round by round (`_bench.interleave`: the order rotated each
round), so drift of a shared machine's load hits them alike. Prints each variant's best and
median time per page, their ratios to `json.loads` alone and the client's path against
pydantic, with the machine's load; then rewrites its own section of `benchmarks/RESULTS.md`
(between the `decode` markers).

pydantic v2 and msgspec are reference points on equivalent models: they are benchmark-only
dependencies. Their models ignore unknown keys and keep nothing like `raw`, so they do less
work than the converter.
"""

# No `from __future__ import annotations`: msgspec resolves the local models' annotations.
import argparse
import datetime as dt
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):  # runnable as `python benchmarks/decode.py`
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import _bench  # noqa: E402
import cattrs  # noqa: E402
from cattrs.gen import make_dict_structure_fn, override  # noqa: E402

from drchrono_async._converter import converter  # noqa: E402
from drchrono_async.records import Appointment, api_fields  # noqa: E402

PAGE_SIZE = 250
STATUSES = ["", "Arrived", "Checked In", "In Room", "Complete", "Confirmed", "No Show"]


# -- the page -------------------------------------------------------------------------------


def _ts(rng: random.Random, base: dt.datetime) -> str:
    return (base + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 90))).isoformat()


def appointment(i: int, rng: random.Random) -> dict[str, Any]:
    """One appointment with every documented field filled as the API sends it."""
    base = dt.datetime(2024, 1, 1, 8, 0)
    start = base + dt.timedelta(days=i // 10, minutes=30 * (i % 10))
    return {
        "id": str(180_000_000 + i),
        "doctor": 101,
        "duration": 30,
        "exam_room": 1 + i % 3,
        "office": 201,
        "patient": 90_000_000 + rng.randrange(10_000),
        "scheduled_time": start.isoformat(),
        "color": "#B2FF59",
        "custom_vitals": [
            {"value": f"{rng.randrange(60, 100)}", "vital_type": 11 + k} for k in range(3)
        ],
        "notes": "Follow-up visit; bring the lab results from the previous order.",
        "profile": 301,
        "reason": "Follow-up",
        "reminder_profile": None,
        "status": rng.choice(STATUSES),
        "status_transitions": [
            {"from_status": "Confirmed", "to_status": "Arrived", "datetime": _ts(rng, base)}
        ],
        "vitals": {
            "blood_pressure_1": rng.randrange(100, 140),
            "blood_pressure_2": rng.randrange(60, 90),
            "height": 172.5,
            "height_units": "cm",
            "weight": 70.2,
            "weight_units": "kg",
            "temperature": 36.8,
            "temperature_units": "c",
            "pulse": rng.randrange(55, 100),
            "respiratory_rate": 16,
            "oxygen_saturation": 98,
            "pain": 2,
            "bmi": 23.7,
            "head_circumference": None,
            "head_circumference_units": "cm",
            "smoking_status": "never",
        },
        "supervising_provider": None,
        "billing_status": "Bill Insurance",
        "billing_provider": 101,
        "billing_notes": [
            {"text": "Copay collected at the front desk.", "created_at": _ts(rng, base)}
        ],
        "clinical_note": {
            "locked": False,
            "pdf": "https://example.invalid/clinical_notes/1.pdf",
            "updated_at": _ts(rng, base),
        },
        "icd10_codes": ["E11.9", "I10"],  # arrays of strings, as the live API sends them
        "icd9_codes": [],
        "reminders": [
            {"scheduled_time": _ts(rng, base), "type": "email"},
            {"scheduled_time": _ts(rng, base), "type": "sms"},
        ],
        "created_at": _ts(rng, base),
        "updated_at": _ts(rng, base) + ".123456",  # fractional seconds appear on some records
        "first_billed_date": _ts(rng, base),
        "last_billed_date": _ts(rng, base),
        "deleted_flag": False,
        "primary_insurer_payer_id": "60054",
        "primary_insurer_name": "Aetna",
        "primary_insurance_id_number": f"W{rng.randrange(10**9):09d}",
        "secondary_insurer_payer_id": "",
        "secondary_insurer_name": "",
        "secondary_insurance_id_number": "",
        "allow_overlapping": False,
        "appt_is_break": False,
        "cloned_from": None,
        "extended_updated_at": _ts(rng, base),
        "recurring_appointment": False,
        "base_recurring_appointment": None,
        "is_walk_in": False,
        "is_virtual_base": False,
        "custom_fields": [{"field_type": 401 + k, "field_value": f"value {k}"} for k in range(2)],
    }


def page_bytes(n: int = PAGE_SIZE, seed: int = 7) -> bytes:
    """A list page as the API serves it, encoded."""
    rng = random.Random(seed)
    page = {
        "next": "https://app.drchrono.com/api/appointments?cursor=abc&page_size=250",
        "previous": None,
        "results": [appointment(i, rng) for i in range(n)],
    }
    return json.dumps(page).encode()


# -- reference models (benchmark-only dependencies) -----------------------------------------


def pydantic_decoder() -> Callable[[bytes], Any]:
    from pydantic import BaseModel, ConfigDict

    class PAppointment(BaseModel):
        model_config = ConfigDict(frozen=True, extra="allow")  # keeps unknown keys, as ours
        id: str | None = None
        doctor: int | None = None
        duration: int | None = None
        exam_room: int | None = None
        office: int | None = None
        patient: int | None = None
        scheduled_time: dt.datetime | None = None
        color: str | None = None
        custom_vitals: list[dict[str, Any]] | None = None
        notes: str | None = None
        profile: int | None = None
        reason: str | None = None
        reminder_profile: int | None = None
        status: str | None = None
        status_transitions: list[dict[str, Any]] | None = None
        vitals: dict[str, Any] | None = None
        supervising_provider: int | None = None
        billing_status: str | None = None
        billing_provider: int | None = None
        billing_notes: list[dict[str, Any]] | None = None
        clinical_note: dict[str, Any] | None = None
        icd10_codes: list[str] | None = None
        icd9_codes: list[str] | None = None
        reminders: list[dict[str, Any]] | None = None
        created_at: dt.datetime | None = None
        updated_at: dt.datetime | None = None
        first_billed_date: dt.datetime | None = None
        last_billed_date: dt.datetime | None = None
        deleted_flag: bool | None = None
        primary_insurer_payer_id: str | None = None
        primary_insurer_name: str | None = None
        primary_insurance_id_number: str | None = None
        secondary_insurer_payer_id: str | None = None
        secondary_insurer_name: str | None = None
        secondary_insurance_id_number: str | None = None
        allow_overlapping: bool | None = None
        appt_is_break: bool | None = None
        cloned_from: int | None = None
        extended_updated_at: dt.datetime | None = None
        recurring_appointment: bool | None = None
        base_recurring_appointment: str | None = None
        is_walk_in: bool | None = None
        is_virtual_base: bool | None = None
        custom_fields: list[dict[str, Any]] | None = None

    class PPage(BaseModel):
        next: str | None = None
        previous: str | None = None
        results: list[PAppointment]

    return PPage.model_validate_json


def msgspec_decoder() -> Callable[[bytes], Any]:
    import msgspec

    class MAppointment(msgspec.Struct, frozen=True, kw_only=True):
        id: str | None = None
        doctor: int | None = None
        duration: int | None = None
        exam_room: int | None = None
        office: int | None = None
        patient: int | None = None
        scheduled_time: dt.datetime | None = None
        color: str | None = None
        custom_vitals: list[dict[str, Any]] | None = None
        notes: str | None = None
        profile: int | None = None
        reason: str | None = None
        reminder_profile: int | None = None
        status: str | None = None
        status_transitions: list[dict[str, Any]] | None = None
        vitals: dict[str, Any] | None = None
        supervising_provider: int | None = None
        billing_status: str | None = None
        billing_provider: int | None = None
        billing_notes: list[dict[str, Any]] | None = None
        clinical_note: dict[str, Any] | None = None
        icd10_codes: list[str] | None = None
        icd9_codes: list[str] | None = None
        reminders: list[dict[str, Any]] | None = None
        created_at: dt.datetime | None = None
        updated_at: dt.datetime | None = None
        first_billed_date: dt.datetime | None = None
        last_billed_date: dt.datetime | None = None
        deleted_flag: bool | None = None
        primary_insurer_payer_id: str | None = None
        primary_insurer_name: str | None = None
        primary_insurance_id_number: str | None = None
        secondary_insurer_payer_id: str | None = None
        secondary_insurer_name: str | None = None
        secondary_insurance_id_number: str | None = None
        allow_overlapping: bool | None = None
        appt_is_break: bool | None = None
        cloned_from: int | None = None
        extended_updated_at: dt.datetime | None = None
        recurring_appointment: bool | None = None
        base_recurring_appointment: str | None = None
        is_walk_in: bool | None = None
        is_virtual_base: bool | None = None
        custom_fields: list[dict[str, Any]] | None = None

    class MPage(msgspec.Struct):
        results: list[MAppointment]
        next: str | None = None
        previous: str | None = None

    return msgspec.json.Decoder(MPage).decode


# -- measuring ------------------------------------------------------------------------------


BODY = page_bytes()


def variants(body: bytes) -> list[tuple[str, Callable[[], Any]]]:
    structure = converter.structure_many

    def json_plus_converter() -> Any:
        return structure(json.loads(body)["results"], Appointment)

    def orjson_plus_converter() -> Any:
        return structure(orjson.loads(body)["results"], Appointment)

    out: list[tuple[str, Callable[[], Any]]] = [
        ("json.loads", lambda: json.loads(body)),
        ("orjson.loads", lambda: orjson.loads(body)),
        ("json.loads + converter", json_plus_converter),
        ("orjson.loads + converter (the client's path)", orjson_plus_converter),
        ("orjson.loads + cattrs make_dict_structure_fn, same hooks", cattrs_generated()),
    ]
    for label, make in (
        ("pydantic v2 model_validate_json", pydantic_decoder),
        ("msgspec json decode", msgspec_decoder),
    ):
        try:
            decode = make()
        except ImportError:
            continue  # reference points only; the table says which ran
        out.append((label, lambda decode=decode: decode(body)))
    return out


def cattrs_generated() -> Callable[[], Any]:
    """What the converter would cost with cattrs' own generated function (same field hooks).

    The field hooks are the converter's own (`get_structure_hook` of each field's type), so
    the row differs from the client's only in the per-class function: the converter's
    inlines the common case of its scalar hooks and fills the slots of classes whose
    `__init__` only assigns. This row keeps the comparison visible.
    """

    def build(body: bytes) -> Callable[[], Any]:
        hooks = {
            a.name: converter.get_structure_hook(a.type, cache_result=False)
            for a in api_fields(Appointment)
        }
        fn = make_dict_structure_fn(
            Appointment,
            cattrs.Converter(detailed_validation=False),
            _cattrs_detailed_validation=False,
            _cattrs_use_linecache=False,
            raw=override(omit=True),
            extra=override(omit=True),
            **{name: override(struct_hook=hook) for name, hook in hooks.items()},
        )
        return lambda: [fn(o) for o in orjson.loads(body)["results"]]

    return build(BODY)


def check(body: bytes) -> None:
    """The variants decode the same page: spot-check values, so the timings compare alike."""
    records = converter.structure_many(orjson.loads(body)["results"], Appointment)
    first = json.loads(body)["results"][0]
    assert len(records) == PAGE_SIZE
    assert records[0].id == first["id"]
    assert records[0].scheduled_time == dt.datetime.fromisoformat(first["scheduled_time"])
    assert records[0].vitals == first["vitals"]
    assert not records[0].extra


CLIENT = "orjson.loads + converter (the client's path)"
PYDANTIC = "pydantic v2 model_validate_json"
QUOTA = "none (no request is sent)."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Many short rounds: on a busy machine the best and the median of many settle where
    # those of a few long ones wander (each round is a handful of milliseconds).
    parser.add_argument("--rounds", type=int, default=75)
    parser.add_argument("--number", type=int, default=4, help="pages decoded per round")
    parser.add_argument("--clock", choices=sorted(_bench.TIMERS), default="cpu")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)

    body = BODY
    check(body)
    machine = _bench.Machine.start(quota=QUOTA, command=_bench.command("decode.py", argv))
    timer = _bench.TIMERS[args.clock]
    samples = _bench.interleave(
        {label: lambda fn=fn: _bench.timed(fn, args.number, timer) for label, fn in variants(body)},
        rounds=args.rounds,
        warmup=1,  # generated code, caches
        clock=args.clock,
    )
    machine.stop()
    result = samples.table("json.loads", unit="ms per page", scale=1e3)
    against = [samples.summary(CLIENT, "json.loads")]
    if PYDANTIC in samples.samples:
        against.append(samples.summary(CLIENT, PYDANTIC))
    header = machine.header(samples.method())
    print(f"A page of {PAGE_SIZE} appointments, {len(body) / 1000:.0f} kB\n")
    print(header + "\n")
    print(result + "\n")
    print("\n".join(against))
    section = (
        "## Decoding a page of appointments\n\n"
        f"{PAGE_SIZE} appointments with every documented field, nested vitals and custom fields "
        f"({len(body) / 1000:.0f} kB); a round is {args.number} pages decoded one after "
        "another by one variant, after a `gc.collect()`, and its sample the time per page.\n\n"
        f"{header}\n\n{result}\n\n" + "\n".join(f"- {line}" for line in against) + "\n\n"
        "The converter rows build records with the converter's per-field hooks taken from "
        "cattrs dispatch; the `make_dict_structure_fn` row uses the same hooks in cattrs' own "
        "generated function (a call per field and the attrs `__init__`), which is why the "
        "converter generates its own. pydantic and msgspec keep no `raw`/`extra`. Paired by "
        "round is the median of the ratios of the two variants' samples in the same round."
    )
    if not args.no_write:
        _bench.write_section("decode", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
