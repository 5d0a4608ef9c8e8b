"""Tables of the data exchange: members, subsystems, services, access rights, federated instances,
the signed message log, and the publish/subscribe rooms, event types, events and subscriptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nokor.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Member(Base):
    """An organisation taking part in the exchange, named ``INSTANCE/CLASS/CODE`` (e.g. ``KH/GOV/MOI``)."""

    __tablename__ = "exchange_member"
    __table_args__ = (UniqueConstraint("instance", "member_class", "member_code"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    instance: Mapped[str] = mapped_column(String(64))
    member_class: Mapped[str] = mapped_column(String(32))
    member_code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subsystem(Base):
    """An information system of a member (``INSTANCE/CLASS/MEMBER/SUBSYSTEM``), or a publish/subscribe room.

    Its identifier is the same string an API client of the accounts domain carries as its identity, so
    an agency system's key authenticates it as this subsystem.
    """

    __tablename__ = "exchange_subsystem"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_member.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(300), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    is_room: Mapped[bool] = mapped_column(Boolean, default=False)
    publishers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Group(Base):
    """A named set of subsystems that access rights can be granted to at once."""

    __tablename__ = "exchange_group"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    members: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Service(Base):
    """A REST service a subsystem publishes: where the provider listens, its OpenAPI description and
    endpoints, and its own limits (time-out, body size, whether bodies are kept in the message log)."""

    __tablename__ = "exchange_service"
    __table_args__ = (UniqueConstraint("subsystem_id", "code"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subsystem_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_subsystem.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32), default="v1")
    title: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(2000))
    openapi: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    endpoints: Mapped[list[dict[str, str]]] = mapped_column(JSONType, default=list)
    log_bodies: Mapped[bool] = mapped_column(Boolean, default=False)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=30.0)
    max_body_bytes: Mapped[int] = mapped_column(Integer, default=4_194_304)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AccessRight(Base):
    """Permission for a subsystem (or ``group:CODE``) to call a service, on every endpoint (``*``) or on
    one method and path pattern. Nothing is allowed without one (deny by default)."""

    __tablename__ = "exchange_access_right"
    __table_args__ = (UniqueConstraint("service_id", "subject", "method", "path"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_service.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    method: Mapped[str] = mapped_column(String(16), default="*")
    path: Mapped[str] = mapped_column(String(500), default="*")
    granted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Peer(Base):
    """Another exchange instance (another country) whose root certificate this one trusts."""

    __tablename__ = "exchange_peer"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    instance: Mapped[str] = mapped_column(String(64), unique=True)
    gateway_url: Mapped[str] = mapped_column(String(2000))
    server_identity: Mapped[str] = mapped_column(String(300))
    root_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Generation(Base):
    """A counter raised by every change of the exchange's configuration, so each gateway process
    knows when its cached services and access rights are stale."""

    __tablename__ = "exchange_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class LogRecord(Base):
    """One request and its answer through the gateway: headers, body digests (and bodies when the
    service keeps them), chained by hash to the record before it in the same stream."""

    __tablename__ = "exchange_log_record"
    __table_args__ = (UniqueConstraint("stream", "seq"), Index("ix_exchange_log_record_at", "at"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    stream: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    message_id: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(300))
    service: Mapped[str] = mapped_column(String(400), index=True)
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(2000))
    status: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(100))
    duration_ms: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    prev_hash: Mapped[str] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(index=True)


class LogBatch(Base):
    """A run of log records sealed together: a signature over the hash of its last record and an
    RFC 3161 timestamp of that signature from the trust services' TSA."""

    __tablename__ = "exchange_log_batch"
    __table_args__ = (Index("ix_exchange_log_batch_stream", "stream", "last_seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    stream: Mapped[str] = mapped_column(String(64))
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
    certificate_pem: Mapped[str] = mapped_column(Text)
    timestamp_token: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_to: Mapped[str | None] = mapped_column(String(500))


class EventType(Base):
    """A kind of event in a room, with one JSON Schema per version; events are checked against it."""

    __tablename__ = "exchange_event_type"
    __table_args__ = (UniqueConstraint("room_id", "code", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_subsystem.id"), index=True)
    code: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)
    schema: Mapped[dict[str, Any]] = mapped_column(JSONType)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """An event published in a room; ``sequence`` orders the events of one room."""

    __tablename__ = "exchange_event"
    __table_args__ = (UniqueConstraint("room_id", "sequence"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_subsystem.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(BigInteger)
    publisher: Mapped[str] = mapped_column(String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="published")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscription(Base):
    """A subscriber's wish to receive one event type of a room, by PUSH (webhook) or PULL; events flow
    only once the publisher approved it. ``options`` holds TTL, FIFO and the retry settings."""

    __tablename__ = "exchange_subscription"
    __table_args__ = (UniqueConstraint("room_id", "event_type", "subscriber"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_subsystem.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(100))
    subscriber: Mapped[str] = mapped_column(String(300))
    delivery: Mapped[str] = mapped_column(String(8), default="PUSH")
    push_url: Mapped[str | None] = mapped_column(String(2000))
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One event for one subscription: pending until pushed and accepted, or pulled and acknowledged."""

    __tablename__ = "exchange_delivery"
    __table_args__ = (UniqueConstraint("subscription_id", "event_id"),
                      Index("ix_exchange_delivery_due", "subscription_id", "status", "sequence"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_subscription.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_event.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
