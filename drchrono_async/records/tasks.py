"""Task records: tasks, their categories, notes, statuses and templates."""

import datetime as dt

import attrs

from ._base import ID, READ_ONLY, WRITABLE, JSONObject, JSONObjects, Record

__all__ = ["Task", "TaskCategory", "TaskNote", "TaskStatus", "TaskTemplate"]


@attrs.frozen(kw_only=True)
class Task(Record):
    """A task assigned to a user or group. `/api/tasks`."""

    archived: bool | None = attrs.field(default=None, metadata=WRITABLE)
    assigned_by: int | None = attrs.field(default=None, metadata=READ_ONLY)
    assignee_user: int | None = attrs.field(default=None, metadata=WRITABLE)
    assignee_group: int | None = attrs.field(default=None, metadata=WRITABLE)
    associated_items: JSONObjects | None = attrs.field(default=None, metadata=WRITABLE)
    category: int | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    created_by: int | None = attrs.field(default=None, metadata=READ_ONLY)
    due_date: JSONObject | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    notes: JSONObjects | None = attrs.field(default=None, metadata=WRITABLE)
    priority: int | None = attrs.field(default=None, metadata=WRITABLE)
    status: int | None = attrs.field(default=None, metadata=WRITABLE)
    title: str | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class TaskCategory(Record):
    """A category of tasks. `/api/task_categories`."""

    archived: bool | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    id: int | None = attrs.field(default=None, metadata=ID)
    is_global: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)  # printed "boolean" (a typo)
    practice_group: int | None = attrs.field(default=None, metadata=READ_ONLY)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class TaskNote(Record):
    """A note on a task. `/api/task_notes`."""

    archived: bool | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    created_by: int | None = attrs.field(default=None, metadata=READ_ONLY)
    id: int | None = attrs.field(default=None, metadata=ID)
    task: int | None = attrs.field(default=None, metadata=WRITABLE)
    text: str | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class TaskStatus(Record):
    """A status a task can be in. `/api/task_statuses`."""

    archived: bool | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    id: int | None = attrs.field(default=None, metadata=ID)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)
    practice_group: int | None = attrs.field(default=None, metadata=READ_ONLY)
    status_category: str | None = attrs.field(default=None, metadata=WRITABLE)
    task_category: int | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class TaskTemplate(Record):
    """A template for new tasks. `/api/task_templates`."""

    archived: bool | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    default_assignee_group: int | None = attrs.field(default=None, metadata=WRITABLE)
    default_assignee_user: int | None = attrs.field(default=None, metadata=WRITABLE)
    defatul_category: int | None = attrs.field(default=None, metadata=WRITABLE)
    default_due_date_offset: str | None = attrs.field(default=None, metadata=WRITABLE)
    default_note: str | None = attrs.field(default=None, metadata=WRITABLE)
    default_priority: int | None = attrs.field(default=None, metadata=WRITABLE)
    default_status: int | None = attrs.field(default=None, metadata=WRITABLE)
    default_title: str | None = attrs.field(default=None, metadata=WRITABLE)
    practice_group: int | None = attrs.field(default=None, metadata=READ_ONLY)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
