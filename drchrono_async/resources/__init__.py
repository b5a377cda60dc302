"""One resource per endpoint of the table; the few with actions have their own class."""

from __future__ import annotations

from typing import Any

from .._endpoints import ENDPOINTS
from ._actions import (
    ConsentFormsResource,
    IframeIntegrationResource,
    MedicationsResource,
    OfficesResource,
    PatientsResource,
    UsersResource,
)
from ._base import Resource, ResourceContext

__all__ = [
    "ConsentFormsResource",
    "IframeIntegrationResource",
    "MedicationsResource",
    "OfficesResource",
    "PatientsResource",
    "Resource",
    "ResourceContext",
    "UsersResource",
    "build_resources",
]

SPECIAL: dict[str, type[Resource[Any]]] = {
    "offices": OfficesResource,
    "consent_forms": ConsentFormsResource,
    "medications": MedicationsResource,
    "patients": PatientsResource,
    "users": UsersResource,
    "iframe_integration": IframeIntegrationResource,
}


def build_resources(ctx: ResourceContext) -> dict[str, Resource[Any]]:
    """`name -> resource` for every endpoint of the table."""
    return {e.name: SPECIAL.get(e.name, Resource)(ctx, e) for e in ENDPOINTS}
