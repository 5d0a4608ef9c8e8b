"""Fixtures of the exchange tests: real HTTP servers (providers, and Nokor itself) on loopback ports,
the trust hierarchy that seals the message log, and typed factories for the directory."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from nokor import exchange, trust
from nokor.kit.actor import Actor

SYSTEM = Actor.system("tests")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """An ASGI app served by uvicorn on a loopback port in a thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


async def _person(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["pid"], "name": "Sok Dara",
                         "seen_headers": {k: v for k, v in request.headers.items()},
                         "client_port": request.client.port if request.client else None})


async def _echo(request: Request) -> Response:
    body = await request.body()
    return Response(body, media_type=request.headers.get("content-type", "application/octet-stream"),
                    headers={"X-Provider": "yes", "Connection": "keep-alive, X-Secret", "X-Secret": "hop"})


async def _slow(request: Request) -> Response:
    await asyncio.sleep(5)
    return JSONResponse({"late": True})


async def _redirect(request: Request) -> Response:
    return RedirectResponse("http://127.0.0.1:9/elsewhere", status_code=302)


async def _big(request: Request) -> Response:
    return Response(b"x" * 300_000, media_type="text/plain")


provider_app = Starlette(routes=[
    Route("/persons/{pid}", _person), Route("/echo", _echo, methods=["POST", "PUT"]), Route("/slow", _slow),
    Route("/redirect", _redirect), Route("/big", _big),
])


class GarbageServer:
    """A TCP server that answers every connection with bytes that are not HTTP."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            try:
                conn.recv(65536)
                conn.sendall(b"\x00\x01 this is not HTTP at all\r\n\r\n")
            finally:
                conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def provider() -> Iterator[ServerThread]:
    server = ServerThread(provider_app).start()
    yield server
    server.stop()


@pytest.fixture
def pki(db, settings) -> trust.HierarchyRead:  # type: ignore[no-untyped-def]
    made = trust.init_hierarchy(db, SYSTEM, ring=trust.key_ring(settings))
    db.commit()
    return made


@pytest.fixture
def nokor_server(app, pki) -> Iterator[ServerThread]:  # type: ignore[no-untyped-def]
    """The Nokor app (gateway included) served over real HTTP."""
    server = ServerThread(app).start()
    yield server
    server.stop()


def publish(db, provider_url: str, *, service: str = "KH/GOV/MOI/population/persons", log_bodies: bool = False,
            timeout: float = 30.0, max_body: int = 4_194_304, endpoints: list[dict[str, str]] | None = None
            ) -> exchange.ServiceRead:  # type: ignore[no-untyped-def]
    subsystem, _sep, code = service.rpartition("/")
    exchange.ensure_subsystem(db, SYSTEM, identifier=subsystem, name="Population register")
    made = exchange.publish_service(db, SYSTEM, data=exchange.ServiceCreate(
        subsystem=subsystem, code=code, title="Persons", base_url=provider_url, log_bodies=log_bodies,
        timeout_seconds=timeout, max_body_bytes=max_body,
        endpoints=endpoints or [{"method": "GET", "path": "/persons/*"}, {"method": "POST", "path": "/echo"}]))
    db.commit()
    return made


def grant(db, service: str, subject: str, method: str = "*", path: str = "*") -> None:  # type: ignore[no-untyped-def]
    exchange.grant_access(db, SYSTEM, data=exchange.AccessRightCreate(service=service, subject=subject, method=method,
                                                                      path=path))
    db.commit()


def problem_code(response: Any) -> str:
    body = json.loads(response.content)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-road-error"] == body["code"]
    return str(body["code"])
