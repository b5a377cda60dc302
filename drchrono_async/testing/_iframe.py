"""The URL DrChrono loads in an app's iframe: the page's context, signed with HS256.

The query carries the page's parameters and `jwt`, a token whose claims are those same
parameters (as integers), signed with the app's `client_secret`. PyJWT signs it (the `jwt`
extra), imported only when a URL is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from .._checks import check_choice, check_int, needs_extra
from ..errors import InvalidRequestError

if TYPE_CHECKING:
    from ._emulator import Emulator
    from ._practice import Practice

__all__ = ["iframe_url"]

_PAGES = ("patient", "clinical_note")
_MAX_ID = 2**63 - 1


def iframe_url(
    emulator: Emulator | Practice,
    page: str,
    *,
    base_url: str,
    user_id: int | None = None,
    doctor_id: int | None = None,
    patient_id: int | None = None,
    appointment_id: int | None = None,
    practice_id: int | None = None,
    iat: int | None = None,
) -> str:
    """`base_url` with the page's signed query; see `Emulator.iframe_url`."""
    check_choice(page, "page", _PAGES)
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequestError("base_url must be an http(s) URL")
    if parts.fragment:
        raise InvalidRequestError("base_url must not have a fragment")
    with needs_extra("jwt", "iframe_url"):
        import jwt

    if doctor_id is None:
        user = emulator.record("users", emulator.current_user_id) or {}
        doctor_id = user.get("doctor") or _first(emulator, "doctors", {})["id"]
    params: dict[str, Any]
    if page == "patient":
        if patient_id is None:
            patient_id = _first(emulator, "patients", {"doctor": doctor_id})["id"]
        params = {
            "user_id": emulator.current_user_id if user_id is None else user_id,
            "doctor_id": doctor_id,
            "patient_id": patient_id,
        }
    else:
        if appointment_id is None:
            appointment = _first(emulator, "appointments", {"doctor": doctor_id})
            appointment_id = int(appointment["id"])
            if patient_id is None:
                patient_id = appointment["patient"]
        if patient_id is None:
            found = emulator.record("appointments", appointment_id) or {}
            patient_id = found.get("patient") or _first(emulator, "patients", {})["id"]
        params = {"appointment_id": appointment_id, "doctor_id": doctor_id}
        params["patient_id"] = patient_id
        if user_id is not None:
            params["user_id"] = user_id
    if practice_id is not None:
        params["practice_id"] = practice_id
    params["iat"] = int(emulator.clock.now()) if iat is None else iat
    for name, value in params.items():
        low = 0 if name == "iat" else 1
        check_int(value, name, low=low, high=_MAX_ID)
    token = jwt.encode(params, emulator.client_secret, algorithm="HS256")
    query = urlencode([*((k, str(v)) for k, v in params.items()), ("jwt", token)])
    sep = "" if base_url.endswith(("?", "&")) else "&" if parts.query else "?"
    return f"{base_url}{sep}{query}"


def _first(emulator: Emulator | Practice, endpoint: str, where: dict[str, Any]) -> dict[str, Any]:
    """The first stored record matching `where` (or the first at all), for default ids."""
    for row in emulator.tables[endpoint]:
        if all(row.get(k) == v for k, v in where.items()):
            return dict(row.data)
    for row in emulator.tables[endpoint]:
        return dict(row.data)
    raise InvalidRequestError(f"the emulator has no {endpoint} to take a default id from")
