"""Run every benchmark in turn (`make bench`): each `benchmarks/*.py` but this and `_bench.py`.

Run: `python benchmarks/run_all.py [--only NAME ...] [--no-write]`. Each benchmark runs in its
own process with this interpreter (a fresh process per measurement: no warm caches or event
loop carried from one to the next) and rewrites its own section of `benchmarks/RESULTS.md`;
within each, the variants run interleaved round by round (`_bench.py`) and the section states
the machine's load and the quota settings. Every benchmark runs even when an earlier one
fails; the exit status is non-zero if any did.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The order they run in (the quick ones first); a script not named here runs after them.
ORDER = (
    "decode",
    "quota",
    "paging",
    "sync",
    "store_write",
    "webhooks",
    "iframe",
    "client_options",
    "fleet",
)
_SCRIPTS = {p.stem for p in HERE.glob("*.py")} - {"run_all", "_bench"}
# Every script of the directory: a new one is never left out.
BENCHMARKS = tuple(n for n in ORDER if n in _SCRIPTS) + tuple(sorted(_SCRIPTS - set(ORDER)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="repeatable")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    failed: list[str] = []
    for name in args.only or BENCHMARKS:
        cmd = [sys.executable, str(HERE / f"{name}.py")]
        if args.no_write:
            cmd.append("--no-write")
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        started = time.perf_counter()
        status = subprocess.run(cmd, cwd=ROOT, check=False).returncode
        took = time.perf_counter() - started
        print(f"== {name}: exit {status} in {took:.1f} s\n", flush=True)
        if status != 0:
            failed.append(f"{name} (exit {status})")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all {len(args.only or BENCHMARKS)} benchmarks passed; see benchmarks/RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
