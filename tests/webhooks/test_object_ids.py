"""Object ids are checked where they enter: a hostile id is a 400, never the handler's 500.

Before, a MODIFY whose object id held a NUL reached the handler and failed in the database
with a 500 on every redelivery; an id with a line separator or surrounding spaces went on
into the store as a different key.
"""

from __future__ import annotations

from typing import Any

import attrs
import httpx
import orjson
import pytest

from drchrono_async import DrChronoConverter
from drchrono_async._ids import MAX_INT_ID, check_object_id
from drchrono_async.errors import WebhookPayloadError
from drchrono_async.testing import Emulator
from drchrono_async.webhooks import WebhookEvent, WebhookReceiver, parse_delivery

from .conftest import SECRET, signed

HOSTILE_IDS: list[Any] = [
    "12\x00",
    "\x00",
    "1\n2",
    "12\n",
    "1\u2028",
    "1\u2029",
    "1\x85",  # C1 (NEL)
    "1\x7f",  # DEL
    "1\u200b",  # a zero-width space: a format character
    " 12",
    "12 ",
    "\t12",
    "12\u00a0",
    "",
    " ",
    "x" * 65,
    2**63,
    2**64 + 5,
    -1,
    0,
    True,
    False,
    1.5,
    [1],
    {"id": 1},
]
EVENTS = [
    "APPOINTMENT_MODIFY",
    "APPOINTMENT_CREATE",
    "APPOINTMENT_DELETE",
    "PATIENT_MODIFY",
    "PATIENT_DELETE",
]


def wire(emu: Emulator, event: str, bad: Any) -> dict[str, Any]:
    resource = "patients" if event.startswith("PATIENT") else "appointments"
    return {**emu.records(resource)[0], "id": bad}


def delivery(event: str, obj: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """The delivery with the id written as JSON by hand (orjson refuses ints past 64 bits)."""
    bad = obj["id"]
    headers, body = signed(event, {**obj, "id": "__ID__"})
    raw = str(bad).encode() if type(bad) is int else orjson.dumps(bad)
    return headers, body.replace(b'"__ID__"', raw)


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("bad", HOSTILE_IDS, ids=repr)
def test_parse_delivery_refuses_a_hostile_object_id(emu: Emulator, event: str, bad: Any) -> None:
    headers, body = delivery(event, wire(emu, event, bad))
    with pytest.raises(WebhookPayloadError, match=rf"^{event}: the object's id") as info:
        parse_delivery(headers, body, SECRET)
    assert "\x00" not in str(info.value) and "x" * 65 not in str(info.value)


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("bad", HOSTILE_IDS, ids=repr)
async def test_the_receiver_answers_400_and_never_calls_the_handler(
    emu: Emulator, event: str, bad: Any
) -> None:
    seen: list[WebhookEvent] = []

    async def handler(e: WebhookEvent) -> None:
        seen.append(e)

    headers, body = delivery(event, wire(emu, event, bad))
    transport = httpx.ASGITransport(app=WebhookReceiver(SECRET, handler))
    async with httpx.AsyncClient(transport=transport, base_url="http://hook") as http:
        r = await http.post("/", headers=headers, content=body)
    assert r.status_code == 400 and seen == []


@pytest.mark.parametrize(
    ("good", "text"),
    [
        (1, "1"),
        (MAX_INT_ID, str(MAX_INT_ID)),
        ("12", "12"),
        ("a b", "a b"),
        ("x" * 64, "x" * 64),
        ("abc-ß", "abc-ß"),
    ],
)
def test_acceptable_ids_pass_as_text(emu: Emulator, good: Any, text: str) -> None:
    assert check_object_id(good) == text
    headers, body = signed("APPOINTMENT_DELETE", {"id": good})
    assert parse_delivery(headers, body, SECRET).object_id == text


def test_check_object_id_reads_subclasses_through_their_base_type() -> None:
    class Sneaky(str):
        def __str__(self) -> str:
            return "\x00"

    class Big(int):
        def __int__(self) -> int:
            return 2**70

    assert check_object_id(Sneaky("12")) == "12" and type(check_object_id(Sneaky("12"))) is str
    assert check_object_id(Big(7)) == "7"
    assert check_object_id(None) is None and check_object_id(b"12") is None
    assert check_object_id("1\ud800") is None  # a lone surrogate (orjson refuses it in JSON)


def test_the_typed_records_id_is_checked_too(emu: Emulator) -> None:
    class Mangling(DrChronoConverter):
        """A user's converter whose hook rebuilds the id (here: badly)."""

        def structure(self, obj: Any, cl: Any) -> Any:
            return attrs.evolve(super().structure(obj, cl), id="7\x00")

    for event in ("PATIENT_MODIFY", "PATIENT_DELETE"):
        headers, body = signed(event, emu.records("patients")[0])
        with pytest.raises(WebhookPayloadError, match=rf"^{event}: the record's id"):
            parse_delivery(headers, body, SECRET, converter=Mangling())
