"""Publish/subscribe (GovStack Information Mediator PubSub): rooms, event types with versioned JSON
Schemas, events, subscriptions approved by the publisher, PUSH through the outbox and PULL with
acknowledgement.

PUSH: every delivery attempt is one outbox message (channel ``pubsub``, destination ``exchange.push``).
The worker's deliverer POSTs the event to the subscriber; on failure it schedules the next attempt
itself with the subscription's own back-off and attempt limit, so each subscription keeps its settings.
The civil register's registered events arrive on the same channel (destination ``civil.events``)
and are published in the civil room, without the civil domain knowing the exchange.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import httpx
import jsonschema_rs
import structlog
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from nokor import audit
from nokor.config import Settings
from nokor.db import session_scope
from nokor.exchange.models import Delivery, Event, EventType, Subscription, Subsystem
from nokor.exchange.schemas import (
    EventRead,
    EventTypeRead,
    SubscriptionCreate,
    SubscriptionOptions,
    SubscriptionRead,
)
from nokor.exchange.service import EXCHANGE_MANAGE, ensure_subsystem
from nokor.kit import outbox
from nokor.kit.actor import Actor
from nokor.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.time import utcnow

log = structlog.get_logger("nokor.exchange.pubsub")
PUSH_DESTINATION = "exchange.push"
CIVIL_DESTINATION = "civil.events"
CIVIL_KINDS = ("birth", "death", "marriage", "divorce", "address_change", "name_change")


def _room(session: Session, room: str, *, lock: bool = False) -> Subsystem:
    stmt = select(Subsystem).where(Subsystem.identifier == room, Subsystem.is_room.is_(True))
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(_("There is no room %(room)s.", room=room))
    return row


def _may_publish(row: Subsystem, who: str) -> bool:
    return who in row.publishers or who == row.identifier


def _require_publisher(row: Subsystem, who: str, actor: Actor | None) -> None:
    if actor is not None and actor.can(EXCHANGE_MANAGE):
        return
    if not _may_publish(row, who):
        raise Forbidden(_("Only the room's publishers may do this."))


# --- event types ----------------------------------------------------------------------------------


def _check_schema(schema: dict[str, Any]) -> None:
    try:
        jsonschema_rs.validator_for(schema)
    except Exception as exc:
        raise ValidationFailed(errors=[field_error(["schema"], _("This is not a valid JSON Schema: %(reason)s",
                                                                 reason=str(exc)[:200]), "bad_schema")]) from exc


def _latest_type(session: Session, room_id: uuid.UUID, code: str) -> EventType | None:
    return session.scalar(select(EventType).where(EventType.room_id == room_id, EventType.code == code,
                                                  EventType.deleted_at.is_(None))
                          .order_by(EventType.version.desc()).limit(1))


def _type_read(session: Session, row: EventType) -> EventTypeRead:
    versions = list(session.scalars(select(EventType.version).where(
        EventType.room_id == row.room_id, EventType.code == row.code, EventType.deleted_at.is_(None))
        .order_by(EventType.version)))
    return EventTypeRead(eventType=row.code, version=row.version, schema_=row.schema, versions=versions)


def define_event_type(session: Session, *, room: str, code: str, schema: dict[str, Any], by: str,
                      actor: Actor | None = None, new_version: bool = False) -> EventTypeRead:
    """Create an event type in a room (409 when it exists), or with ``new_version`` add its next schema version."""
    row = _room(session, room)
    _require_publisher(row, by, actor)
    _check_schema(schema)
    latest = _latest_type(session, row.id, code)
    if latest is not None and not new_version:
        raise Conflict(_("This event type exists already."))
    if latest is None and new_version:
        raise NotFound(_("There is no event type %(type)s in this room.", type=code))
    version = (latest.version + 1) if latest is not None else 1
    created = EventType(room_id=row.id, code=code, version=version, schema=schema)
    session.add(created)
    session.flush()
    audit.record_change(session, actor or Actor.system(by), action="exchange.event_type.define",
                        subject_type="exchange_event_type", subject_id=created.id,
                        after={"room": room, "event_type": code, "version": version})
    return _type_read(session, created)


def list_event_types(session: Session, *, room: str) -> list[str]:
    """The event types of a room."""
    row = _room(session, room)
    return sorted(set(session.scalars(select(EventType.code).where(EventType.room_id == row.id,
                                                                   EventType.deleted_at.is_(None)))))


def get_event_type(session: Session, *, room: str, code: str, version: int | None = None) -> EventTypeRead:
    """An event type's latest schema (or one version's)."""
    row = _room(session, room)
    stmt = select(EventType).where(EventType.room_id == row.id, EventType.code == code,
                                   EventType.deleted_at.is_(None))
    found = session.scalar(stmt.where(EventType.version == version) if version is not None
                           else stmt.order_by(EventType.version.desc()).limit(1))
    if found is None:
        raise NotFound(_("There is no event type %(type)s in this room.", type=code))
    return _type_read(session, found)


def delete_event_type(session: Session, *, room: str, code: str, by: str, actor: Actor | None = None) -> None:
    """Withdraw an event type: nothing more can be published under it."""
    row = _room(session, room)
    _require_publisher(row, by, actor)
    rows = list(session.scalars(select(EventType).where(EventType.room_id == row.id, EventType.code == code,
                                                        EventType.deleted_at.is_(None))))
    if not rows:
        raise NotFound(_("There is no event type %(type)s in this room.", type=code))
    now = utcnow()
    for item in rows:
        item.deleted_at = now
    session.flush()
    audit.record_change(session, actor or Actor.system(by), action="exchange.event_type.delete",
                        subject_type="exchange_event_type", subject_id=rows[0].id, after={"room": room, "type": code})


# --- events --------------------------------------------------------------------------------------


def _event_read(row: Event, room: str) -> EventRead:
    read = EventRead.model_validate(row)
    read.room = room
    return read


def publish_event(session: Session, *, room: str, event_type: str, payload: Any, publisher: str,
                  actor: Actor | None = None, version: int | None = None, source_key: str | None = None) -> EventRead:
    """Publish an event after checking it against its type's schema; every approved subscription gets it.

    ``source_key`` makes publishing idempotent: the same key publishes once (the civil bridge uses it).
    """
    row = _room(session, room, lock=True)
    _require_publisher(row, publisher, actor)
    if source_key is not None:
        existing = session.scalar(select(Event).where(Event.source_key == source_key))
        if existing is not None:
            return _event_read(existing, room)
    type_stmt = select(EventType).where(EventType.room_id == row.id, EventType.code == event_type,
                                        EventType.deleted_at.is_(None))
    type_row = session.scalar(type_stmt.where(EventType.version == version) if version is not None
                              else type_stmt.order_by(EventType.version.desc()).limit(1))
    if type_row is None:
        raise NotFound(_("There is no event type %(type)s in this room.", type=event_type))
    if not isinstance(payload, dict):
        raise ValidationFailed(errors=[field_error(["event"], _("An event is a JSON object."), "not_an_object")])
    validator = jsonschema_rs.validator_for(type_row.schema)
    errors = [field_error(["event", *list(e.instance_path)], e.message, "schema")
              for e in validator.iter_errors(payload)]
    if errors:
        raise ValidationFailed(_("The event does not match the schema of %(type)s version %(version)s.",
                                 type=event_type, version=type_row.version), errors=errors)
    sequence = int(session.scalar(select(func.coalesce(func.max(Event.sequence), 0))
                                  .where(Event.room_id == row.id)) or 0) + 1
    event = Event(room_id=row.id, event_type=event_type, version=type_row.version, sequence=sequence,
                  publisher=publisher, payload=payload, source_key=source_key)
    session.add(event)
    session.flush()
    now = utcnow()
    subscriptions = session.scalars(select(Subscription).where(
        Subscription.room_id == row.id, Subscription.event_type == event_type, Subscription.status == "approved"))
    for sub in subscriptions:
        ttl = int(sub.options.get("TTL", 3600))
        delivery = Delivery(subscription_id=sub.id, event_id=event.id, sequence=sequence, status="pending",
                            expires_at=now + timedelta(seconds=ttl))
        session.add(delivery)
        session.flush()
        if sub.delivery == "PUSH" and (not sub.options.get("FIFO") or not _earlier_pending(session, sub.id, sequence)):
            _schedule_push(session, delivery.id, attempt=1)
    return _event_read(event, room)


def _earlier_pending(session: Session, subscription_id: uuid.UUID, sequence: int) -> bool:
    return session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.subscription_id == subscription_id, Delivery.status == "pending",
        Delivery.sequence < sequence)) != 0


def _schedule_push(session: Session, delivery_id: uuid.UUID, *, attempt: int, delay: float = 0.0) -> None:
    outbox.enqueue(session, channel="pubsub", destination=PUSH_DESTINATION,
                   payload={"delivery_id": str(delivery_id), "attempt": attempt},
                   idempotency_key=f"push:{delivery_id}:{attempt}",
                   available_at=utcnow() + timedelta(seconds=delay))


def get_event(session: Session, *, room: str, event_id: uuid.UUID) -> EventRead:
    row = _room(session, room)
    event = session.scalar(select(Event).where(Event.id == event_id, Event.room_id == row.id))
    if event is None:
        raise NotFound(_("There is no such event."))
    return _event_read(event, room)


def stop_event(session: Session, *, room: str, event_id: uuid.UUID, by: str, actor: Actor | None = None) -> None:
    """Stop delivering an event: deliveries not yet made are cancelled."""
    row = _room(session, room)
    _require_publisher(row, by, actor)
    event = session.scalar(select(Event).where(Event.id == event_id, Event.room_id == row.id))
    if event is None:
        raise NotFound(_("There is no such event."))
    event.status = "deleted"
    session.execute(update(Delivery).where(Delivery.event_id == event.id, Delivery.status == "pending")
                    .values(status="cancelled"))
    session.flush()


def list_events(session: Session, *, room: str, limit: int = 50) -> list[EventRead]:
    row = _room(session, room)
    events = session.scalars(select(Event).where(Event.room_id == row.id).order_by(Event.sequence.desc())
                             .limit(limit))
    return [_event_read(e, room) for e in events]


# --- subscriptions -------------------------------------------------------------------------------


def _sub_read(row: Subscription, room: str) -> SubscriptionRead:
    read = SubscriptionRead.model_validate(row)
    read.room = room
    return read


def subscribe(session: Session, *, room: str, event_type: str, subscriber: str, data: SubscriptionCreate,
              actor: Actor | None = None) -> SubscriptionRead:
    """Ask for an event type's events; nothing flows until a publisher of the room approves."""
    row = _room(session, room)
    if _latest_type(session, row.id, event_type) is None:
        raise NotFound(_("There is no event type %(type)s in this room.", type=event_type))
    if data.delivery == "PUSH" and not data.url:
        raise ValidationFailed(errors=[field_error(["url"], _("A PUSH subscription needs the address events are "
                                                              "sent to."), "url_required")])
    if session.scalar(select(Subscription).where(Subscription.room_id == row.id,
                                                 Subscription.event_type == event_type,
                                                 Subscription.subscriber == subscriber,
                                                 Subscription.status != "cancelled")) is not None:
        raise Conflict(_("This subscription exists already."))
    old = session.scalar(select(Subscription).where(Subscription.room_id == row.id,
                                                    Subscription.event_type == event_type,
                                                    Subscription.subscriber == subscriber))
    if old is not None:
        session.delete(old)
        session.flush()
    sub = Subscription(room_id=row.id, event_type=event_type, subscriber=subscriber, delivery=data.delivery,
                       push_url=data.url, options=data.options.model_dump(), status="pending")
    session.add(sub)
    session.flush()
    audit.record_change(session, actor or Actor.system(subscriber), action="exchange.subscription.request",
                        subject_type="exchange_subscription", subject_id=sub.id,
                        after={"room": room, "event_type": event_type, "subscriber": subscriber,
                               "delivery": data.delivery, "url": data.url})
    return _sub_read(sub, room)


def _subscription(session: Session, *, room_id: uuid.UUID, event_type: str, subscriber: str) -> Subscription:
    sub = session.scalar(select(Subscription).where(Subscription.room_id == room_id,
                                                    Subscription.event_type == event_type,
                                                    Subscription.subscriber == subscriber,
                                                    Subscription.status != "cancelled"))
    if sub is None:
        raise NotFound(_("There is no such subscription."))
    return sub


def my_subscriptions(session: Session, *, room: str, subscriber: str) -> list[SubscriptionRead]:
    row = _room(session, room)
    subs = session.scalars(select(Subscription).where(Subscription.room_id == row.id,
                                                      Subscription.subscriber == subscriber,
                                                      Subscription.status != "cancelled")
                           .order_by(Subscription.event_type))
    return [_sub_read(s, room) for s in subs]


def get_subscription(session: Session, *, room: str, event_type: str, subscriber: str) -> SubscriptionRead:
    row = _room(session, room)
    return _sub_read(_subscription(session, room_id=row.id, event_type=event_type, subscriber=subscriber), room)


def update_subscription(session: Session, *, room: str, event_type: str, subscriber: str,
                        data: SubscriptionCreate) -> SubscriptionRead:
    """Change delivery, address or options of one's own subscription (approval stays)."""
    row = _room(session, room)
    sub = _subscription(session, room_id=row.id, event_type=event_type, subscriber=subscriber)
    if data.delivery == "PUSH" and not (data.url or sub.push_url):
        raise ValidationFailed(errors=[field_error(["url"], _("A PUSH subscription needs the address events are "
                                                              "sent to."), "url_required")])
    before = {"delivery": sub.delivery, "url": sub.push_url, "options": dict(sub.options)}
    sub.delivery, sub.push_url, sub.options = data.delivery, data.url or sub.push_url, data.options.model_dump()
    session.flush()
    audit.record_change(session, Actor.system(subscriber), action="exchange.subscription.update",
                        subject_type="exchange_subscription", subject_id=sub.id, before=before,
                        after={"delivery": sub.delivery, "url": sub.push_url, "options": sub.options})
    return _sub_read(sub, room)


def cancel_subscription(session: Session, *, room: str, event_type: str, subscriber: str) -> None:
    row = _room(session, room)
    sub = _subscription(session, room_id=row.id, event_type=event_type, subscriber=subscriber)
    sub.status = "cancelled"
    session.execute(update(Delivery).where(Delivery.subscription_id == sub.id, Delivery.status == "pending")
                    .values(status="cancelled"))
    session.flush()
    audit.record_change(session, Actor.system(subscriber), action="exchange.subscription.cancel",
                        subject_type="exchange_subscription", subject_id=sub.id)


def decide_subscription(session: Session, *, subscription_id: uuid.UUID, approve: bool, by: str,
                        actor: Actor | None = None, reason: str | None = None) -> SubscriptionRead:
    """A publisher of the room (or an exchange manager) approves or rejects a subscription."""
    sub = session.get(Subscription, subscription_id)
    if sub is None:
        raise NotFound(_("There is no such subscription."))
    room = session.get(Subsystem, sub.room_id)
    assert room is not None
    _require_publisher(room, by, actor)
    if sub.status == "cancelled":
        raise Conflict(_("This subscription was cancelled."))
    before = sub.status
    sub.status = "approved" if approve else "rejected"
    sub.decided_by = actor.name if actor is not None else by
    session.flush()
    audit.record_change(session, actor or Actor.system(by), action="exchange.subscription.decide",
                        subject_type="exchange_subscription", subject_id=sub.id, before={"status": before},
                        after={"status": sub.status}, reason=reason)
    return _sub_read(sub, room.identifier)


def list_subscriptions(session: Session, *, status: str | None = None) -> list[SubscriptionRead]:
    """Every subscription of every room (administration)."""
    stmt = (select(Subscription, Subsystem.identifier).join(Subsystem, Subscription.room_id == Subsystem.id)
            .order_by(Subscription.created_at.desc()))
    if status:
        stmt = stmt.where(Subscription.status == status)
    return [_sub_read(s, ident) for s, ident in session.execute(stmt)]


def pull_next(session: Session, *, room: str, event_type: str, subscriber: str) -> EventRead:
    """The oldest event not yet acknowledged by a PULL subscriber (404 when there is none)."""
    row = _room(session, room)
    sub = _subscription(session, room_id=row.id, event_type=event_type, subscriber=subscriber)
    if sub.status != "approved":
        raise Conflict(_("The publisher has not approved this subscription."))
    if sub.delivery != "PULL":
        raise Conflict(_("This subscription's events are pushed, not pulled."))
    now = utcnow()
    session.execute(update(Delivery).where(Delivery.subscription_id == sub.id, Delivery.status == "pending",
                                           Delivery.expires_at < now).values(status="expired"))
    found = session.execute(select(Delivery, Event).join(Event, Delivery.event_id == Event.id).where(
        Delivery.subscription_id == sub.id, Delivery.status == "pending").order_by(Delivery.sequence).limit(1)).first()
    if found is None:
        raise NotFound(_("No event is waiting."))
    delivery, event = found
    delivery.attempts += 1
    session.flush()
    return _event_read(event, room)


def acknowledge(session: Session, *, room: str, event_type: str, subscriber: str, event_id: uuid.UUID) -> None:
    """A PULL subscriber confirms it has an event; it is not offered again."""
    row = _room(session, room)
    sub = _subscription(session, room_id=row.id, event_type=event_type, subscriber=subscriber)
    delivery = session.scalar(select(Delivery).where(Delivery.subscription_id == sub.id,
                                                     Delivery.event_id == event_id))
    if delivery is None or delivery.status not in ("pending", "acknowledged"):
        raise NotFound(_("No such event is waiting for this subscription."))
    delivery.status = "acknowledged"
    delivery.delivered_at = utcnow()
    session.flush()


def delivery_counts(session: Session) -> dict[str, int]:
    """Deliveries by status (operations page)."""
    return {status: int(count) for status, count in session.execute(
        select(Delivery.status, func.count()).group_by(Delivery.status))}


# --- the civil register's events --------------------------------------------------------------

CIVIL_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["event_id", "kind", "occurred_on", "registered_at", "resident_id"],
    "properties": {
        "event_id": {"type": "string", "format": "uuid"},
        "kind": {"type": "string", "enum": list(CIVIL_KINDS)},
        "occurred_on": {"type": "string", "format": "date"},
        "place_code": {"type": ["string", "null"]},
        "registered_at": {"type": "string", "format": "date-time"},
        "resident_id": {"type": "string", "format": "uuid"},
    },
}


def ensure_civil_room(session: Session, settings: Settings) -> str:
    """The room civil events are published in, with one event type per kind of life event."""
    actor = Actor.system("exchange")
    room = settings.civil_room
    ensure_subsystem(session, actor, identifier=room, name="Civil register events", is_room=True,
                     publishers=[room])
    row = _room(session, room)
    for kind in CIVIL_KINDS:
        if _latest_type(session, row.id, kind) is None:
            define_event_type(session, room=room, code=kind, schema=CIVIL_SCHEMA, by=room, actor=actor)
    return room


def publish_civil_event(session: Session, settings: Settings, payload: dict[str, Any]) -> EventRead | None:
    """Publish one registered life event from the civil register's outbox message in the civil room."""
    kind = str(payload.get("kind") or "")
    if kind not in CIVIL_KINDS:
        log.warning("exchange.civil_event_skipped", kind=kind)
        return None
    room = ensure_civil_room(session, settings)
    event = {k: payload.get(k) for k in ("event_id", "kind", "occurred_on", "place_code", "registered_at",
                                         "resident_id")}
    return publish_event(session, room=room, event_type=kind, payload=event, publisher=room,
                         source_key=f"civil:{payload.get('event_id')}")


# --- the worker's deliverer ---------------------------------------------------------------------


class PubSubDeliverer:
    """Delivers the ``pubsub`` outbox channel: PUSH attempts and the civil register's events."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session]) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.client = httpx.Client(follow_redirects=False, trust_env=False,
                                   headers={"User-Agent": "nokor-exchange-pubsub/1"})

    def __call__(self, message: outbox.ClaimedMessage) -> None:
        if message.destination == CIVIL_DESTINATION:
            with session_scope(self.session_factory) as session:
                publish_civil_event(session, self.settings, message.payload)
            return
        if message.destination == PUSH_DESTINATION:
            self.push(uuid.UUID(str(message.payload["delivery_id"])), int(message.payload.get("attempt", 1)))
            return
        raise ValueError(f"unknown pub/sub destination {message.destination!r}")

    def push(self, delivery_id: uuid.UUID, attempt: int) -> None:
        """One PUSH attempt; schedules the next one with the subscription's back-off when it fails."""
        with session_scope(self.session_factory) as session:
            found = session.execute(select(Delivery, Subscription, Event, Subsystem.identifier)
                                    .join(Subscription, Delivery.subscription_id == Subscription.id)
                                    .join(Event, Delivery.event_id == Event.id)
                                    .join(Subsystem, Event.room_id == Subsystem.id)
                                    .where(Delivery.id == delivery_id)).first()
            if found is None:
                return
            delivery, sub, event, room = found
            if delivery.status != "pending":
                return
            if sub.status != "approved" or not sub.push_url:
                delivery.status = "cancelled"
                return
            if delivery.expires_at is not None and delivery.expires_at < utcnow():
                delivery.status = "expired"
                self._next_fifo(session, sub)
                return
            url, options = sub.push_url, SubscriptionOptions(**sub.options)
            body = _event_read(event, room).govstack()
        error: str | None = None
        try:
            response = self.client.post(url, json=body, timeout=options.timeoutSeconds, headers={
                "Idempotency-Key": str(delivery_id), "X-Road-Id": str(delivery_id),
                "X-Road-Client": self.settings.gateway_identity, "X-Road-Service": f"{room}/pub/{event.event_type}"})
            if not response.is_success:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        with session_scope(self.session_factory) as session:
            current = session.get(Delivery, delivery_id, with_for_update=True)
            sub_row = session.get(Subscription, current.subscription_id) if current is not None else None
            if current is None or sub_row is None or current.status != "pending":
                return
            delivery = current
            delivery.attempts = attempt
            if error is None:
                delivery.status, delivery.delivered_at, delivery.last_error = "delivered", utcnow(), None
                self._next_fifo(session, sub_row)
                return
            delivery.last_error = error
            if attempt >= options.maxAttempts:
                delivery.status = "dead"
                log.warning("exchange.push_dead", delivery_id=str(delivery_id), error=error)
                self._next_fifo(session, sub_row)
                return
            delay = options.backoffSeconds * 2 ** (attempt - 1)
            delay = min(delay, 3600.0)
            _schedule_push(session, delivery_id, attempt=attempt + 1,
                           delay=delay / 2 + random.uniform(0, delay / 2))  # noqa: S311 - spreading retries

    @staticmethod
    def _next_fifo(session: Session, sub: Subscription) -> None:
        if not sub.options.get("FIFO"):
            return
        following = session.scalar(select(Delivery).where(Delivery.subscription_id == sub.id,
                                                          Delivery.status == "pending")
                                   .order_by(Delivery.sequence).limit(1))
        if following is not None:
            _schedule_push(session, following.id, attempt=following.attempts + 1)

    def close(self) -> None:
        self.client.close()
