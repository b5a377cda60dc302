"""The emulator over a real loopback socket, and the `drchrono-async emulator` command."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from drchrono_async.cli import build_parser
from drchrono_async.testing import Emulator

NEW_PATIENT = {"doctor": 100001, "gender": "Other", "first_name": "Socket"}


@pytest.fixture
async def served() -> AsyncIterator[tuple[Emulator, httpx.AsyncClient]]:
    emu = Emulator(seed=2, sizes={"appointments": 300, "other": 2})  # the system clock
    async with (
        emu.serve(port=0) as url,
        httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {emu.access_token}"}
        ) as client,
    ):
        yield emu, client


async def test_serves_pages_with_urls_of_the_socket(
    served: tuple[Emulator, httpx.AsyncClient],
) -> None:
    _, client = served
    r = await client.get("/api/appointments", params={"since": "2000-01-01", "page_size": "100"})
    assert r.status_code == 200
    page = r.json()
    assert len(page["results"]) == 100
    assert page["next"].startswith(str(client.base_url).rstrip("/"))
    second = await client.get(page["next"])
    assert second.status_code == 200
    assert second.json()["results"][0]["id"] != page["results"][0]["id"]
    assert "Date" in r.headers


async def test_concurrent_requests_and_keep_alive(
    served: tuple[Emulator, httpx.AsyncClient],
) -> None:
    emu, client = served
    answers = await asyncio.gather(*(client.get("/api/doctors") for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    assert emu.count(path="/api/doctors") == 20


async def test_redirect_and_multipart_over_the_socket(
    served: tuple[Emulator, httpx.AsyncClient],
) -> None:
    emu, client = served
    r = await client.get("/api/users/current")
    assert r.status_code == 302
    assert (
        r.headers["Location"]
        == f"{str(client.base_url).rstrip('/')}/api/users/{emu.current_user_id}"
    )
    files = {"document": ("a.txt", b"hello", "text/plain")}
    data = {"doctor": "100001", "patient": "5000001", "date": "2025-12-01", "description": "d"}
    r = await client.post("/api/documents", data=data, files=files)
    assert r.status_code == 201, r.text
    assert (await client.get(r.json()["document"])).content == b"hello"


async def test_chunked_request_bodies_are_read(
    served: tuple[Emulator, httpx.AsyncClient],
) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"doctor": 100001, '
        yield b'"gender": "Female"}'

    r = await client_post_stream(served[1], body())
    assert r.status_code == 201
    assert r.json()["gender"] == "Female"


async def client_post_stream(
    client: httpx.AsyncClient, body: AsyncIterator[bytes]
) -> httpx.Response:
    return await client.post(
        "/api/patients", content=body, headers={"Content-Type": "application/json"}
    )


async def test_drop_over_the_socket_applies_then_disconnects(
    served: tuple[Emulator, httpx.AsyncClient],
) -> None:
    emu, client = served
    before = len(emu.records("patients"))
    emu.faults.script(["drop"])
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/api/patients", json=NEW_PATIENT)
    assert len(emu.records("patients")) == before + 1
    assert (await client.get("/api/doctors")).status_code == 200  # a fresh connection works


async def test_reset_over_the_socket_applies_nothing(
    served: tuple[Emulator, httpx.AsyncClient],
) -> None:
    emu, client = served
    before = len(emu.records("patients"))
    emu.faults.script(["reset"])
    with pytest.raises(httpx.TransportError):
        await client.post("/api/patients", json=NEW_PATIENT)
    assert len(emu.records("patients")) == before


async def test_truncate_over_the_socket(served: tuple[Emulator, httpx.AsyncClient]) -> None:
    emu, client = served
    emu.faults.script(["truncate"])
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get("/api/patients")


async def test_slow_bodies_over_the_socket_arrive_whole(
    served: tuple[Emulator, httpx.AsyncClient],
) -> None:
    emu, client = served
    emu.faults.slow_body_seconds = 0.05
    emu.faults.script(["slow"])
    r = await client.get("/api/patients")
    assert r.status_code == 200 and r.json()["results"]


async def test_latency_is_paid_over_the_socket(served: tuple[Emulator, httpx.AsyncClient]) -> None:
    emu, client = served
    emu.latency = 0.05
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*(client.get("/api/doctors") for _ in range(8)))
    elapsed = loop.time() - start
    assert 0.05 <= elapsed < 0.5  # concurrent requests wait side by side


def test_cli_parses_the_emulator_subcommand() -> None:
    args = build_parser().parse_args(
        ["emulator", "--port", "0", "--seed", "3", "--quota", "50", "--size", "appointments=10"]
    )
    assert (args.command, args.port, args.seed, args.quota) == ("emulator", 0, 3, 50)
    assert args.size == ["appointments=10"]
    assert args.quota_window == 3600.0
    args = build_parser().parse_args(["emulator", "--quota-window", "30"])
    assert args.quota_window == 30.0


def test_cli_serves_until_interrupted() -> None:
    cmd = [sys.executable, "-m", "drchrono_async.cli", "emulator", "--port", "0"]
    cmd += ["--size", "appointments=50", "--quota", "7"]
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ}
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith("DrChrono emulator at http://127.0.0.1:")
            url = first.split(" at ")[1].strip()
            token = proc.stdout.readline().split(":", 1)[1].strip()
            r = httpx.get(f"{url}/api/doctors", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
