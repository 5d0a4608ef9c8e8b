"""The security gateway: ``/r1/{INSTANCE}/{CLASS}/{MEMBER}/{SUBSYSTEM}/{SERVICE}/{path}`` (X-Road REST).

A plain ASGI layer in front of the rest of the app, so the hot path pays for nothing it does not need:
it authenticates the client (API key of an accounts API client, or a client certificate from the trust
services' agency CA, or a federated instance's gateway certificate), checks the client header, finds
the service and the access right in a per-process snapshot of the directory, forwards the call with one
shared keep-alive ``httpx.AsyncClient`` (no redirects, hop-by-hop headers stripped, time-out and size
limits), and queues a message-log record. Errors are problem+json with an X-Road code (``Client.*``,
``Server.ClientProxy.*``, ``Server.ServerProxy.*``) in ``code`` and in the ``X-Road-Error`` header.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import ssl
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nokor import accounts, trust
from nokor.config import Settings
from nokor.db import session_scope
from nokor.exchange import service as directory_service
from nokor.exchange.credentials import load_credentials, unencrypted_key_file
from nokor.exchange.messagelog import Entry, MessageLog
from nokor.exchange.schemas import split_identifier
from nokor.exchange.service import Directory, ServiceEntry
from nokor.exchange.transport import GatewayTransport, ResponseTooLarge
from nokor.kit.actor import Actor
from nokor.kit.time import utcnow
from nokor.web.middleware import replay_body

log = structlog.get_logger("nokor.exchange.gateway")

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "trailers", "transfer-encoding", "upgrade", "proxy-connection"})
# Never forwarded to a provider: the client's credentials for the gateway and the gateway's own framing.
NOT_FORWARDED = HOP_BY_HOP | {"host", "authorization", "cookie", "content-length", "x-road-client",
                              "information-mediator-client", "x-govstack-client", "x-road-id", "x-road-service",
                              "x-forwarded-for", "x-ssl-client-cert"}
NOT_RETURNED = HOP_BY_HOP | {"content-length", "set-cookie", "server", "date"}
NOT_LOGGED = frozenset({"authorization", "cookie", "set-cookie"})
CLIENT_HEADERS = (b"x-road-client", b"information-mediator-client", b"x-govstack-client")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
METADATA = frozenset({"listMethods", "allowedMethods", "getOpenAPI"})
ROOM_AREAS = frozenset({"api", "pub", "pull"})
PROBLEM_BASE = "https://nokor.gov/problems/exchange/"
SAFE_PATH = "/%:@!$&'()*+,;=-._~"

ERRORS: dict[str, tuple[int, str]] = {
    "Client.BadRequest": (400, "The address is not /r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE/..."),
    "Client.InvalidClientIdentifier": (400, "The client header is not INSTANCE/CLASS/MEMBER/SUBSYSTEM."),
    "Client.RequestTooLarge": (413, "The request body is larger than the service accepts."),
    "Server.ClientProxy.AuthenticationFailed": (401, "Present a valid API key or client certificate."),
    "Server.ClientProxy.ForgedClientIdentifier": (403, "The client header names another client than the one "
                                                       "that authenticated."),
    "Server.ClientProxy.UnknownInstance": (404, "This exchange does not know or trust that instance."),
    "Server.ClientProxy.NetworkError": (502, "The other instance's gateway could not be reached."),
    "Server.ServerProxy.UnknownService": (404, "There is no such service."),
    "Server.ServerProxy.UnknownMember": (404, "There is no such subsystem."),
    "Server.ServerProxy.ServiceDisabled": (503, "The service is out of use."),
    "Server.ServerProxy.AccessDenied": (403, "The client has no access right to this service or endpoint."),
    "Server.ServerProxy.ServiceTimeout": (504, "The provider did not answer in time."),
    "Server.ServerProxy.ServiceFailed": (502, "The provider's answer could not be used."),
    "Server.InternalError": (500, "The gateway failed; the error has been logged."),
}


class ExchangeError(Exception):
    """A refused or failed call, answered with its X-Road code."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.status, default = ERRORS[code]
        self.detail = detail or default


@dataclass(frozen=True)
class Caller:
    """Who is calling through the gateway."""

    identity: str
    via: str  # "key", "certificate", "peer"
    actor: Actor | None = None
    peer_instance: str | None = None


class Metrics:
    """Per-service figures for /metrics (calls by status and X-Road error, and latency)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter("nokor_exchange_calls_total", "Calls through the exchange gateway",
                             ["service", "status", "error"], registry=registry)
        self.latency = Histogram("nokor_exchange_call_seconds", "Time from request to answer through the gateway",
                                 ["service"], registry=registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30))
        self._counters: dict[tuple[str, int, str | None], Any] = {}
        self._histograms: dict[str, Any] = {}

    def record(self, service: str, status: int, error: str | None, seconds: float) -> None:
        """Count one call and its latency (the labelled series looked up once, not per call)."""
        counter = self._counters.get((service, status, error))
        if counter is None:
            if len(self._counters) > 10_000:
                self._counters.clear()
            counter = self._counters[(service, status, error)] = self.calls.labels(service, str(status), error or "")
        counter.inc()
        histogram = self._histograms.get(service)
        if histogram is None:
            if len(self._histograms) > 10_000:
                self._histograms.clear()
            histogram = self._histograms[service] = self.latency.labels(service)
        histogram.observe(seconds)


def _problem(code: str, detail: str, instance: str, message_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status, _default = ERRORS[code]
    body = json.dumps({"type": PROBLEM_BASE + code, "title": code, "status": status, "detail": detail,
                       "instance": instance, "code": code, "messageId": message_id}).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"x-road-error", code.encode()),
               (b"x-road-id", message_id.encode())]
    return status, headers, body


class Runtime:
    """The gateway's per-process state: the directory snapshot, caches, the HTTP client and the log."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], registry: CollectorRegistry) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.instance = settings.exchange_instance
        self.log = MessageLog(settings, session_factory)
        self.metrics = Metrics(registry)
        self._directory: Directory | None = None
        self._checked_at = 0.0
        self._keys: dict[bytes, tuple[Caller | None, float]] = {}
        self._lookups: dict[bytes, asyncio.Future[Caller | None]] = {}
        self._certs: dict[bytes, tuple[Caller | None, float]] = {}
        self._client: httpx.AsyncClient | None = None
        self.transport = GatewayTransport()
        self._origins: dict[str, tuple[str, int, str] | None] = {}
        self._peer_clients: dict[str, httpx.AsyncClient] = {}
        self._lock = threading.Lock()
        self.inner: ASGIApp | None = None
        directory_service.on_local_change(self.invalidate)

    # --- caches --------------------------------------------------------------------------------

    def invalidate(self) -> None:
        """Forget the directory snapshot (this process changed it)."""
        self._directory = None

    def _load_directory(self) -> Directory:
        with session_scope(self.session_factory) as session:
            return directory_service.load_directory(session)

    def _generation(self) -> int:
        with session_scope(self.session_factory) as session:
            return directory_service.current_generation(session)

    async def directory(self) -> Directory:
        """The directory snapshot, reloaded when this process changed it or another one did."""
        now = time.monotonic()
        current = self._directory
        if current is not None and now - self._checked_at < self.settings.exchange_cache_seconds:
            return current
        self._checked_at = now
        if current is not None and await anyio.to_thread.run_sync(self._generation) == current.generation:
            return current
        fresh = await anyio.to_thread.run_sync(self._load_directory)
        self._directory = fresh
        for client in self._peer_clients.values():
            await client.aclose()
        self._peer_clients.clear()
        return fresh

    @property
    def client(self) -> httpx.AsyncClient:
        """The one keep-alive HTTP client every forwarded call shares."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self.transport, follow_redirects=False, trust_env=False,
                timeout=httpx.Timeout(self.settings.exchange_timeout_seconds),
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=256, keepalive_expiry=60))
        return self._client

    def peer_client(self, directory: Directory, instance: str) -> httpx.AsyncClient:
        """A keep-alive client for one federated instance: our gateway certificate, their root."""
        found = self._peer_clients.get(instance)
        if found is not None:
            return found
        peer = directory.peers[instance]
        context: ssl.SSLContext | bool = True
        if peer.gateway_url.startswith("https://"):
            credentials = load_credentials(self.settings)
            context = ssl.create_default_context(cadata=peer.root_pem)
            # Peers are pinned by certificate identity (checked below), not by host name.
            context.check_hostname = False
            if credentials is not None:
                context.load_cert_chain(str(credentials.fullchain_path),
                                        str(unencrypted_key_file(self.settings, credentials)))
        client = httpx.AsyncClient(verify=context, follow_redirects=False, trust_env=False,
                                   timeout=httpx.Timeout(self.settings.exchange_timeout_seconds),
                                   limits=httpx.Limits(max_connections=256, max_keepalive_connections=128))
        self._peer_clients[instance] = client
        return client

    def plain_origin(self, base_url: str) -> tuple[str, int, str] | None:
        """(host, port, path) of a plain-http provider address, which the lean transport calls directly;
        None for https (and anything else), which goes through httpx."""
        if base_url in self._origins:
            return self._origins[base_url]
        found: tuple[str, int, str] | None = None
        if base_url.startswith("http://"):
            url = httpx.URL(base_url)
            path = base_url[len("http://") + len(base_url[len("http://"):].split("/", 1)[0]):]
            found = (url.host, url.port or 80, quote(path, safe=SAFE_PATH))
        if len(self._origins) > 10_000:
            self._origins.clear()
        self._origins[base_url] = found
        return found

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await self.transport.aclose()
        for client in self._peer_clients.values():
            await client.aclose()
        self._peer_clients.clear()
        await anyio.to_thread.run_sync(self.log.stop)

    # --- authentication ------------------------------------------------------------------------

    def _by_key(self, key: str) -> Caller | None:
        with session_scope(self.session_factory) as session:
            actor = accounts.authenticate_api_key(session, key=key)
        if actor is None or not actor.identity:
            return None
        return Caller(identity=actor.identity, via="key", actor=actor)

    async def caller_by_key(self, key: str) -> Caller | None:
        """The caller of an API key, from a per-process cache that never serves an answer older than
        ``exchange_cache_seconds`` (a revoked key stops working within that time in every process).

        An answer past half its life is refreshed in the background while it is still served, so a busy
        client never waits for the database; one lookup per key is in flight at a time, so the end of a
        cache period does not send every waiting call to the database at once."""
        digest = hashlib.sha256(key.encode()).digest()
        cached = self._keys.get(digest)
        ttl = self.settings.exchange_cache_seconds
        if cached is not None:
            age = time.monotonic() - cached[1]
            if age < ttl:
                if age > ttl / 2:
                    self._lookup(key, digest)
                return cached[0]
        return await asyncio.shield(self._lookup(key, digest))

    def _lookup(self, key: str, digest: bytes) -> asyncio.Future[Caller | None]:
        """The lookup of ``key`` in flight on this event loop, started if there is none."""
        loop = asyncio.get_running_loop()
        running = self._lookups.get(digest)
        if running is not None and running.get_loop() is loop and not running.done():
            return running
        task = loop.create_task(self._look_up(key, digest))
        task.add_done_callback(_consume_exception)
        self._lookups[digest] = task
        return task

    async def _look_up(self, key: str, digest: bytes) -> Caller | None:
        started = time.monotonic()  # the answer's age counts from before the database was asked
        try:
            caller = await anyio.to_thread.run_sync(self._by_key, key)
        finally:
            self._lookups.pop(digest, None)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[digest] = (caller, started)
        return caller

    def _by_certificate(self, der: bytes, directory: Directory) -> Caller | None:
        cert = x509.load_der_x509_certificate(der)
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        identity = str(names[0].value) if names else ""
        if split_identifier(identity, 4) is None:
            return None
        with session_scope(self.session_factory) as session:
            agencies = x509.load_der_x509_certificate(trust.ca_certificate(session, slug="agencies"))
            try:
                cert.verify_directly_issued_by(agencies)
                local = True
            except (ValueError, TypeError, Exception):
                local = False
            if local:
                status: str = "unknown"
                with contextlib.suppress(Exception):
                    status = trust.get_certificate(session, serial=format(cert.serial_number, "x")).status
                now = utcnow()
                if status != "active" or not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                    return None
                return Caller(identity=identity, via="certificate")
        # Not one of ours: it must be a federated gateway (the TLS layer checked its chain to a trusted root).
        instance = identity.split("/")[0]
        peer = directory.peers.get(instance)
        if peer is None or peer.server_identity != identity or instance == self.instance:
            return None
        return Caller(identity=identity, via="peer", peer_instance=instance)

    async def caller_by_certificate(self, der: bytes, directory: Directory) -> Caller | None:
        cached = self._certs.get(der)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            caller = await anyio.to_thread.run_sync(self._by_certificate, der, directory)
        except Exception:
            log.warning("exchange.certificate_refused", exc_info=True)
            caller = None
        self._certs[der] = (caller, now + self.settings.exchange_cache_seconds)
        return caller


def _consume_exception(task: asyncio.Future[Any]) -> None:
    """A background lookup that failed is retried by the next call; its error must not be reported as
    never retrieved."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("exchange.key_lookup_failed", exc_info=task.exception())


def _peer_certificate(scope: Scope) -> bytes | None:
    """The client certificate of a mutual-TLS connection (ASGI TLS extension), as DER."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    first = chain[0]
    if isinstance(first, bytes):
        return first
    return x509.load_pem_x509_certificate(str(first).encode()).public_bytes(serialization.Encoding.DER)


def _is_peer(response: httpx.Response, identity: str) -> bool:
    """Whether the TLS certificate the other gateway showed names the gateway we trust for its instance
    (its chain to the peer's root was checked by the TLS handshake)."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return False
    names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return bool(names) and str(names[0].value) == identity


def _api_key(headers: dict[bytes, bytes]) -> str | None:
    value = headers.get(b"authorization")
    if not value:
        return None
    text = value.decode("latin-1").strip()
    scheme, _sep, rest = text.partition(" ")
    if rest and scheme.lower() == "bearer":
        return rest.strip()
    return text if not rest else None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None when it is larger than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def _returned(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """An answer's headers without hop-by-hop ones (and those its Connection header names)."""
    named = {t.strip().lower() for k, v in headers if k.lower() == b"connection"
             for t in v.decode("latin-1").split(",")}
    return [(k, v) for k, v in headers
            if (name := k.decode("latin-1").lower()) not in NOT_RETURNED and name not in named]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class GatewayMiddleware:
    """Sends ``/r1/...`` and ``/listClients`` to the gateway and everything else to the app."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        runtime.inner = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/r1/") or path == "/listClients":
                await self.handle(scope, receive, send)
                return
        elif scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        await self.app(scope, receive, send)

    def _lifespan_receive(self, receive: Receive) -> Callable[[], Awaitable[Message]]:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.runtime.log.start()
            elif message["type"] == "lifespan.shutdown":
                await self.runtime.close()
            return message
        return wrapped

    # --- the hot path ----------------------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.runtime
        started = time.perf_counter()
        message_id = str(uuid.uuid4())
        headers: dict[bytes, bytes] = dict(scope["headers"])
        method: str = scope["method"]
        path: str = scope["path"]
        query: bytes = scope.get("query_string", b"")
        record: dict[str, Any] = {"client": "", "service": path[:400]}
        status = 500
        error: str | None = None
        data: dict[str, Any] = {}
        try:
            status, out_headers, body, error = await self._serve(scope, receive, headers, method, path, query,
                                                                 message_id, record, data)
        except ExchangeError as exc:
            error = exc.code
            status, out_headers, body = _problem(exc.code, exc.detail, path, message_id)
        except Exception:
            log.exception("exchange.gateway_failed", path=path, message_id=message_id)
            error = "Server.InternalError"
            status, out_headers, body = _problem(error, ERRORS[error][1], path, message_id)
        if record.get("client"):
            out_headers.append((b"x-road-client", record["client"].encode()))
        await send({"type": "http.response.start", "status": status,
                    "headers": [*out_headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        elapsed = time.perf_counter() - started
        data["response_digest"] = _digest(body)
        if record.get("keep_bodies") and "response_body" not in data:
            data["response_body"] = base64.b64encode(body).decode()
        data["response_headers"] = {k.decode("latin-1"): v.decode("latin-1") for k, v in out_headers
                                    if k.decode("latin-1") not in NOT_LOGGED}
        service_label = record["service"]
        runtime.log.append(Entry(at=utcnow(), message_id=message_id, client=record["client"] or "-",
                                 service=service_label, method=method, path=path + ("?" + query.decode("latin-1")
                                                                                    if query else ""),
                                 status=status, error=error, duration_ms=elapsed * 1000, data=data))
        runtime.metrics.record(service_label, status, error, elapsed)

    async def _serve(self, scope: Scope, receive: Receive, headers: dict[bytes, bytes], method: str, path: str,
                     query: bytes, message_id: str, record: dict[str, Any],
                     data: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes, str | None]:
        runtime = self.runtime
        directory = await runtime.directory()
        caller = await self._authenticate(scope, headers, directory)
        claimed = self._claimed_client(headers)
        client_id = self._check_client(caller, claimed)
        record["client"] = client_id
        data["request_headers"] = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers.items()
                                   if k.decode("latin-1") not in NOT_LOGGED}
        data["authenticated_by"] = caller.via
        if path == "/listClients":
            record["service"] = "listClients"
            return await self._list_clients(directory, query)
        parts = path[4:].split("/", 5)
        if len(parts) < 5 or not all(parts[:5]):
            raise ExchangeError("Client.BadRequest")
        instance, member_class, member_code, subsystem_code, service_code = parts[:5]
        rest = "/" + parts[5] if len(parts) == 6 else ""
        subsystem = f"{instance}/{member_class}/{member_code}/{subsystem_code}"
        if split_identifier(f"{subsystem}/{service_code}", 5) is None:
            raise ExchangeError("Client.BadRequest")
        record["service"] = f"{subsystem}/{service_code}"
        if instance != runtime.instance:
            if caller.via == "peer":
                raise ExchangeError("Server.ClientProxy.UnknownInstance",
                                    "A federated gateway may only call services of this instance.")
            return await self._to_peer(scope, receive, headers, directory, instance, method, path, query,
                                       client_id, message_id, data)
        if service_code in METADATA:
            record["service"] = f"{subsystem}/{service_code}"
            return await self._metadata(directory, client_id, subsystem, service_code, query)
        if subsystem in directory.rooms and service_code in ROOM_AREAS:
            return await self._room(scope, receive, client_id, caller, message_id)
        service = directory.services.get((subsystem, service_code))
        if service is None:
            if subsystem not in directory.subsystems:
                raise ExchangeError("Server.ServerProxy.UnknownMember",
                                    f"There is no subsystem {subsystem}.")
            raise ExchangeError("Server.ServerProxy.UnknownService", f"There is no service {record['service']}.")
        if not service.enabled:
            raise ExchangeError("Server.ServerProxy.ServiceDisabled")
        if not directory.allows(service, client_id, method, rest or "/"):
            raise ExchangeError("Server.ServerProxy.AccessDenied",
                                f"{client_id} may not {method} {rest or '/'} on {service.identifier}.")
        record["keep_bodies"] = service.log_bodies
        return await self._forward(scope, receive, headers, service, method, rest, query, client_id, caller,
                                   message_id, data)

    async def _authenticate(self, scope: Scope, headers: dict[bytes, bytes], directory: Directory) -> Caller:
        runtime = self.runtime
        der = _peer_certificate(scope)
        if der is not None:
            caller = await runtime.caller_by_certificate(der, directory)
            if caller is not None:
                return caller
        key = _api_key(headers)
        if key is not None:
            caller = await runtime.caller_by_key(key)
            if caller is not None:
                return caller
        raise ExchangeError("Server.ClientProxy.AuthenticationFailed")

    @staticmethod
    def _claimed_client(headers: dict[bytes, bytes]) -> str | None:
        for name in CLIENT_HEADERS:
            value = headers.get(name)
            if value is not None:
                return value.decode("latin-1").strip()
        return None

    def _check_client(self, caller: Caller, claimed: str | None) -> str:
        if claimed is not None and split_identifier(claimed, 4) is None:
            raise ExchangeError("Client.InvalidClientIdentifier")
        if caller.via == "peer":
            if claimed is None:
                raise ExchangeError("Client.InvalidClientIdentifier", "A federated gateway must name its client.")
            if claimed.split("/")[0] != caller.peer_instance:
                raise ExchangeError("Server.ClientProxy.ForgedClientIdentifier",
                                    "A federated gateway speaks only for clients of its own instance.")
            return claimed
        if claimed is not None and claimed != caller.identity:
            raise ExchangeError("Server.ClientProxy.ForgedClientIdentifier",
                                f"Authenticated as {caller.identity}, not {claimed}.")
        return caller.identity

    # --- forwarding ------------------------------------------------------------------------------

    def _outgoing_headers(self, headers: dict[bytes, bytes], client_id: str, message_id: str,
                          service_id: str) -> list[tuple[bytes, bytes]]:
        connection_named = {t.strip().lower() for t in headers.get(b"connection", b"").decode("latin-1").split(",")}
        out = [(k, v) for k, v in headers.items()
               if k.decode("latin-1") not in NOT_FORWARDED and k.decode("latin-1") not in connection_named]
        out.append((b"x-road-client", client_id.encode()))
        out.append((b"x-road-id", message_id.encode()))
        out.append((b"x-road-service", service_id.encode()))
        return out

    @staticmethod
    def _request_hash(method: str, target: str, client_id: str, message_id: str, body: bytes) -> str:
        digest = hashlib.sha512()
        for part in (method, target, client_id, message_id):
            digest.update(part.encode() + b"\n")
        digest.update(body)
        return base64.b64encode(digest.digest()).decode()

    async def _forward(self, scope: Scope, receive: Receive, headers: dict[bytes, bytes], service: ServiceEntry,
                       method: str, rest: str, query: bytes, client_id: str, caller: Caller, message_id: str,
                       data: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes, str | None]:
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > service.max_body_bytes:
            raise ExchangeError("Client.RequestTooLarge")
        body = await _read_body(receive, service.max_body_bytes)
        if body is None:
            raise ExchangeError("Client.RequestTooLarge")
        target = rest + ("?" + query.decode("latin-1") if query else "")
        request_hash = self._request_hash(method, target, client_id, message_id, body)
        data["request_digest"] = _digest(body)
        data["request_hash"] = request_hash
        if service.log_bodies:
            data["request_body"] = base64.b64encode(body).decode()
        out_headers = self._outgoing_headers(headers, client_id, message_id, service.identifier)
        if service.base_url.startswith(directory_service.INTERNAL_SCHEME):
            status, answer_headers, answer = await self._internal(scope, service, method, rest, query, out_headers,
                                                                  headers, body, caller, client_id)
        else:
            status, answer_headers, answer = await self._http(service.base_url, rest, method, query, out_headers,
                                                              body, service.timeout_seconds, service.max_body_bytes)
        back = _returned(answer_headers)
        back += [(b"x-road-id", message_id.encode()), (b"x-road-service", service.identifier.encode()),
                 (b"x-road-request-hash", request_hash.encode())]
        for name in (b"x-road-userid", b"x-road-issue"):
            if name in headers:
                back.append((name, headers[name]))
        return status, back, answer, None

    async def _http(self, base_url: str, rest: str, method: str, query: bytes,
                    out_headers: list[tuple[bytes, bytes]], body: bytes, timeout: float,
                    limit: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        origin = self.runtime.plain_origin(base_url)
        base_url_path = origin[2] if origin is not None else ""
        target = base_url_path + quote(rest, safe=SAFE_PATH)
        if query:
            target += "?" + query.decode("latin-1")
        try:
            async with asyncio.timeout(timeout):
                if origin is not None:
                    status, headers, answer = await self.runtime.transport.call(
                        method.encode(), origin[0], origin[1], (target if target.startswith("/") else "/" + target
                                                                ).encode("latin-1"),
                        out_headers, body, connect_timeout=timeout, read_timeout=None, limit=limit)
                else:
                    status, headers, answer = await self._https(base_url + target[len(base_url_path):], method,
                                                                out_headers, body, timeout, limit)
        except TimeoutError as exc:
            raise ExchangeError("Server.ServerProxy.ServiceTimeout") from exc
        except httpx.TimeoutException as exc:
            raise ExchangeError("Server.ServerProxy.ServiceTimeout") from exc
        except ResponseTooLarge as exc:
            raise ExchangeError("Server.ServerProxy.ServiceFailed",
                                "The provider's answer is larger than the service allows.") from exc
        except httpx.HTTPError as exc:
            raise ExchangeError("Server.ServerProxy.ServiceFailed",
                                "The provider could not be reached or answered garbage "
                                f"({type(exc).__name__}).") from exc
        if status in REDIRECTS and any(k.lower() == b"location" for k, _v in headers):
            raise ExchangeError("Server.ServerProxy.ServiceFailed",
                                "The provider answered with a redirect; the gateway follows none.")
        return status, headers, answer

    async def _https(self, url: str, method: str, out_headers: list[tuple[bytes, bytes]], body: bytes,
                     timeout: float, limit: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """A provider on https: through httpx (its TLS), streaming so the size limit holds."""
        client = self.runtime.client
        request = client.build_request(method, url, headers=out_headers, content=body,
                                       timeout=httpx.Timeout(timeout), extensions={"max_body": limit})
        response = await client.send(request, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            if not response.is_redirect:
                async for chunk in response.aiter_raw():
                    size += len(chunk)
                    if size > limit:
                        raise ResponseTooLarge("the answer is larger than allowed")
                    chunks.append(chunk)
        finally:
            await response.aclose()
        return response.status_code, list(response.headers.raw), b"".join(chunks)

    async def _inner_call(self, scope: Scope, path: str, query: bytes, method: str,
                          headers: list[tuple[bytes, bytes]], body: bytes,
                          state: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Call the rest of the app in process (Nokor's own services, pub/sub rooms)."""
        assert self.runtime.inner is not None
        inner_scope = {**scope, "path": path, "raw_path": path.encode(), "query_string": query, "method": method,
                       "headers": headers, "state": state, "root_path": ""}
        answer: dict[str, Any] = {"status": 500, "headers": [], "body": []}

        async def inner_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                answer["body"].append(message.get("body", b""))

        await self.runtime.inner(inner_scope, replay_body(body), inner_send)
        return answer["status"], answer["headers"], b"".join(answer["body"])

    async def _internal(self, scope: Scope, service: ServiceEntry, method: str, rest: str, query: bytes,
                        out_headers: list[tuple[bytes, bytes]], headers: dict[bytes, bytes], body: bytes,
                        caller: Caller, client_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        prefix = service.base_url[len(directory_service.INTERNAL_SCHEME):].rstrip("/")
        forwarded = [*out_headers, (b"information-mediator-client", client_id.encode())]
        state: dict[str, Any] = {"exchange_client": client_id}
        if caller.actor is not None:
            state["actor"] = caller.actor
        elif b"authorization" in headers:
            forwarded.append((b"authorization", headers[b"authorization"]))
        try:
            async with asyncio.timeout(service.timeout_seconds):
                return await self._inner_call(scope, prefix + rest, query, method, forwarded, body, state)
        except TimeoutError as exc:
            raise ExchangeError("Server.ServerProxy.ServiceTimeout") from exc

    async def _room(self, scope: Scope, receive: Receive, client_id: str, caller: Caller,
                    message_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes, str | None]:
        body = await _read_body(receive, self.runtime.settings.exchange_max_body_bytes)
        if body is None:
            raise ExchangeError("Client.RequestTooLarge")
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"authorization", b"cookie")]
        state: dict[str, Any] = {"exchange_client": client_id, "exchange_via": caller.via}
        status, answer_headers, answer = await self._inner_call(scope, scope["path"], scope.get("query_string", b""),
                                                                scope["method"], headers, body, state)
        back = _returned(answer_headers)
        back.append((b"x-road-id", message_id.encode()))
        return status, back, answer, None

    async def _to_peer(self, scope: Scope, receive: Receive, headers: dict[bytes, bytes], directory: Directory,
                       instance: str, method: str, path: str, query: bytes, client_id: str, message_id: str,
                       data: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes, str | None]:
        peer = directory.peers.get(instance)
        if peer is None:
            raise ExchangeError("Server.ClientProxy.UnknownInstance", f"This exchange does not trust {instance}.")
        body = await _read_body(receive, self.runtime.settings.exchange_max_body_bytes)
        if body is None:
            raise ExchangeError("Client.RequestTooLarge")
        data["request_digest"] = _digest(body)
        out = [(k, v) for k, v in headers.items() if k.decode("latin-1") not in NOT_FORWARDED]
        out += [(b"x-road-client", client_id.encode()), (b"x-road-id", message_id.encode())]
        client = self.runtime.peer_client(directory, instance)
        url = peer.gateway_url + quote(path, safe=SAFE_PATH) + ("?" + query.decode("latin-1") if query else "")
        timeout = self.runtime.settings.exchange_timeout_seconds
        try:
            async with asyncio.timeout(timeout + 1):
                response = await client.request(method, url, headers=out, content=body)
        except TimeoutError as exc:
            raise ExchangeError("Server.ServerProxy.ServiceTimeout") from exc
        except httpx.HTTPError as exc:
            raise ExchangeError("Server.ClientProxy.NetworkError",
                                f"{instance}'s gateway could not be reached ({type(exc).__name__}).") from exc
        if peer.gateway_url.startswith("https://") and not _is_peer(response, peer.server_identity):
            raise ExchangeError("Server.ClientProxy.NetworkError",
                                f"The gateway answering for {instance} is not {peer.server_identity}.")
        back = _returned(list(response.headers.raw))
        if not any(k.lower() == b"x-road-id" for k, _v in back):
            back.append((b"x-road-id", message_id.encode()))
        error = response.headers.get("x-road-error")
        return response.status_code, back, response.content, error

    # --- metadata services -------------------------------------------------------------------

    async def _list_clients(self, directory: Directory,
                            query: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes, str | None]:
        wanted = None
        for pair in query.decode("latin-1").split("&"):
            if pair.startswith("instanceId="):
                wanted = pair[len("instanceId="):]
        members: list[dict[str, Any]] = []
        seen: set[str] = set()
        for identifier, name in sorted(directory.subsystems.items()):
            instance, member_class, member_code, code = identifier.split("/")
            if wanted and instance != wanted:
                continue
            member_key = f"{instance}/{member_class}/{member_code}"
            if member_key not in seen:
                seen.add(member_key)
                members.append({"name": member_code, "id": {"objectType": "MEMBER", "instanceId": instance,
                                                            "memberClass": member_class, "memberCode": member_code}})
            members.append({"name": name, "id": {"objectType": "APPLICATION", "instanceId": instance,
                                                 "memberClass": member_class, "memberCode": member_code,
                                                 "applicationCode": code}})
        return 200, [(b"content-type", b"application/json")], json.dumps({"member": members}).encode(), None

    async def _metadata(self, directory: Directory, client_id: str, subsystem: str, operation: str,
                        query: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes, str | None]:
        if subsystem not in directory.subsystems:
            raise ExchangeError("Server.ServerProxy.UnknownMember", f"There is no subsystem {subsystem}.")
        params = dict(p.split("=", 1) for p in query.decode("latin-1").split("&") if "=" in p)
        services = sorted((s for (sub, _c), s in directory.services.items() if sub == subsystem),
                          key=lambda s: s.code)
        if operation == "getOpenAPI":
            code = params.get("serviceCode")
            if not code:
                raise ExchangeError("Client.BadRequest", "getOpenAPI needs ?serviceCode=")
            if (subsystem, code) not in directory.services:
                raise ExchangeError("Server.ServerProxy.UnknownService", f"There is no service {subsystem}/{code}.")

            def read() -> dict[str, Any]:
                with session_scope(self.runtime.session_factory) as session:
                    return directory_service.openapi_of(session, f"{subsystem}/{code}")

            document = await anyio.to_thread.run_sync(read)
            return 200, [(b"content-type", b"application/json")], json.dumps(document).encode(), None
        wanted = params.get("serviceId")
        instance, member_class, member_code, code = subsystem.split("/")
        items: list[dict[str, Any]] = []
        for service in services:
            if wanted and service.code != wanted:
                continue
            endpoints = list(service.endpoints) or [("*", "*")]
            if operation == "allowedMethods":
                endpoints = [(m, p) for m, p in endpoints if any(
                    (r.subject == client_id or (r.subject.startswith("group:") and client_id in
                                                directory.groups.get(r.subject[6:], frozenset())))
                    and (r.method in ("*", m) or m == "*") and (r.pattern is None or p == "*" or r.pattern.match(
                        p.replace("*", "x")) is not None)
                    for r in service.rules)]
                if not endpoints:
                    continue
            items.append({"objectType": "SERVICE", "serviceType": "OPENAPI", "instanceId": instance,
                          "memberClass": member_class, "memberCode": member_code, "applicationCode": code,
                          "serviceCode": service.code, "serviceVersion": service.version,
                          "endpointList": {"member": [{"method": m, "path": p} for m, p in endpoints]}})
        return 200, [(b"content-type", b"application/json")], json.dumps({"member": items}).encode(), None
