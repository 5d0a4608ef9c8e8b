"""One ASGI middleware for what every request needs: request id, language, security headers,
body-size limit, metrics and an access log line."""

from __future__ import annotations

import asyncio
import json
import re
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nokor.config import Settings
from nokor.kit import i18n
from nokor.kit.context import client_ip_var, request_id_var
from nokor.kit.errors import PayloadTooLarge
from nokor.kit.ids import uuid7

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
LANG_COOKIE = "nokor_lang"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
log = structlog.get_logger("nokor.http")


def replay_body(body: bytes, receive: Receive | None = None) -> Receive:
    """An ASGI ``receive`` for an app that reads a request body someone already read in full: ``body`` as the one
    ``http.request`` message, then whatever ``receive`` gives (the client's disconnect). With no ``receive`` (a call
    made in process, nobody behind it) nothing more comes: it waits until the app, done, cancels the wait."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if receive is not None:
            return await receive()
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}
    return replay


class Metrics:
    """Prometheus counters of one app (a registry per app, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nokor_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "nokor_http_request_seconds", "HTTP request duration", ["method", "route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def pick_locale(scope: Scope, default: str) -> str:
    """?lang= first, then the language cookie, then Accept-Language, then the site default."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    lang = (query.get("lang") or [None])[0]
    if lang in i18n.LOCALES:
        return str(lang)
    cookie_header = _header(scope, b"cookie")
    if cookie_header:
        cookies = SimpleCookie()
        try:
            cookies.load(cookie_header)
        except Exception:
            cookies = SimpleCookie()
        morsel = cookies.get(LANG_COOKIE)
        if morsel is not None and morsel.value in i18n.LOCALES:
            return morsel.value
    return i18n.negotiate_locale(_header(scope, b"accept-language"), default)


class PlatformMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and REQUEST_ID_RE.match(incoming) else str(uuid7())
        client = scope.get("client")
        client_ip = client[0] if client else None
        locale = pick_locale(scope, self.settings.default_locale)
        tokens = (
            request_id_var.set(request_id),
            client_ip_var.set(client_ip),
            i18n.locale_var.set(locale),
            i18n.timezone_var.set(self.settings.timezone),
        )
        scope.setdefault("state", {}).update({"request_id": request_id, "locale": locale})
        secure = self.settings.force_https or scope.get("scheme") == "https"
        status_holder = {"status": 500}
        limit = self.settings.max_body_bytes

        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._too_large(scope, send, request_id, secure)
            self._finish(scope, 413, started, tokens)
            return

        received = 0
        state = {"too_large": False, "started": False}

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    state["too_large"] = True
                    raise PayloadTooLarge()
            return message

        async def send_wrapper(message: Message) -> None:
            if state["too_large"]:
                # Whatever the app made of the cut-off body, the answer is 413.
                if message["type"] == "http.response.start" and not state["started"]:
                    state["started"] = True
                    status_holder["status"] = 413
                    await self._too_large(scope, send, request_id, secure)
                return
            if message["type"] == "http.response.start":
                state["started"] = True
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                # A page may set its own, narrower-purpose CSP (e.g. a form that posts on to another site).
                own_csp = any(name.lower() == b"content-security-policy" for name, _value in headers)
                headers.extend(h for h in self._security_headers(request_id, secure)
                               if not (own_csp and h[0] == b"content-security-policy"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except Exception:
            if state["too_large"]:
                if not state["started"]:
                    status_holder["status"] = 413
                    await self._too_large(scope, send, request_id, secure)
            else:
                log.exception("unhandled error", path=scope.get("path"))
                status_holder["status"] = 500
                if not state["started"]:
                    await self._server_error(scope, receive, send, request_id, secure)
        finally:
            self._finish(scope, status_holder["status"], started, tokens)

    async def _server_error(self, scope: Scope, receive: Receive, send: Send, request_id: str,
                            secure: bool) -> None:
        """A 500 that says nothing of the cause: a translated page for people, problem+json for machines."""
        from starlette.requests import Request
        from starlette.responses import Response

        from nokor.kit.errors import ServerError
        from nokor.web import render

        problem = ServerError()
        request = Request(scope, receive)
        accept = request.headers.get("accept", "")
        response: Response
        if "text/html" in accept and not request.url.path.startswith(("/api/", "/health", "/metrics")):
            response = render(request, "errors/error.html",
                              {"status": 500, "title": problem.title, "detail": None}, status_code=500)
        else:
            body = json.dumps(problem.to_dict(instance=scope.get("path")))
            response = Response(body, status_code=500, media_type="application/problem+json")
        response.headers.update({k.decode(): v.decode() for k, v in self._security_headers(request_id, secure)})
        await response(scope, receive, send)

    def _security_headers(self, request_id: str, secure: bool) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"x-request-id", request_id.encode()),
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if secure:
            headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
        return headers

    async def _too_large(self, scope: Scope, send: Send, request_id: str, secure: bool) -> None:
        problem = PayloadTooLarge()
        body = json.dumps(problem.to_dict(instance=scope.get("path"))).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *self._security_headers(request_id, secure),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _finish(self, scope: Scope, status: int, started: float, tokens: tuple[Any, ...]) -> None:
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        route_name = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        self.metrics.requests.labels(method, route_name, str(status)).inc()
        self.metrics.latency.labels(method, route_name).observe(elapsed)
        log.info("request", method=method, path=scope.get("path"), status=status,
                 duration_ms=round(elapsed * 1000, 2))
        request_id_var.reset(tokens[0])
        client_ip_var.reset(tokens[1])
        i18n.locale_var.reset(tokens[2])
        i18n.timezone_var.reset(tokens[3])
