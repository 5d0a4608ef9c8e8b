"""Data exchange between agencies (X-Road style): members, subsystems, services and access rights, the
``/r1/...`` security gateway, the signed message log, metadata services, publish/subscribe rooms and
federation with other instances.

Other domains use only what is listed here. A domain publishes one of its own APIs through the gateway
with ``publish_internal_service``; an event reaches a room with ``publish_event``.
"""

from nokor.exchange.demo import load_demo
from nokor.exchange.pubsub import (
    PubSubDeliverer,
    acknowledge,
    decide_subscription,
    define_event_type,
    ensure_civil_room,
    list_subscriptions,
    publish_civil_event,
    publish_event,
    pull_next,
    subscribe,
)
from nokor.exchange.schemas import (
    AccessRightCreate,
    AccessRightRead,
    ArchiveReport,
    EventRead,
    MemberCreate,
    MemberRead,
    PeerCreate,
    PeerRead,
    ServiceCreate,
    ServiceRead,
    SubscriptionCreate,
    SubscriptionRead,
    SubsystemCreate,
    SubsystemRead,
)
from nokor.exchange.service import (
    EXCHANGE_MANAGE,
    EXCHANGE_MONITOR,
    add_peer,
    create_member,
    create_subsystem,
    ensure_subsystem,
    get_service,
    grant_access,
    list_access_rights,
    list_services,
    publish_internal_service,
    publish_service,
    revoke_access,
)

__all__ = [
    "EXCHANGE_MANAGE",
    "EXCHANGE_MONITOR",
    "AccessRightCreate",
    "AccessRightRead",
    "ArchiveReport",
    "EventRead",
    "MemberCreate",
    "MemberRead",
    "PeerCreate",
    "PeerRead",
    "PubSubDeliverer",
    "ServiceCreate",
    "ServiceRead",
    "SubscriptionCreate",
    "SubscriptionRead",
    "SubsystemCreate",
    "SubsystemRead",
    "acknowledge",
    "add_peer",
    "create_member",
    "create_subsystem",
    "decide_subscription",
    "define_event_type",
    "ensure_civil_room",
    "ensure_subsystem",
    "get_service",
    "grant_access",
    "list_access_rights",
    "list_services",
    "list_subscriptions",
    "load_demo",
    "publish_civil_event",
    "publish_event",
    "publish_internal_service",
    "publish_service",
    "pull_next",
    "revoke_access",
    "subscribe",
]
