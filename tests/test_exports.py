"""What the package exports: every public error, and the webhooks' building blocks."""

from __future__ import annotations

import builtins

import pytest

import drchrono_async
from drchrono_async import errors


def test_every_public_error_is_importable_from_the_package() -> None:
    assert errors.__all__ == sorted(errors.__all__)
    for name in errors.__all__:
        cls = getattr(drchrono_async, name)
        assert cls is getattr(errors, name)
        assert isinstance(cls, type) and issubclass(cls, errors.DrChronoError), name
    # Every class errors.py defines is in its __all__ (a new one cannot be forgotten).
    defined = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    }
    assert defined == set(errors.__all__)


def test_a_star_import_does_not_shadow_the_builtin_timeout_error() -> None:
    # `from drchrono_async import *` then `except TimeoutError:` must still catch asyncio's.
    assert set(errors.__all__) - set(drchrono_async.__all__) == {"TimeoutError"}
    namespace: dict[str, object] = {}
    exec("from drchrono_async import *", namespace)
    assert "TimeoutError" not in namespace
    assert drchrono_async.TimeoutError is errors.TimeoutError
    assert issubclass(drchrono_async.TimeoutError, builtins.TimeoutError)


def test_the_webhooks_package_exports_build_event_and_claim() -> None:
    from drchrono_async import webhooks

    assert {"build_event", "Claim", "parse_delivery"} <= set(webhooks.__all__)
    for name in webhooks.__all__:
        assert getattr(webhooks, name) is not None


def test_build_event_reads_a_verified_delivery_without_the_secret() -> None:
    from drchrono_async.errors import InvalidRequestError, WebhookPayloadError
    from drchrono_async.webhooks import build_event, parse_delivery

    body = b'{"object": {"id": 7, "doctor": 1}, "receiver": {}}'
    headers = {
        "X-drchrono-event": "PATIENT_MODIFY",
        "X-drchrono-delivery": "d-1",
        "X-drchrono-signature": "the-secret",
    }
    verified = parse_delivery(headers, body, "the-secret")
    later = build_event({k: v for k, v in headers.items() if "signature" not in k}, body)
    assert (later.event, later.delivery_id, later.object_id) == ("PATIENT_MODIFY", "d-1", "7")
    assert later == verified
    with pytest.raises(WebhookPayloadError):
        build_event(headers, body, max_body=10)
    with pytest.raises(InvalidRequestError):
        build_event(headers, body, max_body=0)
    with pytest.raises(InvalidRequestError):
        build_event(headers, "text")  # type: ignore[arg-type]
    with pytest.raises(WebhookPayloadError):
        build_event({"X-drchrono-delivery": "d-1"}, body)  # no event


def test_the_package_and_the_command_line_load_what_they_use_on_first_use() -> None:
    """`--help` must start fast: importing the CLI loads no HTTP client, no converter and no
    record module; each public name is still there when asked for."""
    import subprocess
    import sys

    probe = (
        "import sys, drchrono_async.cli, drchrono_async as d\n"
        "heavy = [m for m in ('httpx', 'cattrs', 'drchrono_async.records',"
        " 'drchrono_async._client') if m in sys.modules]\n"
        "print(','.join(heavy) or 'light')\n"
        "print(d.DrChronoClient.__name__, d.records.Appointment.__name__, 'Page' in dir(d))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "light"
    assert out[1] == "DrChronoClient Appointment True"
