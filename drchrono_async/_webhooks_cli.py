"""`worker --webhooks HOST:PORT`: the fleet's webhook receiver served beside the worker.

The webhook's secret token comes from `$DRCHRONO_WEBHOOK_SECRET` (several, comma-separated,
while rotating: each is accepted, the first answers the verification), never from a flag,
whose value `ps` shows. Loaded when the parser is built, so it imports only the standard
library; uvicorn (the `webhooks` extra) only when the flag is given. The address is bound
before the worker starts: a port in use is one line and exit code 2, as `emulator --port`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["ENV", "Listener", "add_arguments", "listening"]

ENV = "DRCHRONO_WEBHOOK_SECRET"


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or len(port) > 5 or int(port) > 65_535:
        raise argparse.ArgumentTypeError(
            "HOST:PORT, e.g. 0.0.0.0:8080 or [::1]:8080 (port 0: any free port)"
        )
    return host, int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--webhooks` to the worker's parser."""
    parser.add_argument(
        "--webhooks",
        type=_address,
        default=None,
        metavar="HOST:PORT",
        help="also receive DrChrono's webhooks at http://HOST:PORT/ (any path) and apply "
        "each delivery to its practice's schema; the secret token from $" + ENV + " "
        "(comma-separated while rotating), never a flag; several workers may serve it "
        "behind a load balancer (needs the webhooks extra; default: off)",
    )


class Listener:
    """The bound socket of `--webhooks` and the secrets; `serving` runs the receiver (does
    nothing without a socket: no `--webhooks`)."""

    def __init__(self, sock: socket.socket | None = None, secrets: list[str] | None = None):
        self.sock = sock
        self.secrets = secrets or []

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()

    @contextlib.asynccontextmanager
    async def serving(self, dsn: str, schema: str) -> AsyncIterator[None]:
        """Serve the fleet's `webhook_app` on the socket for the block (its periodic retry of
        kept deliveries runs with it)."""
        if self.sock is None:
            yield
            return
        import uvicorn

        from .fleet import PracticeRegistry, webhook_app

        class Server(uvicorn.Server):
            def capture_signals(self) -> Any:  # the worker handles SIGINT and SIGTERM
                return contextlib.nullcontext()

        async with PracticeRegistry(dsn, schema=schema) as registry:
            app = webhook_app(registry, self.secrets)
            config = uvicorn.Config(
                app, lifespan="on", log_config=None, access_log=False, log_level="warning"
            )
            server = Server(config)
            sock = self.sock
            task = asyncio.create_task(server.serve(sockets=[sock]), name="webhooks")
            host, port = sock.getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            print(f"webhooks at http://{shown}:{port}/", file=sys.stderr, flush=True)
            try:
                yield
            finally:
                server.should_exit = True
                await task


def listening(args: argparse.Namespace) -> Listener:
    """Read the secrets and bind `--webhooks` (an idle `Listener` without the flag);
    `CommandError` (one line, exit 2) for no secret or an address that cannot be bound."""
    address = getattr(args, "webhooks", None)
    if address is None:
        return Listener()
    from ._checks import needs_extra
    from ._cli_exit import EXIT_USAGE, CommandError

    with needs_extra("webhooks", "worker --webhooks"):
        import uvicorn  # noqa: F401
    secrets = [s.strip() for s in os.environ.get(ENV, "").split(",") if s.strip()]
    if not secrets:
        raise CommandError(f"--webhooks needs the webhook's secret token in ${ENV}", EXIT_USAGE)
    host, port = address
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        raise CommandError(f"--webhooks {host}:{port}: no such address", EXIT_USAGE) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = {errno.EADDRINUSE: "is in use", errno.EACCES: "needs privileges"}.get(
            exc.errno or 0, f"cannot be bound ({type(exc).__name__})"
        )
        raise CommandError(
            f"--webhooks {host}:{port} {why} (give another port, or 0 for any free one)",
            EXIT_USAGE,
        ) from None
    return Listener(sock, secrets)
