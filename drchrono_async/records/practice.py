"""Practice records: doctors, offices, users, groups, inventory, MU reports."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

import attrs

from ._base import ALWAYS, JSONObject, JSONObjects, Record, key, read_only, writable

__all__ = [
    "Doctor",
    "InventoryCategory",
    "InventoryVaccine",
    "Mu2015Report",
    "Office",
    "User",
    "UserGroup",
]


@attrs.frozen(kw_only=True)
class Doctor(Record):
    """A doctor of the practice group. `/api/doctors`."""

    country: str = attrs.field(metadata=ALWAYS)
    first_name: str = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    last_name: str = attrs.field(metadata=ALWAYS)
    specialty: str = attrs.field(metadata=ALWAYS)
    cell_phone: str | None = read_only()
    email: str | None = read_only()
    group_npi_number: str | None = read_only()
    home_phone: str | None = read_only()
    job_title: str | None = read_only()
    npi_number: str | None = read_only()
    office_phone: str | None = read_only()
    practice_group: int | None = read_only()
    practice_group_name: str = attrs.field(metadata=ALWAYS)
    profile_picture: str | None = read_only()
    suffix: str | None = read_only()
    timezone: str = attrs.field(metadata=ALWAYS)
    website: str | None = read_only()
    is_account_suspended: bool = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class Office(Record):
    """An office of the practice, with its exam rooms. `/api/offices`."""

    online_scheduling: bool | None = writable()
    online_timeslots: JSONObjects | None = writable()
    address: str | None = read_only()
    archived: bool | None = read_only()
    city: str | None = read_only()
    country: str | None = read_only()
    doctor: int | None = read_only()
    end_time: dt.time | None = read_only()
    exam_rooms: JSONObjects | None = read_only()
    id: int | None = key()
    name: str | None = read_only()
    phone_number: str | None = read_only()
    fax_number: str | None = read_only()
    start_time: dt.time | None = read_only()
    state: str | None = read_only()
    zip_code: str | None = read_only()


@attrs.frozen(kw_only=True)
class User(Record):
    """A user account of the practice group. `/api/users`."""

    doctor: int = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    plan_type: str = attrs.field(metadata=ALWAYS)
    is_doctor: bool = attrs.field(metadata=ALWAYS)
    is_staff: bool = attrs.field(metadata=ALWAYS)
    username: str = attrs.field(metadata=ALWAYS)
    practice_group: int | None = read_only()
    permissions: JSONObject = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class UserGroup(Record):
    """A group of users. `/api/user_groups`."""

    archived: bool = attrs.field(metadata=ALWAYS)
    created_at: dt.datetime = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    members: Sequence[int] = attrs.field(metadata=ALWAYS)
    name: str = attrs.field(metadata=ALWAYS)
    practice_group: int = attrs.field(metadata=ALWAYS)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class InventoryCategory(Record):
    """A category of the practice's inventory. `/api/inventory_categories`."""

    archived: bool = attrs.field(metadata=ALWAYS)
    category_type: str = attrs.field(metadata=ALWAYS)
    created_at: dt.datetime = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    name: str = attrs.field(metadata=ALWAYS)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class InventoryVaccine(Record):
    """A vaccine lot in the practice's inventory. `/api/inventory_vaccines`."""

    category: int | None = writable()
    cost: Decimal | None = writable()
    created_at: dt.datetime | None = read_only()
    cvx_code: str | None = writable()
    current_quantity: int | None = read_only()
    doctor: int | None = writable()
    expiry: dt.date | None = writable()
    id: int | None = key()
    lot_number: str | None = writable()
    manufacturer: str | None = writable()
    manufacturer_code: str | None = writable()
    name: str | None = writable()
    original_quantity: int | None = writable()
    price: Decimal | None = writable()
    price_with_tax: Decimal | None = writable()
    sales_tax_applicable: bool | None = writable()
    status: str | None = writable()
    updated_at: dt.datetime | None = read_only()
    vaccination_type: str | None = writable()


@attrs.frozen(kw_only=True)
class Mu2015Report(Record):
    """A 2015 Meaningful Use report of a doctor. `/api/mu_2015_report`."""

    start_date: dt.datetime = attrs.field(metadata=ALWAYS)
    end_date: dt.datetime = attrs.field(metadata=ALWAYS)
    stage: int = attrs.field(metadata=ALWAYS)
    objectives: JSONObjects = attrs.field(metadata=ALWAYS)
