"""One resource per endpoint of the table, typed by the methods the endpoint allows.

`build_resources` picks each endpoint's class from its table row: one of the six endpoints
with actions has its own class; every other gets the class of its method set
(`RESOURCE_TYPES`). The client's attribute annotations name the same classes, and a test
checks that the two agree.
"""

from __future__ import annotations

from typing import Any

from .._endpoints import ENDPOINTS, Endpoint
from ._actions import (
    ConsentFormsResource,
    IframeIntegrationResource,
    MedicationsResource,
    OfficesResource,
    PatientsResource,
    UsersResource,
)
from ._base import BaseResource, ResourceContext
from ._methods import (
    RESOURCE_TYPES,
    ActionsResource,
    ReadCreateResource,
    ReadOnlyResource,
    ReadPatchResource,
    ReadWriteResource,
    Resource,
)
from ._query import split_date_range

__all__ = [
    "RESOURCE_TYPES",
    "ActionsResource",
    "BaseResource",
    "ConsentFormsResource",
    "IframeIntegrationResource",
    "MedicationsResource",
    "OfficesResource",
    "PatientsResource",
    "ReadCreateResource",
    "ReadOnlyResource",
    "ReadPatchResource",
    "ReadWriteResource",
    "Resource",
    "ResourceContext",
    "UsersResource",
    "build_resources",
    "resource_class",
    "split_date_range",
]

SPECIAL: dict[str, type[BaseResource[Any]]] = {
    "offices": OfficesResource,
    "consent_forms": ConsentFormsResource,
    "medications": MedicationsResource,
    "patients": PatientsResource,
    "users": UsersResource,
    "iframe_integration": IframeIntegrationResource,
}


def resource_class(endpoint: Endpoint) -> type[BaseResource[Any]]:
    """The class of `endpoint`'s resource: its action class, else its method set's."""
    return SPECIAL.get(endpoint.name) or RESOURCE_TYPES[endpoint.methods]


def build_resources(ctx: ResourceContext) -> dict[str, BaseResource[Any]]:
    """`name -> resource` for every endpoint of the table."""
    return {e.name: resource_class(e)(ctx, e) for e in ENDPOINTS}
