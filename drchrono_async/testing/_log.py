"""The emulator's request log: what was asked and what was answered, for tests to read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, overload

import attrs

__all__ = ["LogEntry", "RequestLog"]


@attrs.frozen
class LogEntry:
    """One request the emulator received. The Authorization header is never kept."""

    method: str
    path: str
    query: dict[str, str]
    status: int | None  # None when a fault gave no answer ("reset", "drop")
    time: float  # the emulator clock when the request arrived
    fault: str | None = None
    location: str | None = None  # for redirects
    practice: int | None = None  # the practice of the request's token; None without one


class RequestLog:
    """Every request served, in arrival order, with small counting helpers."""

    def __init__(self) -> None:
        self._entries: list[LogEntry] = []

    def append(self, entry: LogEntry) -> None:
        self._entries.append(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self._entries)

    @overload
    def __getitem__(self, index: int) -> LogEntry: ...
    @overload
    def __getitem__(self, index: slice) -> list[LogEntry]: ...
    def __getitem__(self, index: int | slice) -> LogEntry | list[LogEntry]:
        return self._entries[index]

    def clear(self) -> None:
        self._entries.clear()

    def filter(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        status: int | Literal["any"] | None = "any",
        fault: str | Literal["any"] | None = "any",
        practice: int | Literal["any"] | None = "any",
    ) -> list[LogEntry]:
        """The entries matching every given criterion."""
        out = []
        for e in self._entries:
            if method is not None and e.method != method.upper():
                continue
            if path is not None and e.path != path:
                continue
            if path_prefix is not None and not e.path.startswith(path_prefix):
                continue
            if status != "any" and e.status != status:
                continue
            if fault != "any" and e.fault != fault:
                continue
            if practice != "any" and e.practice != practice:
                continue
            out.append(e)
        return out

    def count(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        status: int | Literal["any"] | None = "any",
        fault: str | Literal["any"] | None = "any",
        practice: int | Literal["any"] | None = "any",
    ) -> int:
        """How many entries match, e.g. `count(status=429)` or `count(practice=1)`."""
        return len(
            self.filter(
                method=method,
                path=path,
                path_prefix=path_prefix,
                status=status,
                fault=fault,
                practice=practice,
            )
        )
