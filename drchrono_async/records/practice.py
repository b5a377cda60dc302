"""Practice records: doctors, offices, users, groups, inventory, MU reports."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

import attrs

from ._base import ALWAYS, ID, READ_ONLY, WRITABLE, JSONObject, JSONObjects, Record

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
    cell_phone: str | None = attrs.field(default=None, metadata=READ_ONLY)
    email: str | None = attrs.field(default=None, metadata=READ_ONLY)
    group_npi_number: str | None = attrs.field(default=None, metadata=READ_ONLY)
    home_phone: str | None = attrs.field(default=None, metadata=READ_ONLY)
    job_title: str | None = attrs.field(default=None, metadata=READ_ONLY)
    npi_number: str | None = attrs.field(default=None, metadata=READ_ONLY)
    office_phone: str | None = attrs.field(default=None, metadata=READ_ONLY)
    practice_group: int | None = attrs.field(default=None, metadata=READ_ONLY)
    practice_group_name: str = attrs.field(metadata=ALWAYS)
    profile_picture: str | None = attrs.field(default=None, metadata=READ_ONLY)
    suffix: str | None = attrs.field(default=None, metadata=READ_ONLY)
    timezone: str = attrs.field(metadata=ALWAYS)
    website: str | None = attrs.field(default=None, metadata=READ_ONLY)
    is_account_suspended: bool = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class Office(Record):
    """An office of the practice, with its exam rooms. `/api/offices`."""

    online_scheduling: bool | None = attrs.field(default=None, metadata=WRITABLE)
    online_timeslots: JSONObjects | None = attrs.field(default=None, metadata=WRITABLE)
    address: str | None = attrs.field(default=None, metadata=READ_ONLY)
    archived: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    city: str | None = attrs.field(default=None, metadata=READ_ONLY)
    country: str | None = attrs.field(default=None, metadata=READ_ONLY)
    doctor: int | None = attrs.field(default=None, metadata=READ_ONLY)
    end_time: dt.time | None = attrs.field(default=None, metadata=READ_ONLY)
    exam_rooms: JSONObjects | None = attrs.field(default=None, metadata=READ_ONLY)
    id: int | None = attrs.field(default=None, metadata=ID)
    name: str | None = attrs.field(default=None, metadata=READ_ONLY)
    phone_number: str | None = attrs.field(default=None, metadata=READ_ONLY)
    fax_number: str | None = attrs.field(default=None, metadata=READ_ONLY)
    start_time: dt.time | None = attrs.field(default=None, metadata=READ_ONLY)
    state: str | None = attrs.field(default=None, metadata=READ_ONLY)
    zip_code: str | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class User(Record):
    """A user account of the practice group. `/api/users`."""

    doctor: int = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    plan_type: str = attrs.field(metadata=ALWAYS)
    is_doctor: bool = attrs.field(metadata=ALWAYS)
    is_staff: bool = attrs.field(metadata=ALWAYS)
    username: str = attrs.field(metadata=ALWAYS)
    practice_group: int | None = attrs.field(default=None, metadata=READ_ONLY)
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

    category: int | None = attrs.field(default=None, metadata=WRITABLE)
    cost: Decimal | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    cvx_code: str | None = attrs.field(default=None, metadata=WRITABLE)
    current_quantity: int | None = attrs.field(default=None, metadata=READ_ONLY)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    expiry: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    lot_number: str | None = attrs.field(default=None, metadata=WRITABLE)
    manufacturer: str | None = attrs.field(default=None, metadata=WRITABLE)
    manufacturer_code: str | None = attrs.field(default=None, metadata=WRITABLE)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)
    original_quantity: int | None = attrs.field(default=None, metadata=WRITABLE)
    price: Decimal | None = attrs.field(default=None, metadata=WRITABLE)
    price_with_tax: Decimal | None = attrs.field(default=None, metadata=WRITABLE)
    sales_tax_applicable: bool | None = attrs.field(default=None, metadata=WRITABLE)
    status: str | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    vaccination_type: str | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class Mu2015Report(Record):
    """A 2015 Meaningful Use report of a doctor. `/api/mu_2015_report`."""

    start_date: dt.datetime = attrs.field(metadata=ALWAYS)
    end_date: dt.datetime = attrs.field(metadata=ALWAYS)
    stage: int = attrs.field(metadata=ALWAYS)
    objectives: JSONObjects = attrs.field(metadata=ALWAYS)
