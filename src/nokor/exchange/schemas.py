"""What the data exchange reads and writes: members, subsystems, services, access rights, peers, the
message log, and the publish/subscribe shapes of the GovStack Information Mediator."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

CODE_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=CODE_RE)]
METHODS = ("*", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_SEGMENT = re.compile(CODE_RE)


def split_identifier(text: str, parts: int) -> list[str] | None:
    """The segments of ``INSTANCE/CLASS/MEMBER[/SUBSYSTEM[/SERVICE]]``, or None when malformed."""
    pieces = text.strip().split("/")
    if len(pieces) != parts or not all(_SEGMENT.match(p) for p in pieces):
        return None
    return pieces


class MemberCreate(BaseModel):
    """A new member: an organisation of this instance (or of a federated one)."""

    instance: Code | None = None
    member_class: Code
    member_code: Code
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance: str
    member_class: str
    member_code: str
    name: str
    created_at: datetime

    @property
    def identifier(self) -> str:
        return f"{self.instance}/{self.member_class}/{self.member_code}"


class SubsystemCreate(BaseModel):
    """A new subsystem of a member, or a publish/subscribe room (``is_room``)."""

    member: str = Field(description="INSTANCE/CLASS/MEMBER")
    code: Code
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    is_room: bool = False
    publishers: list[str] = Field(default_factory=list, description="Subsystems allowed to publish in a room")

    @field_validator("member")
    @classmethod
    def _member(cls, value: str) -> str:
        if split_identifier(value, 3) is None:
            raise ValueError("must be INSTANCE/CLASS/MEMBER")
        return value.strip()

    @field_validator("publishers")
    @classmethod
    def _publishers(cls, value: list[str]) -> list[str]:
        for item in value:
            if split_identifier(item, 4) is None:
                raise ValueError("each publisher must be INSTANCE/CLASS/MEMBER/SUBSYSTEM")
        return [v.strip() for v in value]


class SubsystemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    member_id: uuid.UUID
    code: str
    identifier: str
    name: str
    is_room: bool
    publishers: list[str]
    created_at: datetime


class Endpoint(BaseModel):
    """One endpoint of a service: a method and a path pattern (``*`` matches one path segment or more)."""

    method: str = "*"
    path: str = "*"

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in METHODS:
            raise ValueError("must be one of " + ", ".join(METHODS))
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        value = value.strip()
        if value != "*" and not value.startswith("/"):
            raise ValueError("must start with / (or be * for every path)")
        if len(value) > 500 or any(c in value for c in " ?#"):
            raise ValueError("must be a path without spaces, query or fragment")
        return value


class ServiceCreate(BaseModel):
    """A REST service a subsystem publishes through the gateway."""

    subsystem: str = Field(description="INSTANCE/CLASS/MEMBER/SUBSYSTEM of the provider")
    code: Code
    version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] = "v1"
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    base_url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
    openapi: dict[str, Any] | None = None
    endpoints: list[Endpoint] = Field(default_factory=list)
    log_bodies: bool = False
    timeout_seconds: float = Field(30.0, gt=0, le=300)
    max_body_bytes: int = Field(4_194_304, gt=0, le=104_857_600)

    @field_validator("subsystem")
    @classmethod
    def _subsystem(cls, value: str) -> str:
        if split_identifier(value, 4) is None:
            raise ValueError("must be INSTANCE/CLASS/MEMBER/SUBSYSTEM")
        return value.strip()

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not (value.startswith(("http://", "https://")) or value.startswith("nokor:/")):
            raise ValueError("must be an http:// or https:// address (or nokor:/path for a Nokor service)")
        return value.rstrip("/")


class ServiceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subsystem_id: uuid.UUID
    subsystem: str = ""
    code: str
    version: str
    title: str
    base_url: str
    openapi: dict[str, Any] | None
    endpoints: list[dict[str, str]]
    log_bodies: bool
    timeout_seconds: float
    max_body_bytes: int
    enabled: bool
    created_at: datetime

    @property
    def identifier(self) -> str:
        return f"{self.subsystem}/{self.code}"


class AccessRightCreate(BaseModel):
    """Allow a subsystem (or ``group:CODE``) to call a service, on all of it or on one endpoint."""

    service: str = Field(description="INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE")
    subject: str = Field(description="INSTANCE/CLASS/MEMBER/SUBSYSTEM, or group:CODE")
    method: str = "*"
    path: str = "*"

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        if split_identifier(value, 5) is None:
            raise ValueError("must be INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE")
        return value.strip()

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("group:"):
            if not _SEGMENT.match(value[6:]):
                raise ValueError("a group is group:CODE")
            return value
        if split_identifier(value, 4) is None:
            raise ValueError("must be INSTANCE/CLASS/MEMBER/SUBSYSTEM or group:CODE")
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        return Endpoint._method(value)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return Endpoint._path(value)


class AccessRightRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    service_id: uuid.UUID
    service: str = ""
    subject: str
    method: str
    path: str
    granted_by: str
    created_at: datetime


class GroupCreate(BaseModel):
    code: Code
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    members: list[str] = Field(default_factory=list)

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        for item in value:
            if split_identifier(item, 4) is None:
                raise ValueError("each member must be INSTANCE/CLASS/MEMBER/SUBSYSTEM")
        return [v.strip() for v in value]


class GroupRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    members: list[str]


class PeerCreate(BaseModel):
    """A federated instance: its code, its gateway's address, its gateway's identifier and its root CA."""

    instance: Code
    gateway_url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
    server_identity: str
    root_pem: str

    @field_validator("gateway_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address")
        return value.rstrip("/")

    @field_validator("server_identity")
    @classmethod
    def _identity(cls, value: str) -> str:
        if split_identifier(value, 4) is None:
            raise ValueError("must be INSTANCE/CLASS/MEMBER/SUBSYSTEM")
        return value.strip()


class PeerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    instance: str
    gateway_url: str
    server_identity: str
    root_pem: str
    created_at: datetime


class ServiceStats(BaseModel):
    """Operational figures of one service over a period: calls, errors and latencies."""

    service: str
    calls: int
    errors: int
    mean_ms: float
    p95_ms: float
    max_ms: float


class LogRecordRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    stream: str
    seq: int
    at: datetime
    message_id: str
    client: str
    service: str
    method: str
    path: str
    status: int
    error: str | None
    duration_ms: float
    batch_id: uuid.UUID | None


class ArchiveReport(BaseModel):
    """What ``verify-archive`` found: how many records and batches hold, and every problem by record."""

    path: str
    records: int
    batches: int
    timestamps: int
    problems: list[str]

    @property
    def holds(self) -> bool:
        return not self.problems


# --- publish/subscribe (GovStack IM PubSub) ----------------------------------------------------


class EventTypeCreate(BaseModel):
    eventType: Code
    schema_: dict[str, Any] = Field(alias="schema")

    model_config = ConfigDict(populate_by_name=True)


class EventTypeVersion(BaseModel):
    """The next schema version of an event type."""

    schema_: dict[str, Any] = Field(alias="schema")

    model_config = ConfigDict(populate_by_name=True)


class EventTypeRead(BaseModel):
    eventType: str
    version: int
    schema_: dict[str, Any] = Field(serialization_alias="schema")
    versions: list[int] = Field(default_factory=list)


class PublishEvent(BaseModel):
    eventType: str | None = None
    event: dict[str, Any]
    version: int | None = None


class SubscriptionOptions(BaseModel):
    TTL: int = Field(3600, ge=1, le=30 * 24 * 3600)
    FIFO: bool = False
    maxAttempts: int = Field(8, ge=1, le=50)
    backoffSeconds: float = Field(2.0, ge=0.05, le=3600)
    timeoutSeconds: float = Field(10.0, gt=0, le=120)


class SubscriptionCreate(BaseModel):
    eventType: str | None = None
    delivery: Literal["PUSH", "PULL"] = "PUSH"
    url: str | None = Field(None, description="Where PUSH deliveries are POSTed")
    options: SubscriptionOptions = Field(default_factory=SubscriptionOptions)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address")
        return value


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    room: str = ""
    event_type: str
    subscriber: str
    delivery: str
    push_url: str | None
    options: dict[str, Any]
    status: str
    decided_by: str | None
    created_at: datetime

    def govstack(self) -> dict[str, Any]:
        """The GovStack ``SubscriptionItem`` shape."""
        parts = self.subscriber.split("/")
        return {"id": str(self.id), "eventType": self.event_type, "delivery": self.delivery,
                "options": self.options, "status": self.status, "url": self.push_url,
                "subscriberId": dict(zip(("instanceId", "memberClass", "memberCode", "applicationCode"), parts,
                                         strict=False))}


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    room: str = ""
    event_type: str
    version: int
    sequence: int
    publisher: str
    payload: dict[str, Any]
    status: str
    created_at: datetime

    def govstack(self) -> dict[str, Any]:
        """The GovStack ``EventItem`` shape."""
        parts = self.publisher.split("/")
        return {"id": str(self.id), "sequence": self.sequence, "eventType": self.event_type,
                "version": self.version, "event": self.payload, "status": self.status,
                "publishedAt": self.created_at.isoformat(),
                "publisherId": dict(zip(("instanceId", "memberClass", "memberCode", "applicationCode"), parts,
                                        strict=False))}
