"""The staff API's routes and the permission each declares (through openem.app.ROUTERS:
FastAPI wraps included routers, so ``app.routes`` does not list the APIRoutes)."""

from __future__ import annotations

from fastapi.routing import APIRoute

from openem.access.policy import ANYONE, PERMISSIONS
from openem.app import ROUTERS


def staff_routes() -> list[APIRoute]:
    return [
        route
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and route.path.startswith("/api/")
    ]


def declared_permissions(route: APIRoute) -> list[str]:
    found = []
    for dependency in route.dependant.dependencies:
        permission = getattr(dependency.call, "permission", None)
        if permission:
            found.append(permission)
    return found


def is_public(route: APIRoute) -> bool:
    return any(ANYONE in PERMISSIONS.get(p, frozenset()) for p in declared_permissions(route))


def operations() -> list[tuple[str, str, APIRoute]]:
    return sorted(
        ((method, route.path, route) for route in staff_routes() for method in route.methods),
        key=lambda item: (item[1], item[0]),
    )
