"""The FastAPI app: routes, body limits and the one place errors become ``{"message": ...}``."""

from __future__ import annotations

import logging
import time
from contextlib import AsyncExitStack
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from drcompat import __version__
from drcompat.api.allow import allowed_methods
from drcompat.api.bodies import read_body
from drcompat.api.direct_http import DirectPredictions, DirectRoute
from drcompat.api.endpoint import PREDICTION_PATH, PredictionEndpoint, Reply, error_body
from drcompat.api.endpoint import prediction_request as build_request
from drcompat.api.jobs_routes import add_job_routes
from drcompat.api.middleware import ASGIApp, DataRobotHeaders, Receive, Scope, Send
from drcompat.api.openapi_doc import install_openapi
from drcompat.api.routes.batch_predictions import add_batch_prediction_routes
from drcompat.api.routes.credentials import add_credential_routes
from drcompat.api.routes.docs import add_docs_routes
from drcompat.api.routes.environments import add_environment_routes
from drcompat.api.routes.monitoring import add_monitoring_routes
from drcompat.api.routes.registry import add_registry_routes
from drcompat.api.routes.version import add_version_routes
from drcompat.api.slots import CLIENT_CLOSED, ScoringSlots, fits_inline
from drcompat.config import Settings, job_endpoint
from drcompat.errors import ApiError
from drcompat.jobs.credentials import managed_credential_store
from drcompat.jobs.limits import JobLimits
from drcompat.jobs.service import JobService
from drcompat.monitoring.capture import sink_for
from drcompat.observe import Observer
from drcompat.params import EXPLANATION_PARAMETERS, PREDICTION_PARAMETERS
from drcompat.predict import PredictionService, Trace

log = logging.getLogger("drcompat.api")
PREFIX = "/predApi/v1.0"
NOT_FOUND = (
    "The requested URL was not found on the server.  If you entered the URL manually, "
    "please check your spelling and try again."
)


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(message), status, headers=headers, media_type="application/json")


def response_of(reply: Reply) -> Response:
    if not isinstance(reply.content, bytes):  # streaming door: a big CSV answer, sent as it is encoded
        return StreamingResponse(reply.content, reply.status, headers=reply.headers, media_type=reply.media_type)
    return Response(reply.content, reply.status, headers=reply.headers, media_type=reply.media_type)


def openapi_parameters(table: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    params = []
    for name, (kind, description) in table.items():
        schema: dict[str, Any] = {"type": kind} if kind != "array" else {"type": "array", "items": {"type": "string"}}
        params.append({"name": name, "in": "query", "required": False, "schema": schema, "description": description})
    return params


REQUEST_BODY = {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "text/plain": {"schema": {"type": "string"}},
        "application/json": {"schema": {"oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}]}},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        },
    },
}


def create_app(
    settings: Settings | None = None,
    service: PredictionService | None = None,
    warm: bool = False,
    observer: Observer | None = None,
    jobs: JobService | None = None,
) -> FastAPI:
    """The app over one PredictionService; ``warm`` loads every deployed model now (cold start)."""
    settings = settings or Settings()
    service = service or PredictionService(settings)
    if warm:
        service.warm()
    app = FastAPI(
        title="drcompat Prediction API",
        version=__version__,
        description="DataRobot's Prediction API for deployments, served from ONNX models.",
        docs_url=None,  # served offline by routes/docs.py
        redoc_url=None,
    )
    app.state.service = service
    if settings.monitoring_enabled and service.sink is None:
        service.sink = sink_for(service, settings.monitoring_flush_seconds, settings.monitoring_flush_rows)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return json_error(exc.status, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return json_error(400, NOT_FOUND)  # what DataRobot's prediction server answers (the seed)
        if exc.status_code == 405:
            return json_error(405, str(exc.detail), {"Allow": allowed_methods(request)})
        return json_error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return json_error(400, "Invalid request parameters.")

    slots = ScoringSlots(settings.scoring_threads)

    def endpoint(core: PredictionEndpoint, inline: int) -> Any:
        """One route over the service. Uncompressed bodies up to ``inline`` bytes (and not wide) are
        scored on the event loop; larger, wider or compressed ones are scored on a worker thread,
        holding one of a few scoring slots, so the loop keeps serving and memory stays bounded.
        The slot is taken before the body is read when its size is unknown or over ``inline``."""

        async def answer(deployment_id: str, request: Request) -> Response:
            started = time.perf_counter()
            trace = Trace()
            headers = request.headers
            declared = headers.get("content-length", "")
            compressed = headers.get("content-encoding", "identity").strip().lower() != "identity"
            # (an inline limit at the inflated-body limit means every body: the Lambda adapter)
            everything_inline = inline >= settings.max_decompressed_bytes
            off_loop = compressed and not everything_inline
            slot_first = not everything_inline and (off_loop or not declared.isdigit() or int(declared) > inline)
            try:
                async with AsyncExitStack() as stack:
                    if slot_first:
                        await stack.enter_async_context(slots.slot())
                    body = await read_body(request, settings.max_body_bytes)
                    prediction_request = build_request(deployment_id, body, headers, request.query_params.multi_items())
                    if everything_inline or (
                        not off_loop and fits_inline(body, prediction_request.content_type, inline)
                    ):
                        content, media_type = core.serve(prediction_request, trace)
                    else:  # onnxruntime and pandas release the GIL: the event loop keeps serving
                        if not slot_first:  # a small but wide body
                            await stack.enter_async_context(slots.slot())
                        if await request.is_disconnected():
                            raise ClientDisconnect()
                        content, media_type = await anyio.to_thread.run_sync(core.serve, prediction_request, trace)
            except StarletteHTTPException as exc:  # the body timed out (408)
                reply = core.refused(deployment_id, trace, started, exc.status_code, str(exc.detail))
            except ClientDisconnect:
                log.debug("%s: the client disconnected before its answer", core.route)  # uvicorn logs it at INFO
                core.observe(deployment_id, trace, CLIENT_CLOSED, started)
                return Response(status_code=CLIENT_CLOSED)
            except Exception as exc:  # ApiError: its status and message; anything else: 500
                reply = core.failed(deployment_id, trace, started, exc)
            else:
                reply = core.succeeded(deployment_id, trace, started, content, media_type)
            return response_of(reply)

        return answer

    routes = [
        (
            "predictions",
            service.predict,
            settings.inline_body_bytes,
            PREDICTION_PARAMETERS,
            "Score rows with a deployment's model",
        ),
        (
            "predictionExplanations",
            service.explain,
            settings.inline_body_bytes if settings.explain_inline else 0,
            EXPLANATION_PARAMETERS,
            "Score rows and explain each prediction",
        ),
    ]
    handlers: dict[str, Any] = {}
    direct_routes: dict[str, DirectRoute] = {}
    for route, serve, inline, table, summary in routes:
        core = PredictionEndpoint(route, serve, service, observer)
        handler = handlers[route] = endpoint(core, inline)
        if inline and settings.direct_http:
            direct_routes[route] = DirectRoute(core, inline)
        route_doc = {"parameters": openapi_parameters(table), "requestBody": REQUEST_BODY}
        for prefix, in_schema in ((PREFIX, True), ("", False)):
            app.add_api_route(
                f"{prefix}/deployments/{{deployment_id}}/{route}",
                handler,
                methods=["POST"],
                summary=summary,
                include_in_schema=in_schema,
                openapi_extra=route_doc,
                response_class=Response,
            )

    credentials = managed_credential_store(settings)
    app.state.jobs = jobs or JobService(
        service.storage,
        credentials=credentials,
        endpoint=job_endpoint(settings),
        limits=JobLimits.from_settings(settings),
    )
    add_job_routes(app, service, app.state.jobs)
    add_version_routes(app, service)
    add_credential_routes(app, service, credentials)
    add_environment_routes(app, service)
    add_monitoring_routes(app, service)
    add_batch_prediction_routes(app, service, settings)
    add_docs_routes(app)
    install_openapi(app)
    app.state.registry = add_registry_routes(app, service, settings)

    @app.get("/health", summary="Liveness and what this process holds")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "cachedModels": len(service.cache.ids())}

    def direct(scope: Scope) -> ASGIApp | None:
        """The prediction routes' handler for a POST to one of them, skipping FastAPI's routing
        and dependency machinery (about 0.1 ms a request); the routes stay registered above for
        the OpenAPI document and for every other method (405 with ``Allow``)."""
        if scope["method"] != "POST":
            return None
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        match = PREDICTION_PATH.fullmatch(path)
        if match is None:
            return None
        handler, deployment_id = handlers[match["route"]], match["deployment_id"]

        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            response = await handler(deployment_id, Request(scope, receive))
            await response(scope, receive, send)

        return serve

    # The local server's protocol answers plain prediction POSTs itself (api.direct_http).
    app.state.direct_http = (
        DirectPredictions(direct_routes, settings.max_body_bytes, settings.max_request_line_bytes)
        if direct_routes
        else None
    )
    app.add_middleware(
        DataRobotHeaders,
        max_request_line=settings.max_request_line_bytes,
        body_timeout=settings.body_timeout_seconds,
        body_idle_timeout=settings.body_idle_timeout_seconds,
        direct=direct,
    )
    return app
