"""Values that belong to the request (or job) being handled: request id, client address, locale."""

from __future__ import annotations

import contextvars

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("nokor_request_id", default=None)
client_ip_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("nokor_client_ip", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def current_client_ip() -> str | None:
    return client_ip_var.get()
