"""A missing optional dependency is one error everywhere: `MissingExtraError`, naming the extra.

Each import is made to fail by putting None in `sys.modules` under the module's name, which
is what Python does for a module that is not installed: `import` raises ImportError.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import pytest

from drchrono_async.errors import DrChronoError, MissingExtraError


def _postgres_store() -> object:
    from drchrono_async.sync import PostgresStore

    return PostgresStore("postgresql://u@127.0.0.1/x")


def _registry() -> object:
    from drchrono_async.fleet import PracticeRegistry

    return PracticeRegistry("postgresql://u@127.0.0.1/x")


def _fleet_app() -> object:
    from drchrono_async.fleet import FleetConfig, build_app

    return build_app(FleetConfig("postgresql://u@127.0.0.1/x"))


def _redis_token_store() -> object:
    from drchrono_async.oauth import RedisTokenStore

    return RedisTokenStore(object(), "key")  # type: ignore[arg-type]


class _Scripts:
    """Enough of a Redis client for the constructors (they register their scripts)."""

    def register_script(self, script: str) -> object:
        return object()


def _redis_dedupe() -> object:
    from drchrono_async.webhooks import RedisDedupe

    return RedisDedupe(_Scripts())  # type: ignore[arg-type]


def _redis_replay_cache() -> object:
    from drchrono_async.iframe import RedisReplayCache

    return RedisReplayCache(object())  # type: ignore[arg-type]


def _iframe_url() -> object:
    from drchrono_async.testing import Emulator

    return Emulator(seed=1).iframe_url("patient", base_url="https://app.test/iframe")


_KEY = "cw_0ZRJg0gaQW6lyS0yaM5ri2kSNnqJfjhJR6F52_H8="  # a Fernet key, for these tests only


def _token_cipher() -> object:
    from drchrono_async.oauth import TokenCipher

    return TokenCipher([_KEY])


def _token_cipher_from_env() -> object:
    from drchrono_async.oauth import TokenCipher

    return TokenCipher.from_env(environ={"DRCHRONO_TOKEN_KEYS": _KEY})


def _aiohttp() -> object:
    from drchrono_async.transports import aiohttp_transport

    return aiohttp_transport()


def _metrics() -> object:
    from drchrono_async.metrics import Metrics

    return Metrics(process=False)


CASES: list[tuple[str, str, Callable[[], Any]]] = [
    ("psycopg", "postgres", _postgres_store),
    ("psycopg_pool", "postgres", _postgres_store),  # only used on open(): named up front
    ("psycopg_pool", "fleet", _registry),
    ("procrastinate", "fleet", _fleet_app),
    ("redis.exceptions", "redis", _redis_token_store),
    ("redis.exceptions", "redis", _redis_dedupe),
    ("redis.exceptions", "redis", _redis_replay_cache),
    ("jwt", "jwt", _iframe_url),
    ("httpx_aiohttp", "aiohttp", _aiohttp),
    ("cryptography.fernet", "crypto", _token_cipher),
    ("cryptography.fernet", "crypto", _token_cipher_from_env),
    ("prometheus_client", "metrics", _metrics),
]


@pytest.mark.parametrize(("module", "extra", "make"), CASES)
def test_a_missing_dependency_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, extra: str, make: Callable[[], Any]
) -> None:
    make()  # installed here: it works
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError) as info:
        make()
    err = info.value
    assert err.extra == extra
    assert f"pip install 'drchrono-async[{extra}]'" in str(err)
    assert err.name == module  # ImportError's own field: which module failed
    # One error, catchable either way: as the library's, or as the ImportError it was.
    assert isinstance(err, DrChronoError) and isinstance(err, ImportError)
    assert isinstance(err.__cause__, ImportError)  # kept: a broken install shows why


def test_the_iframe_module_itself_needs_the_jwt_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    importlib.import_module("drchrono_async.iframe")
    monkeypatch.delitem(sys.modules, "drchrono_async.iframe")  # restored after the test
    monkeypatch.setitem(sys.modules, "jwt", None)
    with pytest.raises(MissingExtraError, match=r"drchrono-async\[jwt\]") as info:
        importlib.import_module("drchrono_async.iframe")
    assert info.value.extra == "jwt"


def test_the_message_names_no_more_than_the_feature_and_the_extra() -> None:
    err = MissingExtraError("postgres", feature="PostgresStore", module="psycopg")
    assert str(err) == (
        "PostgresStore needs the postgres extra: pip install 'drchrono-async[postgres]'"
    )
    assert (err.extra, err.name) == ("postgres", "psycopg")
