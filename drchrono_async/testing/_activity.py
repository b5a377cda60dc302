"""A practice at work: staff change, create and delete records while a sync runs elsewhere.

`emulator.activity.run(changes=..., creates=..., deletes=...)` goes through the emulator's own
API (PATCH, POST, DELETE, with a staff token of its own), so every change is stamped and
validated exactly as a client's would be; `vanish` removes records outright, as the live
service sometimes does, so that only a reconciliation can notice. Each call returns what it
did, by resource and id, for tests to check a copy against. `act(resource, kind)` makes one
change or creation (of appointments, patients, clinical lists, or reference data, which the v4
API only reads and staff change in place) and says which version it wrote: what a
`Simulation` draws, continuously.

Each practice of an emulator has its own (`emulator.practice(i).activity`), working on that
practice's records only. Its token belongs to DrChrono's own web application, not to the
emulator's client id: staff work never spends the application's hourly quota.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import orjson

from ..errors import DrChronoError, InvalidRequestError
from ._store import Row
from ._wire import EmuRequest

if TYPE_CHECKING:
    from ._emulator import Emulator
    from ._practice import Practice

__all__ = ["CREATABLE", "EDITABLE", "STAFF_CLIENT_ID", "Act", "Activity", "ActivityLog"]

# The application staff work through (the web UI): a quota apart from the emulator's client.
STAFF_CLIENT_ID = "drchrono-web"

# What staff edit, per resource: a text field a PATCH may change freely.
_EDITABLE = {
    "appointments": "notes",
    "patients": "nick_name",
    "problems": "notes",
    "medications": "notes",
    "allergies": "notes",
}
# Reference data the v4 API only reads (offices: all but scheduling settings), which staff
# change in the web UI: edited in place, stamped as the API stamps a write, with no webhook
# (the live service has no event for them).
_IN_PLACE = {
    "offices": "fax_number",
    "doctors": "website",
    "users": "username",
    "fee_schedules": "description",
}
# What the API can create (the others are only changed).
CREATABLE = frozenset({"appointments", "patients", "problems", "medications", "allergies"})
EDITABLE: dict[str, str] = {**_EDITABLE, **_IN_PLACE}  # resource -> the field a change sets


@attrs.frozen
class Act:
    """One change made by `Activity.act`: the record's id and, for a change, the value it
    wrote into the resource's `EDITABLE` field (what tells this version of the record)."""

    resource: str
    kind: str  # "change" or "create"
    id: str
    marker: str | None


@attrs.define
class ActivityLog:
    """Ids touched by one `Activity.run`, per resource."""

    changed: dict[str, list[str]] = attrs.field(factory=dict)
    created: dict[str, list[str]] = attrs.field(factory=dict)
    deleted: dict[str, list[str]] = attrs.field(factory=dict)
    vanished: dict[str, list[str]] = attrs.field(factory=dict)

    @property
    def total(self) -> int:
        return sum(
            len(v)
            for d in (self.changed, self.created, self.deleted, self.vanished)
            for v in d.values()
        )


class Activity:
    """Simulated staff work on a practice's records: `run` in bulk (appointments and
    patients by default), `act` one change at a time (what `Simulation` draws)."""

    def __init__(self, emulator: Emulator, *, seed: int | str = 0, practice: int = 0) -> None:
        self._emu = emulator
        self._index = practice
        self._rng = random.Random(f"activity:{seed}")
        self._token: str | None = None  # issued on first use: seeding stays as it was
        self._slot = 0

    async def run(
        self,
        *,
        changes: int = 10,
        creates: int = 5,
        deletes: int = 3,
        vanish: int = 0,
        resources: Sequence[str] = ("appointments", "patients"),
    ) -> ActivityLog:
        """Make that many changes, creations, API deletes and silent removals per resource."""
        log = ActivityLog()
        for name in resources:
            if name not in _EDITABLE:
                raise InvalidRequestError(f"activity does not know how to edit {name}")
            log.changed[name] = [await self._change(name) for _ in range(changes)]
            log.created[name] = [await self._create(name) for _ in range(creates)]
            log.deleted[name] = [await self._delete(name) for _ in range(deletes)]
            log.vanished[name] = [self._vanish(name) for _ in range(vanish)]
        return log

    async def act(self, resource: str, kind: str) -> Act:
        """One `"change"` (of a resource in `EDITABLE`) or `"create"` (appointments,
        patients, problems, medications, allergies), as staff would make it."""
        if kind == "create" and resource in CREATABLE:
            template = self._pick_row(resource).data
            return Act(resource, kind, await self._create(resource, template), None)
        if kind != "change" or resource not in EDITABLE:
            raise InvalidRequestError(f"activity cannot {kind} {resource}")
        marker = f"edited {self._rng.getrandbits(32):08x}"
        row = self._pick_row(resource)
        if resource in _IN_PLACE:
            self._practice.api.stamp(row, {**row.data, _IN_PLACE[resource]: marker})
            self._practice.tables[resource].changed()
        else:
            body = {EDITABLE[resource]: marker}
            await self._call("PATCH", f"/api/{resource}/{row.data['id']}", body, 204)
        return Act(resource, kind, str(row.data["id"]), marker)

    # -- one act each -----------------------------------------------------------------------------

    @property
    def _practice(self) -> Practice:
        return self._emu.practice(self._index)

    def _pick(self, name: str) -> dict[str, Any]:
        live = [r for r in self._practice.records(name) if not r.get("deleted_flag")]
        if not live:
            raise InvalidRequestError(f"no {name} left to work on")
        return self._rng.choice(live)

    def _pick_row(self, name: str) -> Row:
        """A live row, drawn without copying the table (a simulation acts thousands of times)."""
        table = self._practice.tables[name]
        for _ in range(64):
            if not table.keys:
                break
            row = table.rows[self._rng.choice(table.keys)]
            if not row.data.get("deleted_flag"):
                return row
        raise InvalidRequestError(f"no {name} left to work on")

    async def _change(self, name: str) -> str:
        record = self._pick(name)
        body = {_EDITABLE[name]: f"edited {self._rng.getrandbits(32):08x}"}
        await self._call("PATCH", f"/api/{name}/{record['id']}", body, 204)
        return str(record["id"])

    async def _create(self, name: str, template: dict[str, Any] | None = None) -> str:
        template = template if template is not None else self._pick(name)
        body: dict[str, Any] = {}
        if name == "appointments":
            self._slot += 1
            start = dt.datetime(2030, 1, 1, 8) + dt.timedelta(hours=self._slot)
            body = {k: template.get(k) for k in ("doctor", "office", "exam_room", "patient")}
            body.update(scheduled_time=start.isoformat(), duration=30, reason="follow-up")
        elif name in ("problems", "medications", "allergies"):
            keep = ("doctor", "patient", "name", "description", "status")
            body = {k: template[k] for k in keep if k in template}
        else:
            body = {k: template.get(k) for k in ("doctor", "first_name", "last_name", "gender")}
            body["date_of_birth"] = "1980-01-01"
        created = await self._call("POST", f"/api/{name}", body, 201)
        return str(created["id"])

    async def _delete(self, name: str) -> str:
        record = self._pick(name)
        await self._call("DELETE", f"/api/{name}/{record['id']}", None, 204)
        return str(record["id"])

    def _vanish(self, name: str) -> str:
        record = self._pick(name)
        table = self._practice.tables[name]
        row = table.lookup(str(record["id"]))
        assert row is not None
        table.remove(row.key)
        return str(record["id"])

    async def _call(self, method: str, path: str, body: Any, expect: int) -> Any:
        if self._token is None:
            practice = self._practice
            self._token = self._emu.oauth.issue_token(
                practice.current_user_id, practice=self._index, client_id=STAFF_CLIENT_ID
            ).access
        request = EmuRequest(
            method=method,
            path=path,
            query_string="",
            headers={
                "authorization": f"Bearer {self._token}",
                "content-type": "application/json",
            },
            body=b"" if body is None else orjson.dumps(body),
            origin=self._emu.base_url,
        )
        answer = await self._emu.handle(request)
        if answer.status != expect:
            raise DrChronoError(f"activity {method} {path.split('/')[2]} answered {answer.status}")
        return orjson.loads(answer.body) if answer.body else None
