"""`--metrics-port` and `--metrics-host` of `drchrono-async sync` and `worker`.

Loaded when the parser is built, so it imports only the standard library; the metrics
module (and prometheus_client) only when a port is given.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["add_arguments", "serving"]


def _port(text: str) -> int:
    if not text.strip().isdigit() or not 0 <= int(text) <= 65_535:
        raise argparse.ArgumentTypeError("a port number from 0 to 65535 (0: any free port)")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the metrics flags to a subcommand's parser."""
    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics and a health check at "
        "/healthz (0: any free port, printed; needs the metrics extra; default: off)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="the address --metrics-port binds (default 127.0.0.1; 0.0.0.0 for every one)",
    )


@contextlib.contextmanager
def serving(args: argparse.Namespace, quota: Any) -> Iterator[None]:
    """Serve metrics for the block when `--metrics-port` was given (from a coroutine)."""
    if getattr(args, "metrics_port", None) is None:
        yield
        return
    from . import metrics

    with metrics.serve(host=args.metrics_host, port=args.metrics_port, quota=quota) as server:
        shown = f"[{server.host}]" if ":" in server.host else server.host
        print(
            f"metrics at http://{shown}:{server.port}/metrics, health at /healthz",
            file=sys.stderr,
            flush=True,
        )
        yield
