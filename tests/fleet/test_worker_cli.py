"""`drchrono-async worker` as a container runs it: the real entry point in a subprocess,
at INFO without `-v`, warning when `$DRCHRONO_CLIENT_ID` is unset, saying when the pass of
`--every 0` is done and exiting then with `--exit-when-done`; and with Redis away, one line
per back-off instead of a traceback per job."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from drchrono_async._fleet_cli import wait_for_redis
from drchrono_async.fleet import PracticeRegistry
from drchrono_async.fleet._runner import FleetJobError
from drchrono_async.fleet._worker import _TypedFailures
from drchrono_async.oauth import Token
from drchrono_async.testing import Emulator
from tests.ratelimit.conftest import REDIS_URL
from tests.test_cli_operating import ROOT, _env, cli

from .conftest import POSTGRES_DSN


async def test_a_one_pass_worker_logs_at_info_and_exits_when_done(
    registry: PracticeRegistry, redis_key: str
) -> None:
    emu = Emulator(seed=6, sizes={"patients": 12, "doctors": 2})
    async with emu.serve() as url:
        token = Token(emu.access_token, "rt_unused_0123456789", emu.clock.now() + 86_400)
        await registry.add(
            "acme", token, base_url=url, resources=["doctors", "patients"], auth="fixed"
        )
        code, _, err = await cli(
            "worker", "--store", POSTGRES_DSN, "--schema", registry.schema,
            "--redis", REDIS_URL, "--quota-key", f"{redis_key}:quota",
            "--every", "0", "--exit-when-done", "--poll", "0.2", "--heartbeat", "1s",
            "--stalled-after", "5s",
        )  # fmt: skip
    assert code == 0, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert any("fleet: pass done" in line for line in lines)
    # INFO without -v: each job's end, by practice and resource (never a token).
    assert sum("ended with status: Success" in line for line in lines) >= 2
    assert emu.access_token not in err
    assert emu.requests  # the pass synced: calls were made and counted
    assert await registry.spent("acme", window=3600) == len(emu.requests)


async def test_an_unset_client_id_warns_and_redis_away_backs_off_one_line_a_try(
    fleet_schema: str,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drchrono_async.cli", "worker", "--store", POSTGRES_DSN,
        "--schema", fleet_schema, "--redis", "redis://127.0.0.1:1/0",
        cwd=ROOT, env=_env(), stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        while not any("next try in" in line for line in lines):
            raw = await asyncio.wait_for(proc.stderr.readline(), 30)
            assert raw, lines
            lines.append(raw.decode())
    finally:
        proc.terminate()
        await proc.wait()
    assert "$DRCHRONO_CLIENT_ID is unset" in lines[0]
    assert lines[1].endswith(
        "WARNING drchrono_async.fleet: fleet: the quota's Redis is unreachable "
        "(ConnectionError); next try in 1s\n"
    )


async def test_redis_away_is_one_line_per_back_off(caplog: pytest.LogCaptureFixture) -> None:
    class Down:
        tries = 0

        async def ping(self) -> bool:
            self.tries += 1
            if self.tries < 4:
                raise ConnectionError("Error 111 connecting to redis://:secret@cache:6379")
            return True

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    with caplog.at_level(logging.INFO, logger="drchrono_async.fleet"):
        await wait_for_redis(Down(), sleep=sleep)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "fleet: the quota's Redis is unreachable (ConnectionError); next try in 1s",
        "fleet: the quota's Redis is unreachable (ConnectionError); next try in 2s",
        "fleet: the quota's Redis is unreachable (ConnectionError); next try in 4s",
    ]
    assert slept == [1, 2, 4] and not any(r.exc_info for r in caplog.records)


def test_a_typed_job_failure_is_one_line_not_a_traceback() -> None:
    try:
        raise FleetJobError("sync of patients for practice acme failed: QuotaBackendError")
    except FleetJobError:
        info = sys.exc_info()
    record = logging.LogRecord(
        "procrastinate.worker", logging.ERROR, __file__, 1, "Job %s ended", ("j1",), info
    )
    assert _TypedFailures().filter(record)
    assert record.exc_info is None
    assert record.getMessage() == (
        "Job j1 ended (FleetJobError: sync of patients for practice acme failed: QuotaBackendError)"
    )


def test_worker_risk_reaches_the_freshness_targets_through_its_arguments() -> None:
    from drchrono_async._freshness_cli import targets_from
    from drchrono_async.cli import build_parser

    parser = build_parser()
    base = ["worker", "--store", "postgresql://x", "--freshness", "appointments=5m"]
    opted = targets_from(parser.parse_args([*base, "--risk", "0.05", "--sweep", "2h"]))
    assert opted is not None
    assert (opted.risk, opted.sweep, opted.target("appointments")) == (0.05, 7200, 300)
    plain = targets_from(parser.parse_args(base))
    assert plain is not None and plain.risk == 0  # by default every target is a hard bound
    assert targets_from(parser.parse_args(base[:3])) is None  # no --freshness: the clock


@pytest.mark.parametrize("command", ["worker", "status"])
@pytest.mark.parametrize("value", ["0.6", "-0.01", "nan", "inf", "5%", "x" * 40])
def test_a_bad_risk_is_the_command_lines_argument_error(
    command: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from drchrono_async.cli import build_parser

    argv = [command, "--store", "postgresql://x", "--freshness", "on", "--risk", value]
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(argv)
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert f"{command}: error: argument --risk: a probability from 0 to 0.5" in err
    assert "x" * 40 not in err


async def test_a_worker_started_with_risk_plans_with_it_and_risk_needs_freshness(
    fleet_schema: str, redis_key: str
) -> None:
    common = (
        "worker", "--store", POSTGRES_DSN, "--schema", fleet_schema, "--redis", REDIS_URL,
        "--quota-key", f"{redis_key}:quota", "--poll", "0.2", "--heartbeat", "1s",
        "--stalled-after", "5s",
    )  # fmt: skip
    code, _, err = await cli(*common, "--freshness", "on", "--risk", "0.05", "--exit-when-done")
    assert code == 0, err
    assert "fleet: worker started (concurrency 4, by freshness, risk 0.05, quota 500/h)" in err
    code, _, err = await cli(*common, "--risk", "0.05")
    assert code == 2 and err.strip().endswith(
        "--risk needs --freshness (it tunes the targets' periods)"
    )
