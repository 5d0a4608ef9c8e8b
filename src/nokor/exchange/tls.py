"""Mutual TLS for ``nokor serve --tls``: uvicorn's HTTP protocol, telling the app which client
certificate the connection presented (the ASGI TLS extension's ``client_cert_chain``)."""

from __future__ import annotations

import ssl
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class MutualTlsProtocol(HttpToolsProtocol):
    """Adds ``scope["extensions"]["tls"]`` with the peer's certificate (PEM) to every request."""

    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        chain: list[str] = []
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            if der:
                chain.append(ssl.DER_cert_to_PEM_cert(der))
        self._tls = {"client_cert_chain": chain, "server_cert": None, "tls_version": None, "cipher_suite": None}

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {"tls": self._tls}  # type: ignore[dict-item]
