"""A per-address limit on the public, anonymous trust endpoints (verification uploads, timestamps).

Kept in process memory: each app node limits on its own, which is enough to stop one address from
keeping a node busy with PDF parsing; the body-size limit of the platform bounds each request.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from nokor.kit.errors import TooManyRequests
from nokor.kit.i18n import gettext as _


class RateLimiter:
    """At most ``per_minute`` calls from one address in any sliding minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._calls) > 50_000:
                self._calls.clear()
            calls = self._calls.setdefault(address, deque())
            while calls and now - calls[0] > 60:
                calls.popleft()
            if len(calls) >= self.per_minute:
                raise TooManyRequests(_("Too many requests from your address. Please wait a minute."),
                                      headers={"Retry-After": "60"})
            calls.append(now)
