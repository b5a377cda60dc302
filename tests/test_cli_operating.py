"""The command line as an operator meets it: the real entry point in a subprocess, its one
line, its exit code, and the calls it spent (the emulator counts every request).

Kept few and fast: each failure here ends before any long work.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drchrono_async.testing import Emulator

from .sync.conftest import POSTGRES_DSN

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRCHRONO_")}
    env["PYTHONPATH"] = str(ROOT)  # this checkout's package, whatever is installed
    return {**env, **extra}


async def cli(*argv: str, **env: str) -> tuple[int, str, str]:
    """Run `drchrono-async ARGV` in a subprocess (the test's loop keeps serving meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drchrono_async.cli",
        *argv,
        cwd=ROOT,
        env=_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_line(err: str) -> str:
    """The command's one line about what stopped it: its last, after any log records
    (retries, quota pauses: timestamped), and no traceback."""
    assert "Traceback" not in err
    *logs, last = err.strip().splitlines()
    assert all(line[:4].isdigit() and line[10:11] == "T" for line in logs), err
    assert last.startswith("drchrono-async ")
    return last


async def test_a_refused_token_costs_one_call_and_says_so_in_one_line(tmp_path: Path) -> None:
    emu = Emulator(seed=3)
    async with emu.serve() as url:
        code, _, err = await cli(
            "sync", "--plain", "--base-url", url, "--store", f"sqlite:///{tmp_path}/p.db",
            DRCHRONO_ACCESS_TOKEN="at_refused_0123456789",
        )  # fmt: skip
    assert code == 3
    assert one_line(err) == "drchrono-async sync: the access token was refused (401)"
    assert len(emu.requests) <= 2  # was 52: one 401 per resource
    assert err.count("AuthenticationError") <= 1  # was one line per resource
    assert "at_refused" not in err


async def test_an_unreachable_server_is_one_line_after_the_first_resources_retries(
    tmp_path: Path,
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = await cli(
        "sync", "--plain", "--base-url", f"http://127.0.0.1:{port}",
        "--store", f"sqlite:///{tmp_path}/p.db", DRCHRONO_ACCESS_TOKEN="at_0123456789",
    )  # fmt: skip
    assert code == 4
    line = one_line(err)
    assert line.startswith("drchrono-async sync: the API server could not be reached: ")
    assert "connection refused" in line
    # The first resource's attempts (logged as they are retried), never the 50 others'.
    assert err.count("retrying in") == 4 and "/api/appointments" in err


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` read-only, even for root (the immutable attribute), or skip."""
    if os.geteuid() != 0:
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(0o755 if path.is_dir() else 0o644)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("running as root, and chattr cannot make the file immutable here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


async def test_each_store_mistake_is_one_line_and_an_exit_code_of_its_own(tmp_path: Path) -> None:
    async def sync(store: str) -> tuple[int, str]:
        code, _, err = await cli("sync", "--emulator", "--plain", "--resource", "doctors",
                                 "--store", store)  # fmt: skip
        return code, one_line(err)

    code, line = await sync(f"sqlite:///{tmp_path}/missing/p.db")
    assert code == 10 and "directory" in line and "does not exist" in line
    code, _, err = await cli("demo", "--db", f"{tmp_path}/missing/demo.db")  # was a traceback
    assert code == 10 and one_line(err).startswith("drchrono-async demo: the store's directory")
    app = {"DRCHRONO_CLIENT_ID": "cid", "DRCHRONO_CLIENT_SECRET": "secret"}
    app["DRCHRONO_REDIRECT_URI"] = "http://localhost:8000/cb"
    code, _, err = await cli(
        "login", "--paste", "--store", f"sqlite:///{tmp_path}/missing/t.db", **app
    )  # was a traceback, before the browser was sent anywhere
    assert code == 10 and one_line(err).startswith("drchrono-async login: the store's directory")

    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only(ro):
        code, line = await sync(f"sqlite:///{ro}/p.db")
    assert code == 11 and "read-only" in line
    made = tmp_path / "made.db"
    sqlite3.connect(made).close()
    with read_only(made):
        code, line = await sync(f"sqlite:///{made}")
    assert code == 11 and line.endswith(f"the store {made} is read-only")
    notes = tmp_path / "notes.db"
    notes.write_text("not a database " * 100)
    code, line = await sync(f"sqlite:///{notes}")
    assert code == 16 and "is not a SQLite database (SQLITE_NOTADB)" in line

    db = tmp_path / "busy.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
    try:
        code, line = await sync(f"sqlite:///{db}")
    finally:
        holder.close()
    assert code == 12 and "locked" in line and "over 2 s" in line

    base = POSTGRES_DSN.rsplit("/", 1)[0]
    code, line = await sync(f"{base}/drchrono_no_such_db")
    assert code == 13 and "database does not exist" in line
    code, line = await sync("postgresql://postgres@127.0.0.1:1/test")
    assert code == 14 and "could not be reached" in line
    code, line = await sync(POSTGRES_DSN.replace("postgres@", "drchrono_no_role:pw@", 1))
    assert code == 15 and "refused the user or password" in line and ":pw" not in line


async def test_skipped_for_scope_exits_0_unless_strict(tmp_path: Path) -> None:
    args = ["sync", "--emulator", "--plain", "--store", f"sqlite:///{tmp_path}/s.db"]
    args += ["--resource", "doctors", "--resource", "appointments", "--scopes", "user"]
    code, out, _ = await cli(*args)
    assert code == 0  # was 1 on every run, forever
    assert "appointments: skipped" in out and "scope not granted: calendar" in out
    code, _, _ = await cli(*args, "--strict")
    assert code == 5


async def test_the_emulator_says_a_port_in_use_or_a_bad_size_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, _, err = await cli("emulator", "--port", port)
    assert code == 2
    assert one_line(err) == (
        f"drchrono-async emulator: 127.0.0.1:{port} is in use (give another --port, or 0 "
        "for any free one)"
    )
    code, _, err = await cli("emulator", "--port", "0", "--size", "foo=1")
    assert code == 1  # SystemExit with a message, before anything is served
    line = one_line(err)
    assert "foo is not a size the seed knows" in line and "appointments" in line


async def test_version_and_json_logs() -> None:
    code, out, _ = await cli("--version")
    assert code == 0 and out.startswith("drchrono-async ")
