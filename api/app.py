"""create_app: the FastAPI application, its middleware, error handlers and services.

`create_app(config)` starts its services (control plane, read model, ingest client,
webhook dispatcher) in the lifespan, so `uvicorn` and `TestClient` run the same thing.
The console's static files are mounted at `/` after every /v1 route.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import accounts, problems
from api.config import ApiSettings
from api.controlplane import ControlPlane
from api.deps import Services, declare_bearer
from api.middleware import Idempotency, KeyGate, SecurityHeaders, SizeLimit
from topics.loopback import host_allowed, server_names

log = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent / "console" / "static"
VERSION = "1.0.0"
# FastAPI's built-in OpenTelemetry, off: the project exports Prometheus metrics
# (/metrics) and no traces, and with it on every request asks the global providers
# whether they are configured yet (three lookups, a request's extra cost for nothing).
TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def start_services(config: ApiSettings) -> Services:
    """Everything a replica needs, started in order: control plane first (auth needs it)."""
    from api.readmodel import ReadModel
    from api.webhooks import Dispatcher
    from ingest.api import CampaignClient

    cp = ControlPlane(config.kafka, config.topics)
    cp.start()
    svc = Services(config, cp, operator_key=accounts.operator_key(config.operator_key_file))
    svc.readmodel = ReadModel(config.kafka, config.prefix, config.state_dir / "readmodel")
    svc.readmodel.start()
    svc.client = CampaignClient(
        config.kafka, config.topics, timeout_seconds=config.command_timeout_s
    )
    if config.webhooks:
        svc.dispatcher = Dispatcher(config, cp, svc.readmodel)
        svc.dispatcher.start()
    return svc


def stop_services(svc: Services) -> None:
    for closer in (svc.dispatcher, svc.readmodel, svc.client):
        if closer is not None:
            with contextlib.suppress(Exception):
                closer.close()
    svc.cp.close()


def _lifespan(
    config: ApiSettings, services: Services | None
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """Start (and stop) the replica's services with the app, unless the caller owns them."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Command routes wait for the engine's answer in worker threads: allow many.
        anyio.to_thread.current_default_thread_limiter().total_tokens = 200
        own = services is None
        svc = (
            services
            if services is not None
            else await anyio.to_thread.run_sync(start_services, config)
        )
        if own:
            # What start-up built (control plane, read model summaries, modules) lives as
            # long as the process and holds no garbage cycles: the collector never scans
            # it again. Unfrozen, a full collection walks it all (130-460 ms at 10,000
            # campaigns here), a pause every request in flight waits out.
            gc.freeze()
        app.state.services = svc
        try:
            yield
        finally:
            if own:
                await anyio.to_thread.run_sync(stop_services, svc)

    return lifespan


def create_app(config: ApiSettings, services: Services | None = None) -> FastAPI:
    """The API; with `services` given the caller owns them (tests, benchmarks)."""
    app = FastAPI(
        title="campaignflow",
        version=VERSION,
        summary="Outbound-call campaigns: accounts, agents, numbers, campaigns, results, webhooks.",
        openapi_url="/openapi.json",
        # FastAPI's /docs loads swagger-ui from a CDN, on the console's origin: off.
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(config, services),
        telemetry=TELEMETRY_OFF,
    )
    if services is not None:
        app.state.services = services
    app.add_exception_handler(problems.ApiProblem, problems.on_api_problem)
    app.add_exception_handler(RequestValidationError, problems.on_validation)
    app.add_exception_handler(StarletteHTTPException, problems.on_http)
    app.add_exception_handler(Exception, problems.on_unexpected)
    _add_routes(app)
    _add_metrics(app, config)
    _add_openapi(app)
    _add_middleware(app, config)
    console = config.console_dir or CONSOLE_DIR
    if console.is_dir():
        app.mount("/", StaticFiles(directory=console, html=True), name="console")
    return app


def _add_routes(app: FastAPI) -> None:
    from api import (
        routes_analytics,
        routes_campaign_analytics,
        routes_campaigns,
        routes_dnc,
        routes_resources,
    )

    # Routes are matched in order, one pattern after another: the campaign reads (the
    # console polls a campaign every 2 s; integrations page the list) come first, so
    # they do not pay for matching every other route before their own.
    app.include_router(routes_campaigns.router)
    app.include_router(routes_campaign_analytics.router)
    app.include_router(routes_resources.router)
    app.include_router(routes_resources.ops)
    app.include_router(routes_analytics.router)
    app.include_router(routes_dnc.router)
    app.include_router(routes_dnc.ops)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, bool]:
        return {"ok": True}


def _add_openapi(app: FastAPI) -> None:
    """The schema, generated once, with the bearer scheme declared."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_bearer(default_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_metrics(app: FastAPI, config: ApiSettings) -> None:
    """GET /metrics, for a Host naming this API only (DNS rebinding)."""
    names = server_names(config.host)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        host = request.headers.get("host")
        if not host_allowed(host, config.port, names):
            raise problems.ApiProblem(403, f"Host {host!r} is not this API's address")
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _add_middleware(app: FastAPI, config: ApiSettings) -> None:
    """The middleware, innermost first; the services are found per request (the lifespan
    starts them after the app is built)."""
    from api import routes_campaigns, routes_dnc

    def _services() -> Services:
        return app.state.services  # type: ignore[no-any-return]

    def _operator_key() -> str | None:
        svc: Services | None = getattr(app.state, "services", None)
        return svc.operator_key if svc is not None else None

    app.add_middleware(Idempotency, cp=lambda: _services().cp)
    app.add_middleware(
        SizeLimit,
        max_json=config.max_json_bytes,
        max_upload=config.max_upload_bytes,
        max_request=config.max_request_bytes,
        upload_route=routes_campaigns.upload_route,
        raw_upload_paths=routes_dnc.RAW_UPLOAD_PATHS,
    )
    # Then the key, checked before any body is read, and the rate, before any work.
    app.add_middleware(
        KeyGate,
        cp=lambda: _services().cp,
        operator_key=_operator_key,
        limiter=lambda: _services().limiter,
        rate=config.limits.requests,
    )
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, the refusals too
