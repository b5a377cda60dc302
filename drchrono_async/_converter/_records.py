"""The structure function of one record class: the hot path of every sync.

Built when cattrs first asks for the class's hook (and again after any hook registration,
which clears cattrs' hook cache), from the per-field hooks the converter dispatches at that
moment: a hook registered for `datetime` is the hook of every `datetime` and
`datetime | None` field.

Two paths:

- The fast path assumes every value fits. Where a field's hook is one of this package's own
  scalar hooks, the common case (`v.__class__ is int`, an ISO timestamp string, ...) is checked
  inline, without a call; anything else calls the field's hook. Any exception sends the whole
  record to the slow path.
- The slow path structures the fields one by one with the same hooks and decides per field:
  lenient, the offending field becomes `None` with a `RecordDecodeWarning`; strict, a
  `RecordDecodeError`.

Records are built by the class's attrs `__init__` (so validators, converters and
`__attrs_post_init__` run) unless that `__init__` provably only assigns the fields (no
validator, converter, factory default on an API field, pre/post-init hook): then the slots are
filled directly, which is what attrs' `__init__` would do, at about half the cost for a
45-field appointment (see benchmarks/decode.py). The check runs per class when its function is
built, so a validator added to a record class is never skipped.
"""

from __future__ import annotations

import datetime as dt
import linecache
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

import attrs

from drchrono_async.errors import RecordDecodeError
from drchrono_async.records._base import Record, api_fields

from . import _hooks as h

R = TypeVar("R", bound=Record)


class RecordDecodeWarning(UserWarning):
    """A value did not fit its record field and was read as `None` (lenient converter).

    The message names the record type and the field, never the value.
    """


_EMPTY: Mapping[str, Any] = MappingProxyType({})
_MISSING = object()


def extra_keys(o: Mapping[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    """The undeclared keys of `o`; a shared read-only empty mapping when there are none."""
    if known.issuperset(o):
        return _EMPTY
    return {k: v for k, v in o.items() if k not in known}


def is_key(a: attrs.Attribute[Any]) -> bool:
    """The documented-always `id`: a sync keys on it, so a record without one does not fit.

    (The `id` of a writable endpoint is typed `... | None` only so that a record can be built
    in code for a create; a record read from the API always has one.)
    """
    return a.name == "id" and bool(a.metadata.get("always_present"))


def _blank(v: Any) -> bool:
    return v is None or (v.__class__ is str and not v.strip())


def _slot_setter(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    """The `__set__` of a slot: fills a frozen record's field without its `__setattr__`."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            setter: Callable[[Any, Any], None] = klass.__dict__[name].__set__
            return setter
    raise AttributeError(name)


def _init_only_assigns(cls: type[Any]) -> bool:
    """Does attrs' `__init__` of `cls` do nothing but assign its arguments to the slots?"""
    init = cls.__dict__.get("__init__")
    code = getattr(init, "__code__", None)
    if code is None or not code.co_filename.startswith("<attrs generated"):
        return False
    if hasattr(cls, "__attrs_pre_init__") or hasattr(cls, "__attrs_post_init__"):
        return False
    if "__slots__" not in cls.__dict__:
        return False
    for a in attrs.fields(cls):
        if a.validator is not None or a.converter is not None or not a.init:
            return False
        if a.name not in ("raw", "extra") and not _defaults_to_none(a):
            return False
    return True


def _defaults_to_none(a: attrs.Attribute[Any]) -> bool:
    """Required, or `None` by default: what the fast path passes for an absent key."""
    return a.default is attrs.NOTHING or a.default is None


# The inline happy-path check of this package's scalar hooks, `{v}` standing for the value.
_INLINE_CLASS: dict[h.Hook, str] = {
    h.structure_str: "str",
    h.structure_int: "int",
    h.structure_bool: "bool",
    h.structure_float: "float",
    h.structure_object: "dict",
}
_INLINE_ISO: dict[h.Hook, tuple[Callable[[str], Any], bool]] = {
    # parser, drop a tzinfo (keep the wall time: see the package doc)
    h.structure_datetime: (dt.datetime.fromisoformat, True),
    h.structure_date: (dt.date.fromisoformat, False),
    h.structure_time: (dt.time.fromisoformat, True),
}


def _inlinable(hook: h.Hook, optional: bool) -> h.Hook | None:
    """The package scalar hook behind `hook` when its common case may be inlined."""
    inner = getattr(hook, "inner", None) if optional else hook
    if inner in _INLINE_CLASS or inner in _INLINE_ISO:
        return inner
    return None


def _skippable(hook: h.Hook, t: Any) -> bool:
    """Is `hook` this package's optional wrapper, for a type where `""` is a blank?"""
    return getattr(hook, "inner", None) is not None and not h.admits_str(h.strip_none(t))


def build_structure_fn(
    cls: type[R], hook_for: Callable[[Any], h.Hook], *, strict: bool
) -> Callable[[Any, Any], R]:
    """The structure function of one record class (see the module doc)."""
    fields = api_fields(cls)
    hooks = {a.name: hook_for(a.type) for a in fields}
    known = frozenset(hooks)
    name = cls.__name__
    plain = _init_only_assigns(cls)
    set_raw, set_extra = _slot_setter(cls, "raw"), _slot_setter(cls, "extra")

    def build(kwargs: dict[str, Any]) -> R:
        try:
            return cls(**kwargs)
        except Exception:
            # The message of a validator's exception may quote the value: not kept.
            raise RecordDecodeError(name, "(record)", "rejected by the record class") from None

    slow_spec = tuple(
        (a.name, a.type, hooks[a.name], h.reason(a.type), a.default is attrs.NOTHING, is_key(a))
        for a in fields
    )

    def slow(o: Any) -> R:
        if o.__class__ is not dict and not isinstance(o, Mapping):
            raise RecordDecodeError(name, "(record)", "not a JSON object")
        kwargs: dict[str, Any] = {}
        for field, t, hook, why, required, key in slow_spec:
            if field in o:
                value = o[field]
                if key and _blank(value):
                    problem = "blank"
                else:
                    try:
                        kwargs[field] = hook(value, t)
                        continue
                    except Exception:
                        problem = why
            elif required or key:
                problem = "missing"
            else:
                continue
            if strict:
                raise RecordDecodeError(name, field, problem) from None
            # stacklevel=1: one fixed location, so the default filter shows each
            # (record type, field, problem) once per process, however many records.
            warnings.warn(
                f"{name}.{field} read as None: {problem}", RecordDecodeWarning, stacklevel=1
            )
            kwargs[field] = None
        inst = build(kwargs)
        set_raw(inst, o)
        set_extra(inst, extra_keys(o, known))
        return inst

    return _generate(cls, fields, hooks, known, plain, slow)


def _generate(
    cls: type[R],
    fields: Sequence[attrs.Attribute[Any]],
    hooks: Mapping[str, h.Hook],
    known: frozenset[str],
    plain: bool,
    slow: Callable[[Any], R],
) -> Callable[[Any, Any], R]:
    ns: dict[str, Any] = {
        "_cls": cls,
        "_new": object.__new__,
        "_slow": slow,
        "_extra": extra_keys,
        "_known": known,
        "_M": _MISSING,
        "_Mismatch": h.Mismatch,
        "_set_raw": _slot_setter(cls, "raw"),
        "_set_extra": _slot_setter(cls, "extra"),
    }
    body = ["g = o.get"]
    for i, a in enumerate(fields):
        v, hk, tp = f"v{i}", f"h{i}", f"t{i}"
        ns[hk], ns[tp] = hooks[a.name], a.type
        optional = h.is_optional(a.type)
        required = a.default is attrs.NOTHING
        inline = _inlinable(hooks[a.name], optional) if _defaults_to_none(a) else None
        if inline in _INLINE_CLASS:
            body.append(f"{v} = g({a.name!r})")
            check = f"{v}.__class__ is not {_INLINE_CLASS[inline]}"
            if optional:
                check += f" and {v} is not None"
            body.append(f"if {check}: {v} = {hk}({v}, {tp})")
        elif inline in _INLINE_ISO:
            parse, drop_tz = _INLINE_ISO[inline]
            ns[f"p{i}"] = parse
            body.append(f"{v} = g({a.name!r})")
            body.append(f"if {v}.__class__ is str and {v}:")
            body.append(f"    {v} = p{i}({v})")
            if drop_tz:
                body.append(f"    if {v}.tzinfo is not None: {v} = {v}.replace(tzinfo=None)")
            guard = f"elif {v} is not None:" if optional else "else:"
            body.append(f"{guard} {v} = {hk}({v}, {tp})")
        elif optional and _defaults_to_none(a) and _skippable(hooks[a.name], a.type):
            # This package's optional wrapper: call the hook it wraps (one call, not two);
            # a blank `""` is None here as in the wrapper.
            ns[f"i{i}"], ns[f"b{i}"] = hooks[a.name].inner, h.strip_none(a.type)  # type: ignore[attr-defined]
            body.append(f"{v} = g({a.name!r})")
            body.append(
                f"if {v} is not None: {v} = i{i}({v}, b{i}) if {v}.__class__ is not str or {v}"
                " else None"
            )
        elif required:
            body.append(f"{v} = {hk}(o[{a.name!r}], {tp})")  # KeyError: the slow path
        else:
            ns[f"d{i}"] = a.default
            body.append(f"{v} = g({a.name!r}, _M)")
            body.append(f"{v} = d{i} if {v} is _M else {hk}({v}, {tp})")
        if is_key(a):
            # Missing, null or blank: the slow path says which (see `is_key`).
            body.append(
                f"if {v} is None or ({v}.__class__ is str and not {v}.strip()): raise _Mismatch"
            )
    if plain:
        body.append("i = _new(_cls)")
        for i, a in enumerate(fields):
            ns[f"s{i}"] = _slot_setter(cls, a.name)
            body.append(f"s{i}(i, v{i})")
    else:
        body.append("i = _cls(" + ", ".join(f"{a.alias}=v{n}" for n, a in enumerate(fields)) + ")")
    body += ["_set_raw(i, o)", "_set_extra(i, _extra(o, _known))", "return i"]
    lines = [f"def structure_{cls.__name__}(o, _=None):", "    try:"]
    lines += [f"        {line}" for line in body]
    lines += ["    except Exception:", "        return _slow(o)"]
    source = "\n".join(lines)
    filename = f"<drchrono_async generated structure {cls.__module__}.{cls.__qualname__}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), ns)
    structure: Callable[[Any, Any], R] = ns[f"structure_{cls.__name__}"]
    return structure
