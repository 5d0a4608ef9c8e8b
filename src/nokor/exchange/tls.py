"""Mutual TLS for ``nokor serve --tls``: uvicorn's HTTP protocol, telling the app which client
certificate the connection presented (the ASGI TLS extension's ``client_cert_chain``), and learning the
roots of instances trusted after the server started (``nokor exchange trust``) without a restart."""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class MutualTlsProtocol(HttpToolsProtocol):
    """Adds ``scope["extensions"]["tls"]`` with the peer's certificate (PEM) to every request."""

    _tls: dict[str, Any] | None = None

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        # Made for each accepted connection before its TLS handshake, so a root added now already
        # counts for this connection.
        learn_new_roots(getattr(config, "ssl", None), getattr(config, "ssl_ca_certs", None))

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


_seen: dict[str, int] = {}
_seen_lock = threading.Lock()


def learn_new_roots(context: ssl.SSLContext | None, path: str | None) -> bool:
    """Add the roots in ``path`` to the server's TLS context when the file changed since last looked at
    (one ``stat`` per new connection). A root only ever gets added here: an instance no longer trusted
    is refused by the gateway, which checks every federated caller against its directory's peers."""
    if context is None or not path:
        return False
    try:
        changed = os.stat(path).st_mtime_ns
    except OSError:
        return False
    with _seen_lock:
        if _seen.get(path) == changed:
            return False
        _seen[path] = changed
    try:
        context.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError):
        return False
    return True
