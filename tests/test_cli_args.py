"""One vocabulary across commands: every duration flag takes 30s, 15m, 1h, 1d and a bare
number of seconds; every `--help` shows every default and the command's exit codes."""

from __future__ import annotations

import argparse

import pytest

from drchrono_async._cli_args import HelpFormatter, format_duration, parse_duration
from drchrono_async._cli_exit import CODES
from drchrono_async._fleet_cli import every_minutes
from drchrono_async.cli import build_parser
from drchrono_async.errors import InvalidRequestError


def test_durations_read_one_way() -> None:
    assert parse_duration("30s") == 30 and parse_duration("15m") == 900
    assert parse_duration("1h") == 3600 and parse_duration("1d") == 86_400
    assert parse_duration("1.5h") == 5400 and parse_duration(" 15 ") == 15  # bare: seconds
    for bad in ("", "h", "-1m", "1w", "1e3", "15 minutes", "9" * 40):
        with pytest.raises(ValueError, match="a duration like 30s, 15m, 1h or 1d"):
            parse_duration(bad)
    with pytest.raises(ValueError, match="from 1s to"):
        parse_duration("0.5", low=1)
    assert parse_duration("0", low=60, zero=True) == 0
    assert [format_duration(s) for s in (900, 90, 3600, 86_400, 0.25)] == [
        "15m", "90s", "1h", "1d", "0.25s",
    ]  # fmt: skip


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {k}": v for k, v in subparsers(sub).items()})
    return found


def test_sync_and_worker_every_mean_the_same() -> None:
    parser = build_parser()
    sync = parser.parse_args(["sync", "--every", "15"])
    worker = parser.parse_args(["worker", "--store", "postgresql://x", "--every", "15"])
    assert sync.every == worker.every == 15.0  # was 15 s for sync, 15 min for worker
    assert parser.parse_args(["worker", "--store", "postgresql://x", "--every", "1h"]).every == 3600
    assert every_minutes(3600) == 60 and every_minutes(900) == 15 and every_minutes(0) == 0
    for refused in (15, 45 * 60, 90 * 60):  # 15 s; :00 and :45 are not 45 min apart
        with pytest.raises(InvalidRequestError, match="no period a cron schedule repeats"):
            every_minutes(refused)


def test_every_help_shows_every_default_and_the_exit_codes() -> None:
    parser = build_parser()
    formatter = HelpFormatter("x")
    missing = []
    for name, sub in subparsers(parser).items():
        for action in sub._actions:
            if not action.option_strings or action.default in (None, False, argparse.SUPPRESS):
                continue
            if isinstance(action.default, list) and not action.default:
                continue
            text = formatter._get_help_string(action) or ""
            if "default" not in text:
                missing.append(f"{name} {action.option_strings[0]}")
        if " " not in name or name.startswith("practices "):
            epilog = sub.epilog or ""  # status words its own ("exit status:", 0/1/2)
            assert "exit codes:" in epilog or "exit status:" in epilog, name
    assert missing == []
    stalled = subparsers(parser)["worker"].format_help()
    assert "must exceed --heartbeat" in stalled and "(default: 10s)" in stalled
    sync = subparsers(parser)["sync"].format_help()
    for code, _ in CODES:
        assert f"  {code:>3}  " in sync


def test_a_bad_resource_is_named_in_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from drchrono_async.cli import main

    assert (
        main(["sync", "--emulator", "--store", "sqlite:///:memory:", "--resource", "patiens"]) == 2
    )
    err = capsys.readouterr().err
    assert "--resource patiens: not an endpoint a sync copies; did you mean patients" in err
    args = ["sync", "--emulator", "--store", "sqlite:///:memory:", "--resource", "patients"]
    assert main([*args, "--no-verbose", "doctors"]) == 2
    assert "--no-verbose doctors: not a resource of this sync" in capsys.readouterr().err
