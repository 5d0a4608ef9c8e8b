"""The application factory: one FastAPI app that mounts every domain's API and pages."""

from __future__ import annotations

import mimetypes
import types
import typing
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from itsdangerous import URLSafeSerializer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DataError
from sqlalchemy.orm import configure_mappers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nokor import __version__
from nokor.accounts import api as accounts_api
from nokor.accounts import views as accounts_views
from nokor.audit import api as audit_api
from nokor.audit import views as audit_views
from nokor.backoffice import api as backoffice_api
from nokor.backoffice import views as backoffice_views
from nokor.civil import api as civil_api
from nokor.civil import views as civil_views
from nokor.config import Settings, get_settings
from nokor.db import make_engine, make_session_factory
from nokor.exchange import api as exchange_api
from nokor.exchange import confmgmt as exchange_confmgmt
from nokor.exchange import views as exchange_views
from nokor.exchange.gateway import GatewayMiddleware, Runtime
from nokor.identity import api as identity_api
from nokor.identity import govstack as identity_govstack
from nokor.identity import views as identity_views
from nokor.kit import i18n
from nokor.kit.errors import NotFound, Problem, ValidationFailed, field_error, problem_responses
from nokor.kit.i18n import gettext as _
from nokor.kit.logs import configure_logging
from nokor.messaging import govstack as messaging_govstack
from nokor.messaging import views as messaging_views
from nokor.payments import api as payments_api
from nokor.payments import govstack as payments_govstack
from nokor.payments import govstack_qa as payments_govstack_qa
from nokor.payments import views as payments_views
from nokor.places import api as places_api
from nokor.places import views as places_views
from nokor.portal import views as portal_views
from nokor.registries import api as registries_api
from nokor.registries import govstack as registries_govstack
from nokor.registries import views as registries_views
from nokor.services import api as services_api
from nokor.services import citizen_views as services_citizen_views
from nokor.services import govstack as services_govstack
from nokor.services import views as services_views
from nokor.trust import api as trust_api
from nokor.trust import govstack as trust_govstack
from nokor.trust import views as trust_views
from nokor.web import FLASH_COOKIE, STATIC_DIR, render, translate_validation
from nokor.web import views as web_views
from nokor.web.middleware import LANG_COOKIE, Metrics, PlatformMiddleware

log = structlog.get_logger("nokor.app")
PROBLEM_JSON = "application/problem+json"
API_PREFIXES = ("/api/", "/govstack/", "/health", "/metrics", "/openapi.json")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings``: database, middleware, error handling and every domain's routes."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    engine = make_engine(settings.effective_database_url)
    app = FastAPI(
        # Nokor exports Prometheus metrics, not OpenTelemetry: without this FastAPI asks for a global
        # OpenTelemetry provider (environment lookups) on every request, 8 % of a gateway call's CPU.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="Nokor API",
        version=__version__,
        description="Nokor digital-government platform. Errors are RFC 9457 problem+json.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        dependencies=[Depends(single_valued_query)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.flash_signer = URLSafeSerializer(settings.effective_secret_key, salt="flash")
    metrics = Metrics()
    app.state.metrics = metrics

    # Innermost: the batched paths of provider callbacks and of identity verification (the calls they do not
    # answer go on to the router).
    app.add_middleware(payments_api.CallbackFastPath)
    app.add_middleware(identity_api.VerificationFastPath, settings=settings, session_factory=app.state.session_factory)
    app.add_middleware(ShellStateMiddleware, settings=settings, flash_signer=app.state.flash_signer)
    app.add_middleware(PlatformMiddleware, settings=settings, metrics=metrics)
    # Outermost: /r1/... goes straight to the exchange gateway, which keeps its own lean hot path.
    app.state.exchange = Runtime(settings, app.state.session_factory, metrics.registry)
    app.add_middleware(GatewayMiddleware, runtime=app.state.exchange)
    _document_problems(app)
    _install_error_handlers(app)
    _install_platform_routes(app)
    app.include_router(payments_api.callback_router)
    app.mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static")
    for router in (accounts_api.router, audit_api.router, backoffice_api.router, web_views.router,
                   accounts_views.router, audit_views.router, backoffice_views.router,
                   registries_api.router, registries_govstack.router, registries_govstack.qa_router,
                   registries_views.router):
        app.include_router(router)
    for router in (trust_api.router, trust_api.public_router, trust_govstack.router, trust_views.router):
        app.include_router(router)
    app.include_router(payments_api.router)
    app.include_router(payments_govstack.router)
    app.include_router(payments_govstack_qa.router)
    app.include_router(payments_views.router)
    app.include_router(civil_api.router)
    app.include_router(civil_views.router)
    app.include_router(places_api.router)
    app.include_router(places_views.router)
    app.include_router(messaging_views.router)
    app.include_router(messaging_govstack.router)
    for router in (exchange_api.router, exchange_api.rooms, exchange_views.router, exchange_confmgmt.router,
                   exchange_confmgmt.qa_router,
                   services_api.router, services_govstack.router, services_govstack.statistics_router,
                   services_citizen_views.router, services_views.router):
        app.include_router(router)
    app.include_router(identity_api.router)
    app.include_router(identity_govstack.router)
    app.include_router(identity_views.router)
    app.include_router(portal_views.router)
    # Every domain's models are imported by now: set up their mappers here rather than in the first request
    # that touches the database (a tenth of a second of CPU on this machine).
    configure_mappers()
    return app


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_sequence(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _is_sequence(typing.get_args(annotation)[0])
    return isinstance(origin, type) and issubclass(origin, (Sequence, set, frozenset)) and origin is not str


def _scalar_query_names(dependant: Dependant) -> frozenset[str]:
    names = {field.alias for field in dependant.query_params if not _is_sequence(field.field_info.annotation)}
    for sub in dependant.dependencies:
        names |= _scalar_query_names(sub)
    return frozenset(names)


def single_valued_query(request: Request) -> None:
    """A query parameter the operation takes once (``limit``, ``cursor``) given twice is a 422 naming it.

    FastAPI would quietly keep the last value; a caller who sent ``limit=5&limit=500`` made a mistake
    and should hear about it, not get an answer to half of what they asked.
    """
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    names: frozenset[str] | None = getattr(route, "nokor_scalar_query", None)
    if names is None:
        names = _scalar_query_names(dependant)
        route.nokor_scalar_query = names  # type: ignore[union-attr]  # worked out once per route
    seen: set[str] = set()
    repeated: list[str] = []
    for key, _value in request.query_params.multi_items():
        if key in names:
            if key in seen and key not in repeated:
                repeated.append(key)
            seen.add(key)
    if repeated:
        raise ValidationFailed(errors=[
            field_error(["query", name], _("Give this value only once."), "repeated") for name in repeated])


class ShellStateMiddleware:
    """Gives pages the shell's state (site name, flash signer) and sets the flash cookie that views asked for.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs every
    request through an extra task and memory stream, which cost more than half a millisecond of CPU
    per request, the largest single cost of a payment callback.
    """

    def __init__(self, app: ASGIApp, settings: Settings, flash_signer: URLSafeSerializer) -> None:
        self.app = app
        self.settings = settings
        self.flash_signer = flash_signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["flash_signer"] = self.flash_signer
        state["site_name"] = self.settings.site_name

        async def send_with_flashes(message: Message) -> None:
            if message["type"] == "http.response.start" and state.get("new_flashes"):
                cookie = Response()
                cookie.set_cookie(FLASH_COOKIE, self.flash_signer.dumps(state["new_flashes"]), httponly=True,
                                  samesite="lax", path="/",
                                  secure=self.settings.force_https or scope.get("scheme") == "https")
                headers = list(message.get("headers", []))
                headers.extend((k, v) for k, v in cookie.raw_headers if k == b"set-cookie")
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_flashes)


# Python 3.11 does not know woff2; a slim server image without /etc/mime.types would mislabel fonts.
mimetypes.add_type("font/woff2", ".woff2")


class CachedStaticFiles(StaticFiles):
    """Static files a browser may keep for a day, so a slow link fetches CSS, fonts and htmx once."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def _document_problems(app: FastAPI) -> None:
    """Say in the OpenAPI document what the API really sends for invalid input: problem+json.

    FastAPI documents its own 422 shape as application/json on every route with parameters;
    our handler answers every validation error as RFC 9457 problem+json instead.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            problem = problem_responses(422)[422]["content"]
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
                    if "422" in responses:
                        responses["422"]["content"] = problem
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def wants_html(request: Request) -> bool:
    """A person's browser gets a page; API clients and machines get problem+json."""
    if request.url.path.startswith(API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def problem_response(request: Request, problem: Problem) -> Response:
    if wants_html(request):
        if problem.status == 401:
            target = request.url.path + (("?" + request.url.query) if request.url.query else "")
            login = "/my/login" if problem.extensions.get("code") == "citizen_sign_in_required" else "/login"
            return RedirectResponse(login + "?next=" + quote(target, safe=""), status_code=303)
        return render(
            request,
            "errors/error.html",
            {"status": problem.status, "title": problem.title, "detail": problem.detail},
            status_code=problem.status,
            headers=problem.headers,
        )
    return JSONResponse(
        problem.to_dict(instance=request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            field_error(list(e.get("loc", ())), translate_validation(e), str(e.get("type", "invalid")))
            for e in exc.errors()
        ]
        return problem_response(request, ValidationFailed(errors=errors))

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> Response:
        # The database refused a value the schemas let through (PostgreSQL: a NUL character in text,
        # a number out of range). The request's transaction is rolled back; the caller gets a 422.
        log.warning("value refused by the database", error=str(exc.orig)[:200])
        return problem_response(request, ValidationFailed(
            _("A value cannot be stored: text must not contain NUL characters and numbers must be in range.")))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return problem_response(request, NotFound())
        problem = Problem(detail=str(exc.detail) if exc.detail else None, headers=dict(exc.headers or {}))
        problem.status = exc.status_code
        problem.slug = {405: "method-not-allowed", 400: "bad-request"}.get(exc.status_code, "http-error")
        return problem_response(request, problem)


def _install_platform_routes(app: FastAPI) -> None:
    @app.get("/health/live", tags=["platform"], summary="The process is up")
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["platform"], summary="The process can serve: the database answers")
    def ready(request: Request) -> Response:
        try:
            with request.app.state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("database not ready", error=str(exc))
            body = {"type": "https://nokor.gov/problems/not-ready", "title": "Not ready", "status": 503,
                    "detail": "database unreachable"}
            return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON)
        return JSONResponse({"status": "ok", "database": "ok"})

    @app.get("/metrics", tags=["platform"], summary="Prometheus metrics", response_class=PlainTextResponse)
    def metrics(request: Request) -> Response:
        return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/language/{code}", include_in_schema=False)
    def switch_language(request: Request, code: str, next: str = "/") -> Response:
        if code not in i18n.LOCALES:
            raise NotFound()
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax", path="/",
                            secure=request.app.state.settings.force_https or request.url.scheme == "https")
        return response
