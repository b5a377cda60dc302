"""The endpoints with calls beyond plain CRUD. Each method is one row of the table's actions."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ._methods import (
    ActionsResource,
    ReadOnlyResource,
    ReadPatchResource,
    ReadWriteResource,
    Resource,
)

if TYPE_CHECKING:
    from ..records import (  # noqa: F401  (names used in Resource[...] subscriptions)
        ConsentForm,
        Medication,
        Office,
        OnpatientAccess,
        Patient,
        User,
    )

__all__ = [
    "ConsentFormsResource",
    "IframeIntegrationResource",
    "MedicationsResource",
    "OfficesResource",
    "PatientsResource",
    "UsersResource",
]


class OfficesResource(ReadPatchResource["Office"]):
    async def add_exam_room(
        self, office_id: int, *, name: str, online_scheduling: bool = False
    ) -> Office:
        """Add an exam room to an office; returns the whole updated office."""
        body = {"name": name, "online_scheduling": online_scheduling}
        result: Office = await self._action("add_exam_room", office_id, body=body)
        return result


class ConsentFormsResource(ReadWriteResource["ConsentForm"]):
    async def apply_to_appointment(self, consent_form_id: int, *, appointment: int | str) -> Any:
        """Assign a consent form to an appointment."""
        return await self._action(
            "apply_to_appointment", consent_form_id, body={"appointment": appointment}
        )

    async def unapply_from_appointment(
        self, consent_form_id: int, *, appointment: int | str
    ) -> Any:
        """Take a consent form off an appointment."""
        return await self._action(
            "unapply_from_appointment", consent_form_id, body={"appointment": appointment}
        )


class MedicationsResource(ReadWriteResource["Medication"]):
    async def append_to_pharmacy_note(self, medication_id: int, text: str) -> Any:
        """Append a paragraph to a prescription's pharmacy note; returns the new note."""
        return await self._action("append_to_pharmacy_note", medication_id, body={"text": text})


class PatientsResource(Resource["Patient"]):
    async def ccda(
        self,
        patient_id: int,
        *,
        date: dt.date | None = None,
        date_range: Any = None,
    ) -> str:
        """The patient's record as C-CDA XML text."""
        text: str = await self._action(
            "ccda", patient_id, params={"date": date, "date_range": date_range}
        )
        return text

    async def qrda1(
        self,
        patient_id: int,
        *,
        start_date: dt.date | None = None,
        end_date: dt.date | None = None,
    ) -> str:
        """The patient's record as QRDA-1 XML text."""
        text: str = await self._action(
            "qrda1", patient_id, params={"start_date": start_date, "end_date": end_date}
        )
        return text

    async def onpatient_access(self, patient_id: int) -> list[OnpatientAccess]:
        """Pending invites and active onpatient access of a patient."""
        result: list[OnpatientAccess] = await self._action("onpatient_access", patient_id)
        return result

    async def send_onpatient_access(self, patient_id: int) -> None:
        """Invite the patient to onpatient."""
        await self._action("send_onpatient_access", patient_id)

    async def revoke_onpatient_access(self, patient_id: int) -> None:
        """Revoke a sent invite or an active onpatient access."""
        await self._action("revoke_onpatient_access", patient_id)


class UsersResource(ReadOnlyResource["User"]):
    async def current(self) -> User:
        """The authorizing user (the API answers with a redirect, which is followed)."""
        result: User = await self._action("current")
        return result


class IframeIntegrationResource(ActionsResource[Any]):
    async def enable(self) -> None:
        """Show this application on the authorizing doctor's patient page."""
        await self._action("enable")

    async def disable(self) -> None:
        """Undo `enable`."""
        await self._action("disable")
