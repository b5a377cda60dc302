"""A deterministic practice: the emulator's starting state for a seed and a clock.

The core entities (doctors, offices with exam rooms, users, patients, appointments and the
clinical records hanging off them) have hand-written factories, so filters by doctor, patient,
office and date find realistic subsets. Every other endpoint gets records generated from its
record class's fields (`drchrono_async.records`), or, while a record class is missing, from the
filters the endpoint table declares.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import random
from collections.abc import Mapping
from typing import Any

from drchrono_async._endpoints import BY_NAME, ENDPOINTS, Endpoint

from ._fake import FIRST_NAMES, LAST_NAMES, REFS, WRITE_ONLY, Faker, record_fields
from ._store import Row, Table

__all__ = ["DEFAULT_SIZES", "EXTRA_FIELD", "ID_BASE", "PRACTICE_ID_STRIDE", "Seeder"]

# Every record carries this key, which no documentation mentions, as live records carry
# undocumented keys: a client must tolerate them.
EXTRA_FIELD = "emulator_undocumented"

DEFAULT_SIZES: Mapping[str, int] = {
    "doctors": 3,
    "offices": 2,
    "exam_rooms": 3,  # per office
    "staff": 3,  # users who are not doctors
    "patients": 200,
    "appointments": 2_000,
    "clinical_notes": 200,
    "documents": 100,
    "problems": 300,
    "allergies": 150,
    "medications": 300,
    "line_items": 600,
    "tasks": 60,
    "insurances": 40,
    "other": 10,  # every endpoint not named here
}

# First ids per endpoint: distinct ranges make an id used on the wrong endpoint a 404.
ID_BASE: Mapping[str, int] = {
    "doctors": 100_001,
    "offices": 200_001,
    "users": 300_001,
    "patients": 5_000_001,
    "appointments": 90_000_001,
}
# Practice i numbers its records from i * PRACTICE_ID_STRIDE on (practice 0 as above), so an id
# of one practice is a 404 for every other; each range holds 900 million appointments.
PRACTICE_ID_STRIDE = 1_000_000_000
PRACTICE_GROUP = 4242  # practice i's practice group is PRACTICE_GROUP + i

SLOT_MINUTES = 30
SLOTS_PER_DAY = 18  # 08:00 to 17:00
FUTURE_DAYS = 90
PAST_DAYS = 365

PAST_STATUSES = ("Complete",) * 14 + ("No Show", "Cancelled", "Rescheduled", "Checked In")
FUTURE_STATUSES = ("", "", "Confirmed", "Not Confirmed", "Confirmed")
REASONS = ("Annual physical", "Follow-up", "Flu symptoms", "Back pain", "Lab review", "Consult")
PAYERS = (
    ("Aetna", "60054"),
    ("Blue Cross Blue Shield", "00590"),
    ("Cigna", "62308"),
    ("Humana", "61101"),
    ("Kaiser Permanente", "94134"),
    ("Medicare", "00431"),
    ("UnitedHealthcare", "87726"),
    ("Tricare", "99726"),
)


def _ts(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds")


class Seeder:
    """Builds every table for one practice.

    `practice` (the practice's index in its emulator) moves every id into the practice's own
    range and names its practice group; practice 0 is exactly the one-practice emulator's.
    """

    def __init__(
        self,
        tables: dict[str, Table],
        *,
        seed: int | str,
        now: dt.datetime,
        origin: str,
        sizes: Mapping[str, int] | None = None,
        practice: int = 0,
    ) -> None:
        self.tables = tables
        self.id_offset = practice * PRACTICE_ID_STRIDE
        self.practice_group = PRACTICE_GROUP + practice
        self.practice_group_name = "Emulated Family Practice" + (
            f" {practice + 1}" if practice else ""
        )
        self.rng = random.Random(f"practice:{seed}")
        self.now = now.replace(microsecond=0)
        self.sizes = {**DEFAULT_SIZES, **(sizes or {})}
        self.fake = Faker(self.rng, self.now, origin)
        self.origin = origin
        self.current_user_id = 0

    def first_key(self, name: str) -> int:
        """The first id of an endpoint in this practice's range."""
        return ID_BASE.get(name, 1) + self.id_offset

    def size(self, name: str) -> int:
        return int(self.sizes.get(name, self.sizes["other"]))

    # --- driver -----------------------------------------------------------------------------

    def run(self) -> None:
        """Seed every table; core entities first, then whatever references them."""
        # A 100k seed allocates millions of containers that all live on: collecting them
        # while they are built costs a quarter of the time and frees nothing.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._run()
        finally:
            if was_enabled:
                gc.enable()

    def _run(self) -> None:
        self._doctors()
        self._offices()
        self._users()
        self._patients()
        self._appointments()
        self._patient_offices()
        self._clinical_notes()
        self._documents()
        self._insurances()
        for name in ("problems", "allergies", "medications"):
            self._per_patient(name)
        core = {
            "doctors",
            "offices",
            "users",
            "patients",
            "appointments",
            "clinical_notes",
            "documents",
            "insurances",
            "problems",
            "allergies",
            "medications",
        }
        # Referenced endpoints first so that their ids exist when others pick from them.
        referenced = [e for e in dict.fromkeys(REFS.values()) if e in BY_NAME]
        order = referenced + [e.name for e in ENDPOINTS]
        for name in dict.fromkeys(order):
            if name not in core and BY_NAME[name].record is not None:
                self._generic(BY_NAME[name])

    def _store(self, name: str, rows: list[Row]) -> None:
        table = self.tables[name]
        if not rows:
            return
        self._complete(table.endpoint, rows)
        table.load_sorted(rows)
        self.fake.pools[name] = [r.key for r in rows]

    def _complete(self, endpoint: Endpoint, rows: list[Row]) -> None:
        """Fill the record class's fields a factory left out, and add the extra key."""
        specs = record_fields(endpoint.record_type if endpoint.record else None)
        missing = []
        if specs is not None:
            present = rows[0].data
            write_only = WRITE_ONLY.get(endpoint.name, frozenset())
            missing = [s for s in specs if s.name not in present and s.name not in write_only]
        value = self.fake.value
        for row in rows:
            data = row.data
            for spec in missing:
                if spec.name not in data:
                    data[spec.name] = value(spec.name, spec.type)
            if "id" in data:
                data["id"] = str(row.key) if endpoint.id_type is str else row.key
            data[EXTRA_FIELD] = row.key % 7
            if "updated_at" not in data and "updated_at" not in row.hidden:
                row.hidden["updated_at"] = data.get("created_at") or _ts(self.now)

    # --- core factories ---------------------------------------------------------------------

    def _doctors(self) -> None:
        r, f = self.rng, self.fake
        rows = []
        specialties = ("Family Medicine", "Internal Medicine", "Pediatrics", "Cardiology")
        for i in range(self.size("doctors")):
            key = self.first_key("doctors") + i
            first, last = r.choice(FIRST_NAMES), r.choice(LAST_NAMES)
            rows.append(
                Row(
                    key,
                    {
                        "id": key,
                        "first_name": first,
                        "last_name": last,
                        "suffix": "MD",
                        "specialty": specialties[i % len(specialties)],
                        "job_title": "Physician",
                        "country": "US",
                        "timezone": "UTC",
                        "email": f"{first.lower()}.{last.lower()}@clinic.example.com",
                        "cell_phone": f.phone(),
                        "home_phone": "",
                        "office_phone": f.phone(),
                        "website": "",
                        "npi_number": f"{r.randrange(10**9, 10**10)}",
                        "group_npi_number": "1234567893",
                        "practice_group": self.practice_group,
                        "practice_group_name": self.practice_group_name,
                        "profile_picture": None,
                        "is_account_suspended": False,
                    },
                )
            )
        self._store("doctors", rows)

    def _offices(self) -> None:
        r, f = self.rng, self.fake
        rows = []
        doctors = self.fake.pools["doctors"]
        for i in range(self.size("offices")):
            key = self.first_key("offices") + i
            city, state, zip_code = r.choice(
                (("Sunnyvale", "CA", "94086"), ("Austin", "TX", "73301"), ("Denver", "CO", "80202"))
            )
            rows.append(
                Row(
                    key,
                    {
                        "id": key,
                        "name": f"{city} Office",
                        "doctor": doctors[0],
                        "address": f"{r.randrange(100, 999)} Main St",
                        "city": city,
                        "state": state,
                        "zip_code": zip_code,
                        "country": "US",
                        "phone_number": f.phone(),
                        "fax_number": f.phone(),
                        "start_time": "08:00:00",
                        "end_time": "17:00:00",
                        "online_scheduling": i == 0,
                        "online_timeslots": [],
                        "archived": False,
                        "exam_rooms": [
                            {"index": n + 1, "name": f"Exam {n + 1}", "online_scheduling": n == 0}
                            for n in range(self.size("exam_rooms"))
                        ],
                    },
                )
            )
        self._store("offices", rows)

    def _users(self) -> None:
        r = self.rng
        rows = []
        doctors = self.fake.pools["doctors"]
        key = self.first_key("users")
        perms = {"access_clinical_notes": True, "access_billing": True, "manage_patients": True}
        for n, doc in enumerate(doctors):
            row = self.tables["doctors"].rows[doc].data
            name = f"dr{row['last_name'].lower()}{n}"
            rows.append(Row(key, self._user(key, doc, name, doctor=True, perms=perms)))
            key += 1
        for n in range(self.size("staff")):
            name = f"{r.choice(FIRST_NAMES).lower()}.staff{n}"
            doc = doctors[n % len(doctors)]
            rows.append(Row(key, self._user(key, doc, name, doctor=False, perms=perms)))
            key += 1
        self.current_user_id = rows[0].key
        self._store("users", rows)

    def _user(self, key: int, doc: int, name: str, *, doctor: bool, perms: dict[str, bool]) -> Any:
        return {
            "id": key,
            "doctor": doc,
            "username": name,
            "is_doctor": doctor,
            "is_staff": not doctor,
            "plan_type": "Complete",
            "practice_group": self.practice_group,
            "permissions": dict(perms),
        }

    def _insurance(self) -> dict[str, Any]:
        r = self.rng
        payer, payer_id = r.choice(PAYERS)
        return {
            "insurance_company": payer,
            "insurance_payer_id": payer_id,
            "insurance_plan_type": r.choice(("PPO", "HMO", "")),
            "insurance_id_number": f"{r.choice('ABCXYZ')}{r.randrange(10**8, 10**9)}",
            "insurance_group_number": str(r.randrange(1000, 99999)),
            "insurance_group_name": "",
            "is_subscriber_the_patient": True,
        }

    def _patients(self) -> None:
        r, f = self.rng, self.fake
        rows = []
        doctors = self.fake.pools["doctors"]
        today = self.now.date()
        for i in range(self.size("patients")):
            key = self.first_key("patients") + i
            first, last = r.choice(FIRST_NAMES), r.choice(LAST_NAMES)
            city, state, zip_code = r.choice(
                (("Sunnyvale", "CA", "94086"), ("Austin", "TX", "73301"), ("Denver", "CO", "80202"))
            )
            created = self.now - dt.timedelta(seconds=r.randrange(86_400, 3 * 365 * 86_400))
            updated = created + (self.now - created) * r.random()
            dob = today - dt.timedelta(days=r.randrange(365, 90 * 365))
            status = "A" if r.random() < 0.92 else r.choice(("I", "D"))
            rows.append(
                Row(
                    key,
                    {
                        "id": key,
                        "chart_id": f"{last[:4].upper()}{first[:2].upper()}{i:06d}",
                        "doctor": doctors[i % len(doctors)],
                        "first_name": first,
                        "middle_name": "",
                        "last_name": last,
                        "nick_name": "",
                        "gender": r.choice(("Male", "Female", "Other")),
                        "date_of_birth": dob.isoformat(),
                        "email": f"{first.lower()}.{last.lower()}{i}@example.com",
                        "cell_phone": f.phone(),
                        "home_phone": "",
                        "address": f"{r.randrange(1, 9999)} Oak St",
                        "city": city,
                        "state": state,
                        "zip_code": zip_code,
                        "ethnicity": r.choice(("blank", "hispanic", "not_hispanic", "declined")),
                        "race": r.choice(("blank", "asian", "black", "white", "declined")),
                        "preferred_language": r.choice(("eng", "eng", "eng", "spa", "zho")),
                        "patient_status": status,
                        "patient_payment_profile": r.choice(("", "Cash", "Insurance")),
                        "default_pharmacy": "",
                        "disable_sms_messages": False,
                        "emergency_contact_name": "",
                        "emergency_contact_phone": "",
                        "emergency_contact_relation": "",
                        "employer": "",
                        "employer_address": "",
                        "employer_city": "",
                        "employer_state": "",
                        "employer_zip_code": "",
                        "primary_care_physician": "",
                        "referring_source": "",
                        "responsible_party_name": "",
                        "responsible_party_relation": "",
                        "responsible_party_phone": "",
                        "responsible_party_email": "",
                        "social_security_number": "",
                        "patient_photo": None,
                        "patient_photo_date": None,
                        "offices": [],
                        "custom_demographics": [],
                        "patient_flags": [],
                        "patient_flags_attached": [],
                        "referring_doctor": {},
                        "primary_insurance": self._insurance(),
                        "secondary_insurance": {},
                        "tertiary_insurance": {},
                        "auto_accident_insurance": {},
                        "workers_comp_insurance": {},
                        "created_at": _ts(created),
                        "updated_at": _ts(updated),
                    },
                )
            )
        self._store("patients", rows)

    def _appointments(self) -> None:
        """Appointments on a slot grid (doctor x office x exam room x half hour), so that the
        seed holds no overlap, spread from a year ago to three months ahead (further back
        when asked for more than that span holds)."""
        n = self.size("appointments")
        if n <= 0:
            return
        r = self.rng
        doctors = self.fake.pools["doctors"]
        offices = self.fake.pools["offices"]
        patients: list[int | None] = [*self.fake.pools.get("patients", [])] or [None]
        rooms = self.size("exam_rooms")
        lanes = [(d, o, e) for d in doctors for o in offices for e in range(1, rooms + 1)]
        per_day = len(lanes) * SLOTS_PER_DAY
        past_days = max(PAST_DAYS, math.ceil(n / (per_day * 0.6)) - FUTURE_DAYS)
        total = (past_days + FUTURE_DAYS) * per_day
        picks = sorted(r.sample(range(total), n))
        day0 = dt.datetime.combine(self.now.date() - dt.timedelta(days=past_days), dt.time(8))
        now = self.now
        base = self.first_key("appointments")
        # The hot loop of a 100k seed: floats from `random()` instead of randrange/choice,
        # and whole-second datetimes so that `isoformat()` needs no timespec.
        rand = r.random
        n_patients = len(patients)
        half_hour, day = dt.timedelta(minutes=SLOT_MINUTES), dt.timedelta(days=1)
        sec, two_hours = dt.timedelta(seconds=1), dt.timedelta(hours=2)
        # Copied per appointment: constant values, and every key in the reference's order.
        # Nested values here are shared between records; writes replace them, never mutate.
        template: dict[str, Any] = {
            "id": "",
            "doctor": 0,
            "duration": 30,
            "exam_room": 1,
            "office": 0,
            "patient": None,
            "scheduled_time": "",
            "color": "#3A87AD",
            "custom_vitals": [],
            "notes": "",
            "profile": None,
            "reason": "",
            "status": "",
            "status_transitions": [],
            "vitals": {"height": None, "weight": None, "bmi": None, "pain": None},
            "supervising_provider": None,
            "billing_status": "",
            "billing_provider": None,
            "billing_notes": [],
            "clinical_note": {},
            # Arrays of strings, as the live API sends them (the reference prints strings).
            "icd10_codes": [],
            "icd9_codes": [],
            "reminders": [],
            "created_at": "",
            "updated_at": "",
            "first_billed_date": None,
            "last_billed_date": None,
            "deleted_flag": False,
            "primary_insurer_payer_id": "",
            "primary_insurer_name": "",
            "primary_insurance_id_number": "",
            "secondary_insurer_payer_id": "",
            "secondary_insurer_name": "",
            "secondary_insurance_id_number": "",
            "allow_overlapping": False,
            "appt_is_break": False,
            "cloned_from": None,
            "extended_updated_at": "",
            "recurring_appointment": False,
            "base_recurring_appointment": None,
            "is_walk_in": False,
            "is_virtual_base": False,
            "custom_fields": [],
        }
        rows = []
        for i, idx in enumerate(picks):
            d, rem = divmod(idx, per_day)
            slot, lane = divmod(rem, len(lanes))
            doctor, office, room = lanes[lane]
            start = day0 + d * day + slot * half_hour
            key = base + i
            is_break = rand() < 0.04
            past = start < now
            created = start - int(3600 + rand() * 60 * 86_400) * sec
            if created > now:
                created = now - int(60 + rand() * 86_400) * sec
            horizon = min(now, start + two_hours)
            if horizon > created:
                updated = created + int((horizon - created).total_seconds() * rand()) * sec
            else:
                updated = created
            start_s, updated_s = start.isoformat(), updated.isoformat()
            statuses = PAST_STATUSES if past else FUTURE_STATUSES
            status = statuses[int(rand() * len(statuses))]
            patient = None if is_break else patients[int(rand() * n_patients)]
            sid = str(key)
            data = template.copy()
            data["id"] = sid
            data["doctor"] = doctor
            data["office"] = office
            data["exam_room"] = room
            data["patient"] = patient
            data["scheduled_time"] = start_s
            data["duration"] = 30 if rand() < 0.7 else 15
            data["appt_is_break"] = is_break
            data["billing_provider"] = doctor
            data["clinical_note"] = {"locked": past, "pdf": None, "updated_at": updated_s}
            data["extended_updated_at"] = updated_s
            data["is_walk_in"] = rand() < 0.02
            data["created_at"] = created.isoformat()
            data["updated_at"] = updated_s
            if is_break:
                data["reason"] = "Lunch"
            else:
                data["reason"] = REASONS[int(rand() * len(REASONS))]
                data["status"] = status
                if past:
                    data["billing_status"] = "Bill Insurance"
                    data["icd10_codes"] = ["Z00.00"]
                    # A list of transitions, as the live API sends it (the reference prints
                    # one object).
                    data["status_transitions"] = [
                        {"from_status": "", "to_status": status, "datetime": updated_s}
                    ]
            if past:
                data["vitals"] = {
                    "height": 60 + int(rand() * 20),
                    "weight": 110 + int(rand() * 120),
                    "pain": 0,
                }
            rows.append(Row(key, data))
        self._store("appointments", rows)

    def _patient_offices(self) -> None:
        """Every office each patient has an appointment at (patients' read-only `offices`)."""
        seen: dict[int, set[int]] = {}
        for row in self.tables["appointments"].rows.values():
            pid = row.data["patient"]
            if pid is not None:
                seen.setdefault(pid, set()).add(row.data["office"])
        patients = self.tables["patients"].rows
        for pid, offices in seen.items():
            patients[pid].data["offices"] = sorted(offices)

    def _past_visits(self, count: int) -> list[Row]:
        appts = self.tables["appointments"]
        past = [
            appts.rows[k]
            for k in appts.keys
            if appts.rows[k].data["patient"] is not None
            and appts.rows[k].data["status"] == "Complete"
        ]
        if len(past) > count:
            past = self.rng.sample(past, count)
            past.sort(key=lambda row: row.key)
        return past

    def _clinical_notes(self) -> None:
        """One note per chosen completed visit, keyed by its appointment's id."""
        r = self.rng
        rows = []
        for appt in self._past_visits(self.size("clinical_notes")):
            a = appt.data
            rows.append(
                Row(
                    appt.key,
                    {
                        "appointment": appt.key,
                        "patient": a["patient"],
                        "archived": False,
                        "clinical_note_sections": [
                            {
                                "name": section,
                                "clinical_note_template": 1,
                                "values": [
                                    {"clinical_note_field": 10 + n, "value": self.fake.words(4)}
                                ],
                            }
                            for n, section in enumerate(("Subjective", "Objective", "Plan"))
                            if r.random() < 0.9
                        ],
                    },
                    # Filters read these; the API does not send them on a note.
                    {
                        "office": a["office"],
                        "scheduled_time": a["scheduled_time"],
                        "updated_at": a["updated_at"],
                    },
                )
            )
        self._store("clinical_notes", rows)

    def _documents(self) -> None:
        r = self.rng
        rows = []
        visits = self._past_visits(self.size("documents"))
        for i, appt in enumerate(visits):
            a = appt.data
            key = self.first_key("documents") + i
            rows.append(
                Row(
                    key,
                    {
                        "id": key,
                        "doctor": a["doctor"],
                        "patient": a["patient"],
                        "date": a["scheduled_time"][:10],
                        "description": r.choice(("Lab report", "Referral letter", "Intake form")),
                        "document": f"{self.origin}/files/seed/document-{key}.pdf",
                        "metatags": r.choice(([], ["lab"], ["referral", "external"])),
                        "archived": False,
                        "updated_at": a["updated_at"],
                    },
                )
            )
        self._store("documents", rows)

    def _insurances(self) -> None:
        r = self.rng
        rows = []
        for i in range(self.size("insurances")):
            payer, payer_id = PAYERS[i % len(PAYERS)]
            state = r.choice(("CA", "TX", "CO", "NY", "WA"))
            rows.append(
                Row(
                    self.first_key("insurances") + i,
                    {
                        "payer_name": f"{payer} {state}" if i >= len(PAYERS) else payer,
                        "payer_id": payer_id if i < len(PAYERS) else f"{payer_id}{i}",
                        "state": state,
                    },
                    {"payer_type": ("emdeon", "gateway", "ihcfa")[i % 3]},
                )
            )
        self._store("insurances", rows)

    def _per_patient(self, name: str) -> None:
        """Problems, allergies, medications: for random patients, by their doctor."""
        r, f = self.rng, self.fake
        patients = self.tables["patients"]
        if not patients.keys:
            return
        rows = []
        for i in range(self.size(name)):
            key = self.first_key(name) + i
            p = patients.rows[r.choice(patients.keys)].data
            data: dict[str, Any] = {"id": key, "doctor": p["doctor"], "patient": p["id"]}
            if name == "problems":
                data.update(
                    name=r.choice(("Hypertension", "Asthma", "Type 2 diabetes", "Migraine")),
                    icd_code=r.choice(("I10", "J45.909", "E11.9", "G43.909")),
                    icd_version=10,
                    status=r.choice(("active", "active", "inactive", "resolved")),
                    date_diagnosis=f.past_date(2000),
                    date_onset=f.past_date(3000),
                    date_changed=f.past_date(300),
                    description="",
                    notes="",
                    info_url="",
                    snomed_ct_code="",
                )
            elif name == "allergies":
                data.update(
                    description=r.choice(("Penicillin", "Peanuts", "Cat hair", "Latex")),
                    reaction=r.choice(("Hives", "Anaphylaxis", "Rash", "Sneezing")),
                    notes="",
                    rxnorm="",
                    snomed_reaction="",
                    status=r.choice(("active", "inactive")),
                )
            else:
                data.update(
                    name=r.choice(
                        ("Lisinopril 10 MG", "Metformin 500 MG", "Albuterol", "Ibuprofen")
                    ),
                    daw=False,
                    prn=r.random() < 0.2,
                    appointment=None,
                    date_prescribed=f.past_date(700),
                    date_started_taking=f.past_date(700),
                    date_stopped_taking=None,
                    dispense_quantity=f"{r.choice((30, 60, 90))}.00",
                    dosage_quantity="1",
                    dosage_units="tablet",
                    frequency=r.choice(("once daily", "twice daily", "as needed")),
                    route="oral",
                    ndc="",
                    notes="",
                    indication="",
                    number_refills=r.randrange(0, 4),
                    order_status=r.choice(("", "Electronic eRx Sent", "Prescribed by other Dr")),
                    pharmacy_note="",
                    rxnorm=str(r.randrange(100_000, 999_999)),
                    signature_note="",
                    status=r.choice(("active", "active", "inactive")),
                )
            rows.append(Row(key, data, {"updated_at": p["updated_at"]}))
        self._store(name, rows)

    # --- every other endpoint ---------------------------------------------------------------

    def _generic(self, endpoint: Endpoint) -> None:
        """Records from the record class's fields (an endpoint without one holds none)."""
        specs = record_fields(endpoint.record_type) if endpoint.record else None
        if specs is None:
            return
        value = self.fake.value
        rows = []
        for i in range(self.size(endpoint.name)):
            key = self.first_key(endpoint.name) + i
            data: dict[str, Any] = {}
            for spec in specs:
                if spec.name not in WRITE_ONLY.get(endpoint.name, ()):
                    data[spec.name] = value(spec.name, spec.type)
            hidden: dict[str, Any] = {}
            # `since` needs an update time even where the record does not show one.
            if "updated_at" in data or "since" in endpoint.filters:
                stamp = self.fake.past_ts(90)
                (data if "updated_at" in data else hidden)["updated_at"] = stamp
            rows.append(Row(key, data, hidden))
        self._store(endpoint.name, rows)
