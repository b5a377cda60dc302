"""`make demo` runs `drchrono-async demo`: it must run and print what is true."""

from __future__ import annotations

import re

from drchrono_async.cli import demo, main


async def test_demo_reports_the_calls_it_made() -> None:
    lines: list[str] = []
    await demo(seed=3, shards=3, out=lines.append)
    text = "\n".join(lines)
    total = int(re.search(r"^(\d+) appointments from", text, re.M).group(1))  # type: ignore[union-attr]
    by_status = sum(int(m) for m in re.findall(r"^\s+(\d+)\s{2}", text, re.M))
    assert total > 0 and by_status == total
    assert "fetched in 3 concurrent date windows" in text
    used = re.search(r"calls used: (\d+) of 500 this hour, as the emulator counted (\d+)", text)
    assert used is not None
    assert used.group(1) == used.group(2)  # the quota and the server agree on every call
    assert "0 answered 429" in text


def test_main_runs_the_demo(capsys: object) -> None:
    assert main(["demo", "--seed", "2", "--shards", "2"]) == 0
