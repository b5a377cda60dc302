"""`drchrono_async.iframe`: tokens made with PyJWT verify; forged, tampered, stale, replayed
and malformed requests are refused with a message that names the check and nothing else."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from fastapi import FastAPI, HTTPException, Request
from starlette.datastructures import QueryParams

from drchrono_async.errors import IframeVerificationError, InvalidRequestError
from drchrono_async.iframe import (
    IframeContext,
    MemoryReplayCache,
    averify_iframe_request,
    verify_iframe_request,
)
from drchrono_async.testing import VirtualClock
from tests.ratelimit.conftest import redis_client, redis_key

__all__ = ["redis_client", "redis_key"]  # the real-Redis fixtures, for the replay cache

SECRET = "client-secret-" + "Zq9" * 12  # >= 32 bytes: PyJWT warns about shorter HS256 keys
NOW = 1_767_225_600
PATIENT = {"user_id": 11, "doctor_id": 22, "patient_id": 33, "iat": NOW}
NOTE = {"appointment_id": 44, "doctor_id": 22, "patient_id": 33, "iat": NOW, "practice_id": 5}


def sign(claims: dict[str, Any], *, secret: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


def query(claims: dict[str, Any], **override: Any) -> dict[str, str]:
    """The query DrChrono would send for `claims`, with `override` applied after signing."""
    q = {k: str(v) for k, v in claims.items()}
    q["jwt"] = sign(claims)
    for k, v in override.items():
        if v is None:
            q.pop(k, None)
        else:
            q[k] = str(v)
    return q


def refuse(q: Any, match: str, **options: Any) -> IframeVerificationError:
    """Assert `q` is refused with `match`, and that the refusal leaks nothing."""
    options.setdefault("now", NOW)
    with pytest.raises(IframeVerificationError, match=match) as info:
        verify_iframe_request(q, SECRET, **options)
    exc = info.value
    text = f"{exc!s} {exc!r}"
    assert SECRET not in text and "Zq9Zq9" not in text
    pairs = q.items() if isinstance(q, dict) else q if isinstance(q, list) else []
    token = next((p[1] for p in pairs if len(p) == 2 and p[0] == "jwt"), "")
    assert not any(len(part) > 4 and part in text for part in str(token).split("."))
    assert "eyJ" not in text  # the start of any JSON header or claims
    # No value of the query: the only digits in any message are those of "HS256".
    assert not any(ch.isdigit() for ch in text.replace("HS256", ""))
    # PyJWT's and the parser's exceptions, whose text may quote the input, are not chained.
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    return exc


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- accepted ----------------------------------------------------------------------------------


def test_patient_page_verifies_from_a_mapping_a_string_and_pairs() -> None:
    q = query(PATIENT)
    expected = IframeContext(page="patient", doctor_id=22, patient_id=33, iat=NOW, user_id=11)
    assert verify_iframe_request(q, SECRET, now=NOW) == expected
    assert verify_iframe_request("?" + urlencode(q), SECRET, now=NOW) == expected
    assert verify_iframe_request(list(q.items()), SECRET, now=NOW) == expected
    assert verify_iframe_request(QueryParams(urlencode(q)), SECRET.encode(), now=NOW) == expected


def test_clinical_note_page_verifies_with_its_practice() -> None:
    ctx = verify_iframe_request(query(NOTE), SECRET, now=NOW + 10, page="clinical_note")
    assert ctx == IframeContext(
        page="clinical_note",
        doctor_id=22,
        patient_id=33,
        iat=NOW,
        appointment_id=44,
        practice_id=5,
    )
    assert ctx.user_id is None


def test_ids_signed_as_digit_strings_compare_as_integers() -> None:
    claims = {**PATIENT, "patient_id": "33"}
    q = {**{k: str(v) for k, v in PATIENT.items()}, "patient_id": "033", "jwt": sign(claims)}
    assert verify_iframe_request(q, SECRET, now=NOW).patient_id == 33


def test_a_clock_can_stand_for_now() -> None:
    clock = VirtualClock(start=NOW)
    q = query(PATIENT)
    assert verify_iframe_request(q, SECRET, now=clock).iat == NOW
    clock.advance(301)
    refuse(q, "too old", now=clock)


# --- forged tokens -------------------------------------------------------------------------------


def test_alg_none_is_refused() -> None:
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(PATIENT)}."
    refuse({**query(PATIENT), "jwt": token}, "algorithm is not HS256")
    token = f"{b64({'alg': 'None'})}.{b64(PATIENT)}."
    refuse({**query(PATIENT), "jwt": token}, "algorithm is not HS256")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 signing
def test_other_algorithms_are_refused_even_when_correctly_signed() -> None:
    refuse({**query(PATIENT), "jwt": sign(PATIENT, alg="HS512")}, "algorithm is not HS256")
    refuse({**query(PATIENT), "jwt": sign(PATIENT, alg="HS384")}, "algorithm is not HS256")


def test_an_rs256_header_over_an_hmac_signature_is_refused() -> None:
    # The classic key confusion: an RS256 header, "signed" with the shared secret as if HMAC.
    import hashlib
    import hmac

    head = b64({"alg": "RS256", "typ": "JWT"})
    body = b64(PATIENT)
    mac = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    token = f"{head}.{body}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
    refuse({**query(PATIENT), "jwt": token}, "algorithm is not HS256")


def test_a_wrong_secret_is_refused() -> None:
    q = {**query(PATIENT), "jwt": sign(PATIENT, secret="another-secret-" + "x" * 30)}
    refuse(q, "signature does not match")


def test_a_tampered_signature_or_body_is_refused() -> None:
    q = query(PATIENT)
    head, body, mac = q["jwt"].split(".")
    swapped = "A" if mac[0] != "A" else "B"
    refuse({**q, "jwt": f"{head}.{body}.{swapped}{mac[1:]}"}, "signature does not match")
    forged = b64({**PATIENT, "patient_id": 34})
    refuse({**q, "jwt": f"{head}.{forged}.{mac}"}, "signature does not match")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!.??.##",
        f"{b64({'alg': 'HS256'})}.not-json.AAAA",
        "e30.e30.",  # {} . {} with no algorithm
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    refuse({**query(PATIENT), "jwt": token}, "jwt")


def test_a_token_without_iat_or_with_a_non_integer_iat_is_refused() -> None:
    claims = {k: v for k, v in PATIENT.items() if k != "iat"}
    q = {**{k: str(v) for k, v in claims.items()}, "jwt": sign(claims)}
    refuse(q, "no iat claim")
    for bad in (float(NOW), str(NOW), True):
        claims = {**PATIENT, "iat": bad}
        q = {**{k: str(v) for k, v in PATIENT.items()}, "jwt": sign(claims)}
        refuse(q, "signed iat is not an integer")


# --- the query against the claims ---------------------------------------------------------------


def test_a_tampered_parameter_is_refused() -> None:
    refuse(query(PATIENT, patient_id=34), "patient_id does not match its signed value")
    refuse(query(NOTE, appointment_id=45), "appointment_id does not match")
    refuse(query(PATIENT, iat=NOW - 1), "iat does not match")


def test_a_signed_claim_missing_from_the_query_is_refused() -> None:
    refuse(query(NOTE, practice_id=None), "practice_id is signed but missing from the query")
    refuse(query(PATIENT, iat=None), "iat is signed but missing")


def test_a_query_parameter_missing_from_the_claims_is_refused() -> None:
    refuse(query(PATIENT, practice_id=5), "practice_id is not signed")
    refuse(query(PATIENT, debug="1"), "not signed with the value it carries")


def test_an_unknown_parameter_signed_with_its_value_is_accepted() -> None:
    claims = {**PATIENT, "theme": "dark", "version": 2}
    q = {**{k: str(v) for k, v in claims.items()}, "jwt": sign(claims)}
    assert verify_iframe_request(q, SECRET, now=NOW).patient_id == 33
    refuse({**q, "theme": "light"}, "not signed with the value")
    refuse({**q, "version": "3"}, "not signed with the value")


def test_a_page_needs_its_parameters() -> None:
    claims = {k: v for k, v in PATIENT.items() if k != "user_id"}
    refuse(query(claims), "user_id is missing")
    claims = {k: v for k, v in NOTE.items() if k != "doctor_id"}
    refuse(query(claims), "doctor_id is missing")
    refuse(query(PATIENT), "for the patient page, not the clinical_note page", page="clinical_note")


def test_a_duplicated_parameter_is_refused() -> None:
    q = query(PATIENT)
    text = urlencode(q) + "&patient_id=34"
    refuse(text, "patient_id given more than once")
    refuse([*q.items(), ("patient_id", "33")], "patient_id given more than once")
    refuse(QueryParams(text), "patient_id given more than once")
    refuse(urlencode(q) + "&jwt=x", "jwt given more than once")
    message = str(refuse(urlencode(q) + "&zz=1&zz=2", "given more than once"))
    assert "zz" not in message  # a name the caller chose is not echoed


@pytest.mark.parametrize(
    "value", ["12a", "-5", "+5", "0", "1.0", " 12", "", str(2**63), "1" * 25, "١٢"]
)
def test_non_integer_or_out_of_range_ids_are_refused(value: str) -> None:
    refuse(query(PATIENT, doctor_id=value), "doctor_id|ASCII")


@pytest.mark.parametrize("value", [True, 1.5, -3, 0, 2**63, "x", None, [22]])
def test_non_integer_signed_ids_are_refused(value: Any) -> None:
    claims = {**PATIENT, "doctor_id": value}
    q = {**{k: str(v) for k, v in PATIENT.items()}, "jwt": sign(claims)}
    refuse(q, "doctor_id")


def test_the_largest_64_bit_id_is_accepted() -> None:
    big = 2**63 - 1
    assert (
        verify_iframe_request(query({**PATIENT, "patient_id": big}), SECRET, now=NOW).patient_id
        == big
    )


# --- time ----------------------------------------------------------------------------------------


def test_iat_may_be_max_age_old_and_no_older() -> None:
    q = query(PATIENT)
    assert verify_iframe_request(q, SECRET, now=NOW + 300).iat == NOW
    refuse(q, "iat is too old", now=NOW + 301)
    assert verify_iframe_request(q, SECRET, now=NOW + 3000, max_age=3600).iat == NOW
    refuse(q, "iat is too old", now=NOW + 61, max_age=60)


def test_iat_in_the_future_is_refused_beyond_the_leeway() -> None:
    q = query(PATIENT)
    assert verify_iframe_request(q, SECRET, now=NOW - 30).iat == NOW
    refuse(q, "iat is in the future", now=NOW - 31)
    refuse(q, "iat is in the future", now=NOW - 1, leeway=0)


def test_exp_and_nbf_are_checked_on_the_same_clock() -> None:
    claims = {**PATIENT, "exp": NOW + 60}
    q = {**{k: str(v) for k, v in PATIENT.items()}, "jwt": sign(claims)}
    assert verify_iframe_request(q, SECRET, now=NOW).iat == NOW
    refuse(q, r"expired \(exp\)", now=NOW + 90)
    claims = {**PATIENT, "nbf": NOW + 100}
    q = {**{k: str(v) for k, v in PATIENT.items()}, "jwt": sign(claims)}
    refuse(q, r"not valid yet \(nbf\)")


# --- replay --------------------------------------------------------------------------------------


def test_a_replay_within_max_age_is_refused_with_a_cache() -> None:
    cache = MemoryReplayCache(max_entries=10)
    q = query(PATIENT)
    assert verify_iframe_request(q, SECRET, now=NOW, replay_cache=cache).patient_id == 33
    refuse(q, "replayed request", now=NOW + 299, replay_cache=cache)
    # Another request (another token) of the same doctor is not a replay.
    other = query({**PATIENT, "iat": NOW + 1})
    assert verify_iframe_request(other, SECRET, now=NOW + 2, replay_cache=cache).iat == NOW + 1
    # Without a cache nothing is remembered.
    assert verify_iframe_request(q, SECRET, now=NOW + 1).iat == NOW


def test_a_refused_request_does_not_enter_the_cache() -> None:
    cache = MemoryReplayCache()
    q = query(PATIENT)
    refuse({**q, "patient_id": "34"}, "does not match", replay_cache=cache)
    assert len(cache) == 0
    assert verify_iframe_request(q, SECRET, now=NOW, replay_cache=cache).patient_id == 33


def test_memory_cache_entries_expire_and_a_full_cache_refuses() -> None:
    cache = MemoryReplayCache(max_entries=2)
    assert cache.add("a", 10, 100.0) and cache.add("b", 10, 101.0)
    assert not cache.add("a", 10, 105.0)
    with pytest.raises(IframeVerificationError, match="replay cache is full"):
        cache.add("c", 10, 105.0)
    assert cache.add("c", 10, 110.0)  # "a" expired at 110: room again
    assert not cache.add("b", 10, 110.5)
    assert cache.add("a", 10, 111.0) and len(cache) == 2  # "b" expired at 111
    with pytest.raises(InvalidRequestError):
        MemoryReplayCache(max_entries=0)


class _AsyncCache:
    def __init__(self) -> None:
        self.keys: dict[str, float] = {}

    async def add(self, key: str, ttl: float, now: float) -> bool:
        if self.keys.get(key, -1.0) > now:
            return False
        self.keys[key] = now + ttl
        return True


async def test_averify_takes_an_async_or_a_sync_cache() -> None:
    for cache in (_AsyncCache(), MemoryReplayCache()):
        q = query(NOTE)
        ctx = await averify_iframe_request(q, SECRET, now=NOW, replay_cache=cache)
        assert ctx.appointment_id == 44
        with pytest.raises(IframeVerificationError, match="replayed"):
            await averify_iframe_request(q, SECRET, now=NOW + 5, replay_cache=cache)
    with pytest.raises(IframeVerificationError, match="signature does not match"):
        await averify_iframe_request(q, "wrong-" + SECRET, now=NOW)


def test_the_sync_verifier_refuses_an_async_cache() -> None:
    with pytest.raises(InvalidRequestError, match="averify_iframe_request"):
        verify_iframe_request(query(PATIENT), SECRET, now=NOW, replay_cache=_AsyncCache())  # type: ignore[arg-type]


async def test_redis_replay_cache_refuses_a_replay_across_verifiers(
    redis_client: Any, redis_key: str
) -> None:
    from drchrono_async.iframe import RedisReplayCache

    first = RedisReplayCache(redis_client, prefix=f"{redis_key}:")
    second = RedisReplayCache(redis_client, prefix=f"{redis_key}:")  # another process
    q = query(PATIENT)
    assert (await averify_iframe_request(q, SECRET, now=NOW, replay_cache=first)).iat == NOW
    with pytest.raises(IframeVerificationError, match="replayed"):
        await averify_iframe_request(q, SECRET, now=NOW + 1, replay_cache=second)
    keys = [k async for k in redis_client.scan_iter(match=f"{redis_key}:*")]
    assert len(keys) == 1
    ttl_ms = await redis_client.pttl(keys[0])
    assert 330_000 < ttl_ms <= 331_000  # until iat + max_age + leeway (and a second)
    assert SECRET.encode() not in keys[0] and q["jwt"].encode() not in keys[0]


# --- hostile input -------------------------------------------------------------------------------


def test_non_ascii_input_is_refused() -> None:
    q = query(PATIENT)
    refuse({**q, "patient_id": "\uff13\uff13"}, "not ASCII")  # fullwidth digits
    refuse(urlencode(q) + "&x=é", "not ASCII")
    refuse(urlencode(q) + "&x=%C3%A9", "not ASCII")
    refuse(urlencode(q) + "&x=%FF", "malformed query string")
    refuse({**q, "jwt": q["jwt"] + "é"}, "not ASCII")


def test_huge_input_is_refused_before_decoding() -> None:
    q = query(PATIENT)
    refuse("a=" + "1" * 100_000, "query too long")
    refuse({**q, "jwt": "a" * 5000 + ".b.c"}, "jwt too long")
    refuse("&".join(f"p{i}=1" for i in range(1000)), "malformed query string")
    refuse([(f"p{i}", "1") for i in range(1000)], "too many query parameters")
    refuse({**q, "x" * 100: "1"}, "name is empty or too long")
    refuse({**q, "pad": "9" * 9000}, "query too long")


def test_missing_jwt_and_wrong_shapes_are_refused() -> None:
    q = query(PATIENT)
    refuse({k: v for k, v in q.items() if k != "jwt"}, "no jwt parameter")
    refuse("", "no jwt parameter")
    refuse([("patient_id", 33)], "malformed query parameter")
    refuse([("a", "b", "c")], "malformed query parameter")
    with pytest.raises(InvalidRequestError):
        verify_iframe_request(None, SECRET, now=NOW)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        verify_iframe_request(b"a=1", SECRET, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {"max_age": 0},
        {"max_age": -1},
        {"max_age": float("inf")},
        {"leeway": -1},
        {"leeway": 301},
        {"now": float("nan")},
        {"now": "soon"},
        {"page": "home"},
    ],
)
def test_bad_arguments_are_invalid_requests(options: dict[str, Any]) -> None:
    options.setdefault("now", NOW)
    with pytest.raises(InvalidRequestError):
        verify_iframe_request(query(PATIENT), SECRET, **options)
    with pytest.raises(InvalidRequestError):
        verify_iframe_request(query(PATIENT), "", now=NOW)


def test_the_cache_keeps_no_token_text() -> None:
    q = query(PATIENT)
    cache = MemoryReplayCache()
    verify_iframe_request(q, SECRET, now=NOW, replay_cache=cache)
    stored = str(cache._expiry) + repr(cache)
    assert all(part not in stored for part in q["jwt"].split("."))


async def test_a_fastapi_route_accepts_once_and_refuses_tampering_and_replays() -> None:
    app = FastAPI()
    cache = MemoryReplayCache()

    @app.get("/tab")
    def tab(request: Request) -> dict[str, int]:  # a sync route: the sync verifier
        try:
            ctx = verify_iframe_request(
                request.query_params, SECRET, now=NOW, replay_cache=cache, page="patient"
            )
        except IframeVerificationError:
            raise HTTPException(status_code=403) from None
        return {"patient": ctx.patient_id}

    q = query(PATIENT)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://app.test"
    ) as browser:
        tampered = await browser.get("/tab", params={**q, "patient_id": "34"})
        ok = await browser.get("/tab", params=q)
        replay = await browser.get("/tab", params=q)
        twice = await browser.get("/tab?" + urlencode(q) + "&patient_id=33")
        note = await browser.get("/tab", params=query(NOTE))
    assert [r.status_code for r in (tampered, ok, replay, twice, note)] == [403, 200, 403, 403, 403]
    assert ok.json() == {"patient": 33}
