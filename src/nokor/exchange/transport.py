"""A lean HTTP/1.1 keep-alive transport for the gateway's shared ``httpx.AsyncClient``.

httpcore's connection pool re-examines every pooled connection (a ``poll()`` each) for every request,
which at a few dozen concurrent calls costs more than the rest of the gateway together. This
transport keeps, per origin, a stack of idle connections (the most recently used first), parses
answers with httptools (the C parser uvicorn uses), stops reading an answer larger than the limit the
caller set, and raises httpx's own exceptions, so the gateway's error handling stays httpx's.
The gateway calls :meth:`GatewayTransport.call` directly (no ``httpx.Request`` or ``Response`` to
build, no cookie jar to update: a fifth of a forwarded call's cost); as an httpx transport it serves
the same connections. Plain http only: https origins (federated gateways) go to httpx's default
transport.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httptools
import httpx

READ_SIZE = 65_536


class ResponseTooLarge(httpx.RequestError):
    """The provider's answer is larger than the caller accepts."""


class _Connection:
    __slots__ = ("last_used", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.last_used = time.monotonic()

    def usable(self, expiry: float) -> bool:
        return (not self.writer.is_closing() and not self.reader.at_eof()
                and time.monotonic() - self.last_used < expiry)

    def close(self) -> None:
        self.writer.close()


class _Answer:
    """httptools callbacks collecting one response."""

    __slots__ = ("body", "complete", "headers", "keep_alive", "limit", "parser", "size", "too_large")

    def __init__(self, limit: int) -> None:
        self.parser: httptools.HttpResponseParser | None = None
        self.keep_alive = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False
        self.limit = limit
        self.size = 0
        self.too_large = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.limit:
            self.too_large = True
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        # Only valid now: once the answer is complete the parser forgets whether it was keep-alive,
        # and asking afterwards opened a new connection to the provider for every call.
        if self.parser is not None:
            self.keep_alive = bool(self.parser.should_keep_alive())


class GatewayTransport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 to providers, idle connections reused most-recent first."""

    def __init__(self, *, max_idle_per_origin: int = 256, keepalive_expiry: float = 30.0) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._max_idle = max_idle_per_origin
        self._expiry = keepalive_expiry
        self._tls = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            return await self._tls.handle_async_request(request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        status, headers, body = await self.call(
            request.method.encode(), request.url.host, request.url.port or 80, request.url.raw_path,
            request.headers.raw, await request.aread(), connect_timeout=timeouts.get("connect") or 10.0,
            read_timeout=timeouts.get("read") or 60.0, limit=int(request.extensions.get("max_body", 1 << 62)))
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body),
                              extensions={"http_version": b"HTTP/1.1"})

    async def call(self, method: bytes, host: str, port: int, target: bytes, headers: list[tuple[bytes, bytes]],
                   body: bytes, *, connect_timeout: float, read_timeout: float | None,
                   limit: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """One HTTP/1.1 exchange with ``host:port``: (status, headers, body). ``read_timeout`` None when
        the caller bounds the whole call itself. Raises httpx's exceptions (and :class:`ResponseTooLarge`)."""
        origin = (host, port)
        payload = self._serialise(method, target, headers, body, host, port)
        for reused in (True, False):
            connection = self._take(origin) if reused else None
            if reused and connection is None:
                continue
            if connection is None:
                connection = await self._open(origin, connect_timeout)
            try:
                return await self._exchange(connection, origin, payload, read_timeout, limit)
            except _StaleConnection:
                connection.close()
                continue
        raise httpx.RemoteProtocolError("the provider closed the connection")

    def _take(self, origin: tuple[str, int]) -> _Connection | None:
        stack = self._idle.get(origin)
        while stack:
            connection = stack.pop()
            if connection.usable(self._expiry):
                return connection
            connection.close()
        return None

    async def _open(self, origin: tuple[str, int], timeout: float) -> _Connection:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(origin[0], origin[1], limit=READ_SIZE * 4)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {origin[0]}:{origin[1]} took too long") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"{origin[0]}:{origin[1]}: {exc}") from exc
        return _Connection(reader, writer)

    @staticmethod
    def _serialise(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes, host: str,
                   port: int) -> bytes:
        lines = [method + b" " + target + b" HTTP/1.1"]
        has_host = False
        for name, value in headers:
            lowered = name.lower()
            if lowered in (b"content-length", b"transfer-encoding", b"connection"):
                continue
            has_host = has_host or lowered == b"host"
            lines.append(name + b": " + value)
        if not has_host:
            lines.append(b"host: " + (host if port == 80 else f"{host}:{port}").encode("idna"))
        if body or method not in (b"GET", b"HEAD", b"DELETE", b"OPTIONS"):
            lines.append(b"content-length: " + str(len(body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def _exchange(self, connection: _Connection, origin: tuple[str, int], payload: bytes,
                        read_timeout: float | None, limit: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        answer = _Answer(limit)
        parser = httptools.HttpResponseParser(answer)
        answer.parser = parser
        received = False
        try:
            connection.writer.write(payload)
            async with asyncio.timeout(read_timeout):
                while not answer.complete:
                    data = await connection.reader.read(READ_SIZE)
                    if not data:
                        if not received:
                            raise _StaleConnection
                        # An answer without a length ends with the connection.
                        parser.feed_data(b"")
                        if not answer.complete:
                            raise httpx.RemoteProtocolError("the provider closed the connection mid-answer")
                        break
                    received = True
                    parser.feed_data(data)
                    if answer.too_large:
                        connection.close()
                        raise ResponseTooLarge("the answer is larger than allowed")
        except TimeoutError as exc:
            connection.close()
            raise httpx.ReadTimeout("the provider did not answer in time") from exc
        except httptools.HttpParserUpgrade as exc:
            connection.close()
            raise httpx.RemoteProtocolError("the provider switched protocols") from exc
        except httptools.HttpParserError as exc:
            connection.close()
            if not received:
                raise _StaleConnection from exc
            raise httpx.RemoteProtocolError(f"the provider's answer is not HTTP ({exc})") from exc
        except (ConnectionError, OSError) as exc:
            connection.close()
            if not received:
                raise _StaleConnection from exc
            raise httpx.ReadError(str(exc)) from exc
        answer.parser = None  # no reference cycle between the parser and its callbacks
        if answer.keep_alive and len(stack := self._idle.setdefault(origin, [])) < self._max_idle:
            connection.last_used = time.monotonic()
            stack.append(connection)
        else:
            connection.close()
        return parser.get_status_code(), answer.headers, b"".join(answer.body)

    async def aclose(self) -> None:
        for stack in self._idle.values():
            for connection in stack:
                connection.close()
        self._idle.clear()
        await self._tls.aclose()


class _StaleConnection(Exception):
    """A kept-alive connection the provider had closed before we used it; try a fresh one."""


def transport_options() -> dict[str, Any]:
    """What the gateway's client is built with."""
    return {"transport": GatewayTransport()}
