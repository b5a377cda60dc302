"""A delivery's event: its headers checked, its body decoded, its object a typed record.

Events map to the endpoint (resource) of their object by exact name: `PATIENT_PROBLEM_CREATE`
is a problem, never a patient, and an unlisted `PATIENT_<something>_CREATE` is unknown
rather than read as a patient (a store would otherwise upsert it into the wrong table).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs
import orjson

from .._checks import check_int
from .._converter import DrChronoConverter
from .._converter import converter as default_converter
from .._endpoints import BY_NAME
from .._ids import check_object_id
from ..errors import InvalidRequestError, RecordDecodeError, WebhookPayloadError
from ..records import Record
from ._headers import HeadersLike, collect
from ._signature import SIGNATURE, Secrets, check_signature

__all__ = [
    "DEFAULT_MAX_BODY",
    "EVENT_RESOURCES",
    "HEADERS",
    "MAX_DEPTH",
    "WebhookEvent",
    "build_event",
    "event_of",
    "parse_delivery",
]

EVENT = b"x-drchrono-event"
DELIVERY = b"x-drchrono-delivery"
CONTENT_LENGTH = b"content-length"
HEADERS = frozenset({SIGNATURE, EVENT, DELIVERY, CONTENT_LENGTH})

DEFAULT_MAX_BODY = 1024 * 1024
MAX_BODY_LIMIT = 64 * 1024 * 1024  # the most `max_body` may be
MAX_DEPTH = 32  # an appointment nests 4 deep; orjson.dumps itself refuses past 254
MAX_EVENT_CHARS = 64
MAX_DELIVERY_CHARS = 128
_EVENT_NAME = re.compile(rb"[A-Z0-9_]+")
_PRINTABLE = re.compile(rb"[!-~]+")  # visible ASCII, no spaces

_WRITES = ("CREATE", "MODIFY", "DELETE")
# (event prefix, endpoint name, actions). The v4 reference lists CREATE/MODIFY of the first
# five and LOCK/UNLOCK of clinical notes; the DELETE events and the line item and task
# families come from newer public event lists.
_FAMILIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("APPOINTMENT", "appointments", _WRITES),
    ("PATIENT", "patients", _WRITES),
    ("PATIENT_PROBLEM", "problems", _WRITES),
    ("PATIENT_ALLERGY", "allergies", _WRITES),
    ("PATIENT_MEDICATION", "medications", _WRITES),
    ("CLINICAL_NOTE", "clinical_notes", ("LOCK", "UNLOCK", "DELETE")),
    ("LINE_ITEM", "line_items", _WRITES),
    ("TASK", "tasks", _WRITES),
)

EVENT_RESOURCES: Mapping[str, str] = MappingProxyType(
    {f"{prefix}_{action}": name for prefix, name, actions in _FAMILIES for action in actions}
)
"""Every event name this module knows -> the endpoint name of its object (`"appointments"`)."""

PING = "PING"
_RECORD_TYPES: dict[str, type[Record]] = {}


def _record_type(resource: str) -> type[Record]:
    cls = _RECORD_TYPES.get(resource)
    if cls is None:
        cls = BY_NAME[resource].record_type
        assert cls is not None  # every resource of the table above has one
        _RECORD_TYPES[resource] = cls
    return cls


@attrs.frozen(repr=False)
class WebhookEvent:
    """One checked delivery.

    - `event`: the `X-drchrono-event` name (`"APPOINTMENT_MODIFY"`, `"PING"`, ...).
    - `delivery_id`: `X-drchrono-delivery`; the same for every redelivery of one delivery.
    - `resource`: the endpoint name of the object (`"appointments"`, `"problems"`, ...), the
      name a sync store keys its tables on; None for PING and unknown events.
    - `is_delete`: the event name ends in `_DELETE`: remove `object_id` from `resource`.
    - `object_id`: the object's `id` as text (appointment ids are strings, the others
      integers), or None when it has none (clinical notes are keyed by appointment).
    - `object`: the typed record (`records.Appointment`, ...) as it was when the event
      happened (a redelivery hours later carries that old state); None for PING, for
      unknown events (their object stays in `raw["object"]`), and for a delete whose object
      does not fit its record type (a delete needs only the id).
    - `receiver`: the webhook as DrChrono describes it, keys naming a secret redacted.
    - `raw`: the whole decoded body (with that redacted receiver).

    `repr()` shows the event and the delivery id only: the rest is patient data.
    """

    event: str
    delivery_id: str
    resource: str | None = None
    is_delete: bool = False
    object_id: str | None = None
    object: Record | None = attrs.field(default=None, hash=False)
    receiver: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    raw: Mapping[str, Any] = attrs.field(factory=dict, hash=False)

    def __repr__(self) -> str:
        return f"WebhookEvent(event={self.event!r}, delivery_id={self.delivery_id!r})"


def parse_delivery(
    headers: HeadersLike,
    body: bytes,
    secret: str | bytes | Sequence[str | bytes],
    *,
    converter: DrChronoConverter | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> WebhookEvent:
    """Check a delivery and read it into a `WebhookEvent`.

    `headers`: a mapping or name/value pairs, `str` or `bytes`, any case. `secret`: the
    webhook's secret token, or several (all are compared, in constant time). Raises
    `WebhookSignatureError` when `X-drchrono-signature` is missing, empty, repeated or
    matches no secret (checked first), and `WebhookPayloadError` for a bad event or
    delivery header or a body that is too large, not a JSON object, too deep, or whose object
    does not fit its record type, or whose id `check_object_id` refuses. Messages name
    headers, events and fields, never values.

    `converter`: the record converter (default: the library's lenient one, as the client's);
    pass `make_converter(strict=True)` to refuse objects with values that do not fit.

    PING is verified like any event here. DrChrono's "Ping webhook" button may send it with
    an empty body and no signature, which this refuses: a receiver of its own should answer
    a request whose `X-drchrono-event` is `PING` with 200 before calling this (as
    `WebhookReceiver` does), using nothing in it.
    """
    secrets = secret if isinstance(secret, Secrets) else Secrets(secret)
    found = collect(headers, HEADERS)
    check_signature(found.get(SIGNATURE), secrets)
    return _checked(found, body, converter, max_body)


def build_event(
    headers: HeadersLike,
    body: bytes,
    *,
    converter: DrChronoConverter | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> WebhookEvent:
    """Read a delivery into a `WebhookEvent` WITHOUT checking its signature.

    For a delivery whose signature was checked already, for example one a receiver verified
    and stored (headers and body) for a worker to read later. A request straight from the
    network must go through `parse_delivery` (or `WebhookReceiver`): anyone can send one.
    Raises as `parse_delivery` does, but for the signature.
    """
    return _checked(collect(headers, HEADERS), body, converter, max_body)


def _checked(
    found: Mapping[bytes, list[bytes | None]],
    body: object,
    converter: DrChronoConverter | None,
    max_body: object,
) -> WebhookEvent:
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise InvalidRequestError("body must be bytes")
    limit = check_int(max_body, "max_body", low=1, high=MAX_BODY_LIMIT, tail=" (bytes)")
    if len(body) > limit:
        raise WebhookPayloadError(f"the delivery's body is over {limit} bytes")
    return event_of(found, body, converter)


def event_of(
    found: Mapping[bytes, list[bytes | None]],
    body: bytes | bytearray | memoryview,
    converter: DrChronoConverter | None,
) -> WebhookEvent:
    """The event of a delivery whose signature was already checked (headers collected)."""
    event = _header(found, EVENT, "X-drchrono-event", MAX_EVENT_CHARS)
    if not _EVENT_NAME.fullmatch(event):
        raise WebhookPayloadError("the X-drchrono-event header is not an event name")
    delivery = _header(found, DELIVERY, "X-drchrono-delivery", MAX_DELIVERY_CHARS)
    if not _PRINTABLE.fullmatch(delivery):
        raise WebhookPayloadError("the X-drchrono-delivery header is not printable ASCII")
    name = event.decode("ascii")
    payload = _decode(body)

    receiver = payload.get("receiver")
    if receiver is not None:
        if not isinstance(receiver, dict):
            raise WebhookPayloadError(f"{name}: the body's receiver is not an object")
        receiver = _redacted(receiver)
        payload["receiver"] = receiver
    resource = EVENT_RESOURCES.get(name)
    is_delete = name.endswith("_DELETE")
    delivery_id = delivery.decode("ascii")
    if resource is None:  # PING or an event this module does not know: accepted as it is
        return WebhookEvent(name, delivery_id, is_delete=is_delete, receiver=receiver, raw=payload)

    obj = payload.get("object")
    if not isinstance(obj, dict):
        raise WebhookPayloadError(f"{name}: the body has no object")
    cls = _record_type(resource)
    object_id = _object_id(name, obj)
    if is_delete and object_id is None and "id" in attrs.fields_dict(cls):
        raise WebhookPayloadError(f"{name}: the object has no usable id")
    conv = default_converter if converter is None else converter
    record: Record | None
    try:
        record = conv.structure(obj, cls)
    except RecordDecodeError as exc:
        if not is_delete:
            raise WebhookPayloadError(
                f"{name}: {exc.record_type}.{exc.field} does not fit its declared type"
            ) from None
        record = None
    except Exception as exc:  # a user hook's bug: typed, and without its message
        if not is_delete:
            raise WebhookPayloadError(
                f"{name}: the object could not be read as {cls.__name__} ({type(exc).__name__})"
            ) from None
        record = None
    # A converter hook of the user's may build the id itself: the record is checked too.
    record_id = getattr(record, "id", None)
    if record_id is not None and check_object_id(record_id) is None:
        raise WebhookPayloadError(f"{name}: the record's id is not a usable id")
    return WebhookEvent(
        name,
        delivery_id,
        resource=resource,
        is_delete=is_delete,
        object_id=object_id,
        object=record,
        receiver=receiver,
        raw=payload,
    )


def _header(found: Mapping[bytes, list[bytes | None]], key: bytes, label: str, limit: int) -> bytes:
    values = found.get(key)
    if not values:
        raise WebhookPayloadError(f"the delivery has no {label} header")
    if len(values) > 1:
        raise WebhookPayloadError(f"the {label} header appears more than once")
    value = values[0]
    value = value.strip(b" \t") if value is not None else None
    if not value or len(value) > limit:
        raise WebhookPayloadError(f"the {label} header must be 1 to {limit} characters")
    return value


def _decode(body: bytes | bytearray | memoryview) -> dict[str, Any]:
    if isinstance(body, memoryview):
        body = body.tobytes()
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookPayloadError("the delivery's body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise WebhookPayloadError("the delivery's body is not a JSON object")
    # Nesting depth is at most the number of brackets (counted at C speed, strings included,
    # so over-counted): a typical delivery has fewer than the limit and needs no walk.
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and not _depth_within(payload, MAX_DEPTH):
        raise WebhookPayloadError(f"the delivery's body nests deeper than {MAX_DEPTH} levels")
    return payload


def _depth_within(value: dict[str, Any], limit: int) -> bool:
    """Iteratively (no recursion a hostile body could exhaust): no container deeper."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if node.__class__ is dict else node
        for child in children:
            if child.__class__ is dict or child.__class__ is list:
                if depth >= limit:
                    return False
                stack.append((child, depth + 1))
    return True


def _object_id(name: str, obj: Mapping[str, Any]) -> str | None:
    """The object's id as text; None when it has none. A present id that `check_object_id`
    refuses is a bad delivery (400): handed on, it would fail in the database on every
    redelivery (a NUL), or address another row (whitespace, a number past 64 bits)."""
    value = obj.get("id")
    if value is None:
        return None
    text = check_object_id(value)
    if text is None:
        raise WebhookPayloadError(f"{name}: the object's id is not a usable id")
    return text


def _redacted(receiver: dict[str, Any]) -> dict[str, Any]:
    """The receiver with any `*secret*` key's value replaced: it may describe the webhook
    with its secret token, which must not travel on into logs or databases."""
    if not any("secret" in str(k).lower() for k in receiver):
        return receiver
    return {k: "[redacted]" if "secret" in str(k).lower() else v for k, v in receiver.items()}
