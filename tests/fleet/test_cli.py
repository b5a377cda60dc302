"""`drchrono-async practices add|list|remove` and `drchrono-async worker`, run in process.

Proves: each way of giving a token (`--access-token -` from the environment, `--token-file`,
`--oauth-code` exchanged with a served emulator) lands that token in the registry and never
in the output; `--resource` repeats; `list` and `remove` say what the registry holds; bad
input exits 2 with a typed message (a bad key before any one-time code is spent); and
`worker --migrate` creates the queue's tables.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest

from drchrono_async.cli import main
from drchrono_async.fleet import PracticeRegistry
from drchrono_async.oauth import Token
from drchrono_async.testing import Emulator
from tests.ratelimit.conftest import REDIS_URL

from .conftest import POSTGRES_DSN

SECRET = "at_cli_secret_0123456789abcdef"


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def store(schema: str) -> tuple[str, ...]:
    return ("--store", POSTGRES_DSN, "--schema", schema)


@pytest.fixture(autouse=True)
def no_oauth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DRCHRONO_CLIENT_ID",
        "DRCHRONO_CLIENT_SECRET",
        "DRCHRONO_REDIRECT_URI",
        "DRCHRONO_ACCESS_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


async def test_add_from_env_list_and_remove(
    registry: PracticeRegistry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DRCHRONO_ACCESS_TOKEN", SECRET)
    s = store(registry.schema)
    assert (
        await cli(
            "practices",
            "add",
            "acme",
            *s,
            "--access-token",
            "-",
            "--name",
            "Acme Clinic",
            "--resource",
            "patients",
            "--resource",
            "appointments",
            "--base-url",
            "http://127.0.0.1:9/",
        )
        == 0
    )
    assert await cli("practices", "add", "beta", *s, "--access-token", "-") == 0
    added = capsys.readouterr()
    assert "practice acme registered (fixed token)" in added.out
    assert SECRET not in added.out + added.err
    token = await registry.token_store("acme").load()
    assert token is not None and token.access_token == SECRET
    acme = await registry.get("acme")
    assert acme is not None and acme.auth == "fixed"
    assert acme.resources == ("patients", "appointments")

    assert await cli("practices", "remove", "beta", *s) == 0
    assert "practice beta deactivated" in capsys.readouterr().out
    assert await cli("practices", "remove", "nobody", *s) == 1
    assert "no practice nobody" in capsys.readouterr().err
    assert await cli("practices", "list", *s) == 0
    listed = capsys.readouterr()
    header, *rows = [line.split("\t") for line in listed.out.splitlines()]
    assert header == ["key", "state", "name", "base_url", "resources", "auth", "created"]
    assert [r[:6] for r in rows] == [
        ["acme", "active", "Acme Clinic", "http://127.0.0.1:9", "patients,appointments", "fixed"],
        ["beta", "removed", "beta", "https://drchrono.com", "all", "fixed"],
    ]
    assert SECRET not in listed.out + listed.err


async def test_add_refuses_a_registered_key_unless_replace(
    registry: PracticeRegistry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s = store(registry.schema)
    monkeypatch.setenv("DRCHRONO_ACCESS_TOKEN", SECRET)
    assert await cli("practices", "add", "acme", *s, "--access-token", "-") == 0
    monkeypatch.setenv("DRCHRONO_ACCESS_TOKEN", "at_other_0123456789")
    assert await cli("practices", "add", "acme", *s, "--access-token", "-", "--name", "X") == 2
    err = capsys.readouterr().err
    assert "practice acme is already registered (active): --replace" in err
    token = await registry.token_store("acme").load()
    assert token is not None and token.access_token == SECRET  # untouched
    args = ("practices", "add", "acme", *s, "--access-token", "-", "--name", "X", "--replace")
    assert await cli(*args) == 0
    acme = await registry.get("acme")
    assert acme is not None and acme.name == "X"
    # A bad resource name is named, with the nearest ones.
    assert await cli("practices", "add", "beta", *s, "--access-token", "-", "--resource",
                     "apointments") == 2  # fmt: skip
    assert "--resource apointments: not an endpoint a sync copies; did you mean appointments" in (
        capsys.readouterr().err
    )


async def test_add_from_a_token_file(
    registry: PracticeRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = Token("at_file_0123456789", "rt_file_0123456789", time.time() + 3600, scope="patients")
    path = tmp_path / "token.json"
    path.write_bytes(saved.to_json())
    assert (
        await cli("practices", "add", "filed", *store(registry.schema), "--token-file", str(path))
        == 0
    )
    out = capsys.readouterr()
    assert "(oauth token)" in out.out and "at_file_" not in out.out + out.err
    assert await registry.token_store("filed").load() == saved
    empty = tmp_path / "missing.json"
    assert (
        await cli("practices", "add", "other", *store(registry.schema), "--token-file", str(empty))
        == 2
    )
    assert "the token file holds no token" in capsys.readouterr().err


async def test_add_with_an_oauth_code(
    registry: PracticeRegistry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emu = Emulator(seed=5, sizes={"appointments": 0, "patients": 3})
    monkeypatch.setenv("DRCHRONO_CLIENT_ID", emu.client_id)
    monkeypatch.setenv("DRCHRONO_CLIENT_SECRET", emu.client_secret)
    monkeypatch.setenv("DRCHRONO_REDIRECT_URI", emu.redirect_uri)
    async with emu.serve() as url:
        code = emu.issue_code()
        s = (*store(registry.schema), "--base-url", url, "--oauth-code", code)
        # A bad key is refused before the one-time code is spent.
        assert await cli("practices", "add", "Bad-Key", *s) == 2
        assert "a practice key must match" in capsys.readouterr().err
        assert not [e for e in emu.requests if e.path == "/o/token/"]
        assert await cli("practices", "add", "coded", *s) == 0
    out = capsys.readouterr()
    assert "practice coded registered (oauth token)" in out.out
    token = await registry.token_store("coded").load()
    assert token is not None
    live = emu.oauth.by_access[token.access_token]  # the token the emulator issued
    assert live.refresh == token.refresh_token and not live.revoked
    assert token.access_token not in out.out + out.err
    assert token.refresh_token not in out.out + out.err
    assert [e.status for e in emu.requests if e.path == "/o/token/"] == [200]


async def test_bad_input_exits_2(fleet_schema: str, capsys: pytest.CaptureFixture[str]) -> None:
    s = store(fleet_schema)
    assert await cli("practices", "list", "--store", "sqlite:///x.db") == 2
    assert "--store must be postgresql://" in capsys.readouterr().err
    assert await cli("practices", "add", "x; drop", *s, "--access-token", "t0123456789") == 2
    assert "practices: a practice key must match" in capsys.readouterr().err
    assert await cli("practices", "add", "ok", *s, "--access-token", "-") == 2  # $... unset
    assert capsys.readouterr().err.startswith("drchrono-async practices: ")
    assert await cli("worker", *s) == 2
    assert "worker needs --redis" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse's usage error: exit 2
        await cli("worker", *s, "--redis", REDIS_URL, "--poll", "0")
    assert refused.value.code == 2
    assert "--poll: a duration like 30s, 15m, 1h or 1d" in capsys.readouterr().err
    # A bare number is seconds in every command: 15 s is no cron period, refused with a hint.
    assert await cli("worker", *s, "--redis", REDIS_URL, "--every", "15") == 2
    err = capsys.readouterr().err
    assert "--every 15s is no period a cron schedule repeats evenly" in err
    assert err.rstrip().endswith("a bare number is seconds: did you mean 15m?")
    async with PracticeRegistry(POSTGRES_DSN, schema=fleet_schema) as registry:
        assert await registry.practices() == []  # nothing was registered


async def test_worker_migrate_creates_the_queue(
    fleet_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("worker", *store(fleet_schema), "--migrate") == 0
    assert capsys.readouterr().out.strip() == "job queue created"
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename"
            " IN ('procrastinate_jobs', 'procrastinate_events', 'procrastinate_workers')",
            (fleet_schema,),
        )
        assert await cur.fetchone() == (3,)
    assert await cli("worker", *store(fleet_schema), "--migrate") == 0
    assert capsys.readouterr().out.strip() == "job queue already there"
