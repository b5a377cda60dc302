"""Parse `../shared/reference/drchrono-api-v4.txt` into endpoints, filters and object keys.

Only the checks that compare the code with the reference use this. The reference lives beside
the repository, not in it: `reference_text()` skips the calling test where it is absent, and
fails instead under `CI=true`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

# $DRCHRONO_API_REFERENCE names a text copy of the v4 reference; by default, the workspace's.
REFERENCE = Path(
    os.environ.get("DRCHRONO_API_REFERENCE")
    or Path(__file__).resolve().parents[2] / "shared" / "reference" / "drchrono-api-v4.txt"
)

# Longest first, so "array of objects" wins over "array". Misspellings are the reference's own.
_TYPES = [
    "integer or null",
    "string or number",
    "array of objects",
    "list of objects",
    "List of objects",
    "array of strings",
    "array of string",
    "array of integers",
    "array of integer",
    "array of icd10_code",
    "list of integers",
    "date range",
    "JSON Web Token",
    "timestampe",
    "timstamp",
    "timestamp",
    "datetime",
    "objects",
    "object",
    "array",
    "list",
    "integer",
    "string",
    "boolean",
    "bollean",
    "date",
    "time",
    "decimal",
    "file",
    "URL",
    "float",
    "long",
    "any",
]
_TYPE_RE = re.compile(r"(" + "|".join(re.escape(t) for t in _TYPES) + r")(?=\s|$)")
_PATH_RE = re.compile(r"^(/api/[a-z0-9_/:]+|/o/[a-z_]+/?)$")
_READ_ONLY_RE = re.compile(r"^read[-_ ]?only\b", re.I)


@dataclass
class Key:
    name: str
    type: str | None  # None where the reference leaves the type out
    flag: str  # third column: required/optional/read-only/Yes/No/... ("" when absent)

    @property
    def read_only(self) -> bool:
        return bool(_READ_ONLY_RE.match(self.flag))


@dataclass
class Endpoint:
    path: str
    methods: list[str] = field(default_factory=list)
    verbose_keys: list[str] = field(default_factory=list)
    filters: dict[str, Key] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)  # object (or request) keys
    key_columns: str = ""  # the object table's header, e.g. "Key Type Always present Notes"

    @property
    def name(self) -> str:
        """`/api/lab_orders` -> `lab_orders`; actions keep their tail (`patients/:id/ccda`)."""
        return self.path.removeprefix("/api/").removeprefix("/o/").strip("/")

    @property
    def is_action(self) -> bool:
        return ":id" in self.path

    @property
    def always_present_table(self) -> bool:
        return "always" in self.key_columns.lower()


def reference_text() -> str:
    """The reference's text; skips the test where it is absent (never under CI=true)."""
    if not REFERENCE.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the API reference is missing at {REFERENCE}; CI must compare against it")
        pytest.skip(f"the API reference is not beside the repository ({REFERENCE})")
    return REFERENCE.read_text(encoding="utf-8")


def _row(line: str) -> Key | None:
    line = line.strip()
    if not line or line.startswith("Note:") or " " not in line:
        return None
    name, rest = line.split(" ", 1)
    name = name.strip("`")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        return None
    m = _TYPE_RE.match(rest)
    type_ = m.group(1) if m else None
    tail = rest[m.end() :].strip() if m else rest
    flag = tail.split(" ", 1)[0] if tail else ""
    if re.match(r"^read[ _]only\b", tail, re.I):
        flag = "read-only"
    return Key(name=name, type=type_, flag=flag)


@cache
def _parse(text: str) -> dict[str, Endpoint]:
    endpoints: dict[str, Endpoint] = {}
    current: Endpoint | None = None
    table: str | None = None  # "filters" | "keys"
    in_rows = False
    for raw in text.splitlines():
        line = raw.strip()
        if _PATH_RE.match(line):
            current = endpoints.setdefault(line, Endpoint(path=line))
            table, in_rows = None, False
            continue
        if current is None:
            continue
        if line in ("IFrame integration", "API Webhooks", "Lab workflow"):
            table, in_rows = None, False
            if line != "Lab workflow":
                current = None
            continue
        if m := re.match(r"^(?:Supported|Allowed) requests:\s*(.+)$", line):
            current.methods = [t.strip() for t in m.group(1).split(",") if t.strip()]
            continue
        if m := re.match(r"^Keys requiring verbose=true:\s*(.+)$", line, re.I):
            keys = re.sub(r"\(.*?\)", "", m.group(1))
            current.verbose_keys = [k.strip() for k in keys.split(",") if k.strip()]
            continue
        if line.startswith("Filtering parameters"):
            table, in_rows = "filters", False
            continue
        if line.startswith(("Object key/value", "Request parameters", "Response parameters")):
            table, in_rows = ("response" if line.startswith("Response") else "keys"), False
            continue
        if table and line.startswith("Key Type"):
            in_rows = True
            if table == "keys":
                current.key_columns = line
            continue
        if table and in_rows:
            if not line:
                table, in_rows = None, False
                continue
            row = _row(line)
            if row is None:
                continue
            if table == "filters":
                current.filters[row.name] = row
            elif table == "keys":
                current.keys[row.name] = row
            else:  # the token endpoint's response table: kept apart from its request keys
                endpoints.setdefault("token response", Endpoint(path="token response"))
                endpoints["token response"].keys[row.name] = row
    return endpoints


def endpoints() -> dict[str, Endpoint]:
    """Every endpoint of the reference by path (skips where the reference is absent)."""
    return _parse(reference_text())


def api_endpoints() -> dict[str, Endpoint]:
    """Only the `/api/...` endpoints."""
    return {p: e for p, e in endpoints().items() if p.startswith("/api/")}
