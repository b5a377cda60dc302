"""Task records: tasks, their categories, notes, statuses and templates."""

import datetime as dt

import attrs

from ._base import JSONObject, JSONObjects, Record, key, read_only, writable

__all__ = ["Task", "TaskCategory", "TaskNote", "TaskStatus", "TaskTemplate"]


@attrs.frozen(kw_only=True)
class Task(Record):
    """A task assigned to a user or group. `/api/tasks`."""

    archived: bool | None = writable()
    assigned_by: int | None = read_only()
    assignee_user: int | None = writable()
    assignee_group: int | None = writable()
    associated_items: JSONObjects | None = writable()
    category: int | None = writable()
    created_at: dt.datetime | None = read_only()
    created_by: int | None = read_only()
    due_date: JSONObject | None = writable()
    id: int | None = key()
    notes: JSONObjects | None = writable()
    priority: int | None = writable()
    status: int | None = writable()
    title: str | None = writable()
    updated_at: dt.datetime | None = read_only()


@attrs.frozen(kw_only=True)
class TaskCategory(Record):
    """A category of tasks. `/api/task_categories`."""

    archived: bool | None = writable()
    created_at: dt.datetime | None = read_only()
    id: int | None = key()
    is_global: bool | None = read_only()
    name: str | None = writable()  # printed "boolean" (a typo)
    practice_group: int | None = read_only()
    updated_at: dt.datetime | None = read_only()


@attrs.frozen(kw_only=True)
class TaskNote(Record):
    """A note on a task. `/api/task_notes`."""

    archived: bool | None = writable()
    created_at: dt.datetime | None = read_only()
    created_by: int | None = read_only()
    id: int | None = key()
    task: int | None = writable()
    text: str | None = writable()
    updated_at: dt.datetime | None = read_only()


@attrs.frozen(kw_only=True)
class TaskStatus(Record):
    """A status a task can be in. `/api/task_statuses`."""

    archived: bool | None = writable()
    created_at: dt.datetime | None = read_only()
    id: int | None = key()
    name: str | None = writable()
    practice_group: int | None = read_only()
    status_category: str | None = writable()
    task_category: int | None = writable()
    updated_at: dt.datetime | None = read_only()


@attrs.frozen(kw_only=True)
class TaskTemplate(Record):
    """A template for new tasks. `/api/task_templates`."""

    archived: bool | None = writable()
    created_at: dt.datetime | None = read_only()
    default_assignee_group: int | None = writable()
    default_assignee_user: int | None = writable()
    defatul_category: int | None = writable()
    default_due_date_offset: str | None = writable()
    default_note: str | None = writable()
    default_priority: int | None = writable()
    default_status: int | None = writable()
    default_title: str | None = writable()
    practice_group: int | None = read_only()
    name: str | None = writable()
    updated_at: dt.datetime | None = read_only()
    # Not in the reference's table, yet the endpoint takes PUT and PATCH by id.
    id: int | None = key()
