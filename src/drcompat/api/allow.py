"""The ``Allow`` header of a 405: every method any route serves at the requested path.

Starlette names only the methods of the first route whose path matched; a path served by
several routes (``GET`` and ``POST /api/v2/customJobs/``) has them all.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Match, Route


def allowed_methods(request: Request) -> str:
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": "\x00"})  # no method matches: path only
            if match is not Match.NONE:
                methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")
    methods.add("OPTIONS")  # answered by the middleware (CORS preflight)
    return ", ".join(sorted(methods))
