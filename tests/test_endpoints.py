"""The endpoint table against the reference text, and the client's typed face against the table."""

from __future__ import annotations

import typing

import pytest

from drchrono_async import DrChronoClient, records
from drchrono_async._endpoints import BY_NAME, ENDPOINTS, FilterKind
from drchrono_async.resources import resource_class

from . import reference

# Reference type -> filter kind; typos in the reference are read as the type they mean.
KIND_OF_TYPE = {
    "integer": FilterKind.INT,
    "string": FilterKind.STR,
    "boolean": FilterKind.BOOL,
    "date": FilterKind.DATE,
    "date range": FilterKind.DATE_RANGE,
    "timestamp": FilterKind.TIMESTAMP,
    "timstamp": FilterKind.TIMESTAMP,
    "array of strings": FilterKind.STR_LIST,
    "any": FilterKind.FLAG,
}
# Deliberate departures, each documented in _endpoints.py.
DEPARTURES = {
    ("comm_logs", "since"): FilterKind.TIMESTAMP,  # printed as integer
    ("procedures", "service_date"): FilterKind.DATE,  # printed as timestamp
}


def _resource_endpoints() -> dict[str, reference.Endpoint]:
    """Reference endpoints that are resources: `/api/<name>`, not actions under `:id`."""
    return {e.name: e for e in reference.api_endpoints().values() if not e.is_action}


def test_every_reference_endpoint_is_in_the_table() -> None:
    missing = sorted(set(_resource_endpoints()) - set(BY_NAME))
    assert not missing, f"endpoints missing from the table: {missing}"


def test_table_has_nothing_the_reference_lacks() -> None:
    extra = sorted(set(BY_NAME) - set(_resource_endpoints()))
    assert not extra


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_filters_methods_and_verbose_keys_match(name: str) -> None:
    ref = _resource_endpoints()[name]
    ours = BY_NAME[name]
    assert set(ours.filters) == set(ref.filters), "filter names differ"
    for fname, key in ref.filters.items():
        want = DEPARTURES.get((name, fname)) or KIND_OF_TYPE[key.type or ""]
        assert ours.filters[fname] is want, f"{fname}: {ours.filters[fname]} != {want}"
    # Actions on the endpoint's own path (iframe enable/disable) stand in for plain methods.
    own_actions = {a.method for a in ours.actions if a.path == ours.path}
    assert ours.methods | own_actions == frozenset(ref.methods)
    assert ours.verbose_keys == frozenset(ref.verbose_keys)
    files = {k.name for k in ref.keys.values() if k.type == "file"}
    assert ours.file_fields == files


def test_every_action_path_is_in_the_reference() -> None:
    paths = set(reference.api_endpoints())
    for endpoint in ENDPOINTS:
        for action in endpoint.actions:
            path = action.path.replace("{id}", ":id")
            if path == "/api/users/current":
                continue  # named in the users endpoint's description, not a section of its own
            assert path in paths, path
            assert action.method in reference.api_endpoints()[path].methods or (
                path == "/api/iframe_integration"
            )


def test_action_methods_match_the_reference() -> None:
    ref = reference.api_endpoints()
    assert set(ref["/api/iframe_integration"].methods) == {
        a.method for a in BY_NAME["iframe_integration"].actions
    }
    onpatient = {a.method for a in BY_NAME["patients"].actions if "onpatient" in a.name}
    assert onpatient == set(ref["/api/patients/:id/onpatient_access"].methods)


def test_each_resource_class_has_exactly_its_endpoints_methods() -> None:
    plain = {
        "GET": {"list", "get"},
        "POST": {"create"},
        "PUT": {"update"},
        "PATCH": {"patch"},
        "DELETE": {"delete"},
    }
    every = set().union(*plain.values())
    for endpoint in ENDPOINTS:
        cls = resource_class(endpoint)
        expected = set().union(*(plain[m] for m in endpoint.methods)) if endpoint.methods else set()
        assert {m for m in every if hasattr(cls, m)} == expected, endpoint.name


def test_every_record_type_exists() -> None:
    for endpoint in ENDPOINTS:
        if endpoint.record is not None:
            assert endpoint.record_type is getattr(records, endpoint.record)


def test_client_attributes_match_the_table() -> None:
    """Each attribute is annotated with exactly the class build_resources gives it."""
    hints = typing.get_type_hints(DrChronoClient)
    for endpoint in ENDPOINTS:
        hint = hints[endpoint.name]
        origin = typing.get_origin(hint) or hint
        assert origin is resource_class(endpoint), endpoint.name
        if endpoint.record is not None and typing.get_args(hint):
            assert typing.get_args(hint)[0] is getattr(records, endpoint.record)
    resource_hints = {n for n, h in hints.items() if isinstance(h, type) or typing.get_origin(h)}
    names = {n for n in resource_hints if n in BY_NAME}
    assert names == set(BY_NAME)


async def test_client_builds_every_resource() -> None:
    async with DrChronoClient("t", base_url="https://drchrono.test") as client:
        for endpoint in ENDPOINTS:
            resource = getattr(client, endpoint.name)
            assert type(resource) is resource_class(endpoint)
            assert resource.endpoint is endpoint


def test_every_endpoints_scopes_are_the_references() -> None:
    printed: dict[str, set[str]] = {}
    path = None
    for line in reference.reference_text().splitlines():
        if line.startswith("/api/"):
            path = line.split()[0]
        elif line.startswith("Required scopes:") and path and path.count("/") == 2:
            value = line.removeprefix("Required scopes:").strip()
            none = value.lower().startswith("none")
            printed[path] = set() if none else {v.strip() for v in value.split(",")}
    for endpoint in ENDPOINTS:
        assert set(endpoint.scopes) == printed.get(endpoint.path, set()), endpoint.name
