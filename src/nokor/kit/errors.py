"""RFC 9457 problem details: the one shape every error of the API takes.

Services raise these exceptions; the app turns them into ``application/problem+json`` answers (and
into translated error pages for people). ``type`` is a stable URI per kind of problem.
"""

from __future__ import annotations

from typing import Any

from nokor.kit.i18n import LazyString
from nokor.kit.i18n import lazy_gettext as _l

PROBLEM_BASE = "https://nokor.gov/problems/"


class Problem(Exception):
    """An error with an HTTP status and a stable problem type."""

    status: int = 400
    slug: str = "bad-request"
    default_title: LazyString = _l("The request could not be handled.")

    def __init__(
        self,
        detail: str | None = None,
        *,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or str(self.default_title))
        self.detail = detail
        self._title = title
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug

    @property
    def title(self) -> str:
        return self._title or str(self.default_title)

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type_uri, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body


class BadRequest(Problem):
    status = 400
    slug = "bad-request"
    default_title = _l("The request could not be handled.")


class Unauthorized(Problem):
    status = 401
    slug = "unauthorized"
    default_title = _l("You need to sign in or present a valid API key.")


class Forbidden(Problem):
    status = 403
    slug = "forbidden"
    default_title = _l("You do not have permission to do this.")


class NotFound(Problem):
    status = 404
    slug = "not-found"
    default_title = _l("The page or record was not found.")


class Conflict(Problem):
    status = 409
    slug = "conflict"
    default_title = _l("This conflicts with the current state of the record.")


class PayloadTooLarge(Problem):
    status = 413
    slug = "payload-too-large"
    default_title = _l("The request body is too large.")


class ValidationFailed(Problem):
    status = 422
    slug = "validation-error"
    default_title = _l("Some fields are missing or not valid.")


class TooManyRequests(Problem):
    status = 429
    slug = "too-many-requests"
    default_title = _l("Too many attempts. Please wait and try again.")


class ServerError(Problem):
    status = 500
    slug = "server-error"
    default_title = _l("Something went wrong on our side. The error has been logged.")


def field_error(loc: list[str | int] | tuple[str | int, ...], message: str, code: str) -> dict[str, Any]:
    """One entry of the ``errors`` list: where, what and a stable code."""
    pointer = "/" + "/".join(str(p) for p in loc)
    return {"pointer": pointer, "detail": message, "code": code}


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}, "code": {"type": "string"}},
            },
        },
    },
}
_DESCRIPTIONS = {400: "Bad request", 401: "Not authenticated", 403: "Not permitted", 404: "Not found",
                 409: "Conflicts with the record's state", 413: "Body too large", 422: "Invalid input",
                 429: "Too many requests"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries saying that these statuses answer with problem+json."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Problem"),
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }
