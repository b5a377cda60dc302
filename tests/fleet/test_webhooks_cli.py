"""`drchrono-async worker --webhooks HOST:PORT`: the real worker process receives the
emulator's deliveries over HTTP and applies them to the practice its sync learned; the
secret comes from the environment; no secret, or a port in use, is one line and exit 2."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest

from drchrono_async._endpoints import BY_NAME
from drchrono_async.cli import build_parser, main
from drchrono_async.fleet import PracticeRegistry
from drchrono_async.oauth import Token
from drchrono_async.testing import Emulator
from tests.ratelimit.conftest import REDIS_URL
from tests.test_cli_operating import ROOT, _env

from .conftest import POSTGRES_DSN, config_for, printed, queue_everything, wait_until_idle
from .test_processes import stop_worker
from .test_webhooks_routing import patch

OLD, NEW = "whsec-CLI-OLD-11aa22bb", "whsec-CLI-NEW-33cc44dd"
SIZES = {name: 0 for name in BY_NAME} | {"doctors": 1, "offices": 1, "users": 1, "patients": 3}


async def test_a_worker_receives_webhooks_for_the_practices_it_syncs(
    registry: PracticeRegistry, redis_key: str
) -> None:
    emu = Emulator(seed=41, sizes=SIZES)
    schema = registry.schema
    async with emu.serve() as url:
        token = Token(emu.access_token, "unused-refresh", 253_402_300_799.0)
        await registry.add("acme", token, base_url=url, resources=["doctors"], auth="fixed")
        await queue_everything(config_for(schema, every=0))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "drchrono_async.cli", "worker",
            "--store", POSTGRES_DSN, "--schema", schema, "--redis", REDIS_URL,
            "--quota-key", f"{redis_key}:quota", "--every", "0", "--heartbeat", "0.5",
            "--stalled-after", "2", "--poll", "0.05", "--webhooks", "127.0.0.1:0",
            cwd=ROOT, env=_env(DRCHRONO_WEBHOOK_SECRET=f"{OLD}, {NEW}"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            hooks = await printed(proc, r"webhooks at (http://127\.0\.0\.1:\d+/)", "webhooks")
            await wait_until_idle(schema)  # the doctors slice: the practice's owner learned
            hook = emu.webhooks.register(hooks + "drchrono", NEW, ["PATIENT_MODIFY"])
            assert not await emu.webhooks.verify(hook)  # the first secret answers it
            emu.webhooks.register(hooks, OLD, ["PATIENT_MODIFY"])
            assert await emu.webhooks.verify(2)
            patient = emu.records("patients")[0]
            await patch(emu, 0, "patients", patient["id"], {"nick_name": "Bee"})
            sent = await emu.webhooks.deliver_due()
        finally:
            assert await stop_worker(proc) == 0
    # Both hooks (both secrets) delivered the change; the two are two deliveries.
    assert [e.status for e in sent] == [200, 200]
    async with registry.data_store("acme") as store:
        got = await store.get("patients", patient["id"])
    assert got is not None and got["nick_name"] == "Bee"


def test_no_secret_or_a_port_in_use_is_one_line_and_exit_2(
    fleet_schema: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["worker", "--store", POSTGRES_DSN, "--schema", fleet_schema, "--redis", REDIS_URL]
    monkeypatch.delenv("DRCHRONO_WEBHOOK_SECRET", raising=False)
    assert main([*base, "--webhooks", "127.0.0.1:0"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "drchrono-async worker: --webhooks needs the webhook's secret token in "
        "$DRCHRONO_WEBHOOK_SECRET"
    )
    monkeypatch.setenv("DRCHRONO_WEBHOOK_SECRET", OLD)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([*base, "--webhooks", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and OLD not in err
    assert err.strip().splitlines()[-1] == (
        f"drchrono-async worker: --webhooks 127.0.0.1:{port} is in use (give another port, "
        "or 0 for any free one)"
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["worker", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--webhooks HOST:PORT" in shown and "$DRCHRONO_WEBHOOK_SECRET" in shown
