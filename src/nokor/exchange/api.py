"""JSON routes of the data exchange: administration under /api/v1/exchange, and the GovStack pub/sub
routes of a room (``/r1/{instance}/{class}/{member}/{room}/api|pub|pull/...``), which the gateway
calls in process after it authenticated the client."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from nokor.exchange import operations, pubsub, service
from nokor.exchange.schemas import (
    AccessRightCreate,
    AccessRightRead,
    EventTypeCreate,
    EventTypeVersion,
    GroupCreate,
    GroupRead,
    LogRecordRead,
    MemberCreate,
    MemberRead,
    PeerCreate,
    PeerRead,
    PublishEvent,
    ServiceCreate,
    ServiceRead,
    ServiceStats,
    SubscriptionCreate,
    SubscriptionRead,
    SubsystemCreate,
    SubsystemRead,
)
from nokor.kit.errors import Unauthorized, problem_responses
from nokor.web.deps import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1/exchange", tags=["exchange"], responses=problem_responses(401, 403, 404, 422))
rooms = APIRouter(tags=["exchange pub/sub"], responses=problem_responses(401, 403, 404, 409, 422))


def settings_of(request: Request) -> Any:
    return request.app.state.settings


@router.get("/members", response_model=list[MemberRead], summary="Members of the exchange")
def members(session: DbSession, actor: CurrentActor) -> list[MemberRead]:
    service.require_manage(actor)
    return service.list_members(session)


@router.post("/members", response_model=MemberRead, status_code=201, summary="Register a member")
def create_member(request: Request, session: DbSession, actor: CurrentActor, data: MemberCreate) -> MemberRead:
    return service.create_member(session, actor, data=data, instance=settings_of(request).exchange_instance)


@router.get("/subsystems", response_model=list[SubsystemRead], summary="Subsystems and rooms")
def subsystems(session: DbSession, actor: CurrentActor) -> list[SubsystemRead]:
    service.require_manage(actor)
    return service.list_subsystems(session)


@router.post("/subsystems", response_model=SubsystemRead, status_code=201, summary="Add a subsystem or a room")
def create_subsystem(session: DbSession, actor: CurrentActor, data: SubsystemCreate) -> SubsystemRead:
    return service.create_subsystem(session, actor, data=data)


@router.get("/services", response_model=list[ServiceRead], summary="Published services")
def services(session: DbSession, actor: CurrentActor, subsystem: str | None = None) -> list[ServiceRead]:
    service.require_manage(actor)
    return service.list_services(session, subsystem=subsystem)


@router.post("/services", response_model=ServiceRead, status_code=201, summary="Publish (or update) a service")
def publish(session: DbSession, actor: CurrentActor, data: ServiceCreate) -> ServiceRead:
    return service.publish_service(session, actor, data=data)


@router.post("/services/enabled", response_model=ServiceRead, summary="Take a service out of use or back in")
def enable(session: DbSession, actor: CurrentActor, service_id: Annotated[str, Query(alias="service")],
           enabled: bool = True) -> ServiceRead:
    return service.set_service_enabled(session, actor, service=service_id, enabled=enabled)


@router.get("/access-rights", response_model=list[AccessRightRead], summary="Access rights")
def access_rights(session: DbSession, actor: CurrentActor,
                  service_id: Annotated[str | None, Query(alias="service")] = None) -> list[AccessRightRead]:
    service.require_manage(actor)
    return service.list_access_rights(session, service=service_id)


@router.post("/access-rights", response_model=AccessRightRead, status_code=201, summary="Grant an access right")
def grant(session: DbSession, actor: CurrentActor, data: AccessRightCreate) -> AccessRightRead:
    return service.grant_access(session, actor, data=data)


@router.delete("/access-rights/{right_id}", status_code=204, summary="Revoke an access right")
def revoke(session: DbSession, actor: CurrentActor, right_id: uuid.UUID, reason: str | None = None) -> Response:
    service.revoke_access(session, actor, right_id=right_id, reason=reason)
    return Response(status_code=204)


@router.get("/groups", response_model=list[GroupRead], summary="Groups of subsystems")
def groups(session: DbSession, actor: CurrentActor) -> list[GroupRead]:
    service.require_manage(actor)
    return service.list_groups(session)


@router.post("/groups", response_model=GroupRead, summary="Create a group or replace its members")
def save_group(session: DbSession, actor: CurrentActor, data: GroupCreate) -> GroupRead:
    return service.save_group(session, actor, data=data)


@router.get("/peers", response_model=list[PeerRead], summary="Federated instances")
def peers(session: DbSession, actor: CurrentActor) -> list[PeerRead]:
    service.require_manage(actor)
    return service.list_peers(session)


@router.post("/peers", response_model=PeerRead, status_code=201, summary="Trust another instance")
def add_peer(request: Request, session: DbSession, actor: CurrentActor, data: PeerCreate) -> PeerRead:
    made = service.add_peer(session, actor, data=data, own_instance=settings_of(request).exchange_instance)
    operations.refresh_trusted_roots(session, settings_of(request))
    return made


@router.get("/anchor", summary="This instance's trust anchor: what a federated instance needs to trust it")
def anchor(request: Request, session: DbSession) -> dict[str, str]:
    return operations.trust_anchor(session, settings_of(request))


@router.get("/subscriptions", response_model=list[SubscriptionRead], summary="Subscriptions of every room")
def subscriptions(session: DbSession, actor: CurrentActor, status: str | None = None) -> list[SubscriptionRead]:
    service.require_manage(actor)
    return pubsub.list_subscriptions(session, status=status)


@router.post("/subscriptions/{subscription_id}/approve", response_model=SubscriptionRead,
             summary="Approve a subscription")
def approve(session: DbSession, actor: CurrentActor, subscription_id: uuid.UUID) -> SubscriptionRead:
    return pubsub.decide_subscription(session, subscription_id=subscription_id, approve=True,
                                      by=actor.identity or actor.name, actor=actor)


@router.post("/subscriptions/{subscription_id}/reject", response_model=SubscriptionRead,
             summary="Reject a subscription")
def reject(session: DbSession, actor: CurrentActor, subscription_id: uuid.UUID,
           reason: str | None = None) -> SubscriptionRead:
    return pubsub.decide_subscription(session, subscription_id=subscription_id, approve=False,
                                      by=actor.identity or actor.name, actor=actor, reason=reason)


@router.get("/stats", response_model=list[ServiceStats], summary="Calls, errors and latencies per service")
def stats(session: DbSession, actor: CurrentActor, hours: Annotated[int, Query(ge=1, le=24 * 90)] = 24
          ) -> list[ServiceStats]:
    return operations.service_stats(session, actor, hours=hours)


@router.get("/log", response_model=list[LogRecordRead], summary="The newest message-log records")
def message_log(session: DbSession, actor: CurrentActor, service_id: Annotated[str | None, Query(alias="service")]
                = None, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[LogRecordRead]:
    return operations.recent_records(session, actor, service=service_id, limit=limit)


# --- GovStack pub/sub of a room (reached through the gateway only) -------------------------------

ROOM = "/r1/{instance}/{member_class}/{member_code}/{room}"


def _client(request: Request) -> str:
    client = request.scope.get("state", {}).get("exchange_client")
    if not client:
        raise Unauthorized()
    return str(client)


def _room_id(instance: str, member_class: str, member_code: str, room: str) -> str:
    return f"{instance}/{member_class}/{member_code}/{room}"


@rooms.post(ROOM + "/api/v1/eventType", summary="Create an event type (createEventType)")
def create_event_type(request: Request, session: DbSession, instance: str, member_class: str, member_code: str,
                      room: str, data: EventTypeCreate) -> JSONResponse:
    made = pubsub.define_event_type(session, room=_room_id(instance, member_class, member_code, room),
                                    code=data.eventType, schema=data.schema_, by=_client(request))
    return JSONResponse(made.model_dump(by_alias=True), status_code=200)


@rooms.get(ROOM + "/api/v1/eventType", summary="Event types of the room (getEventTypeList)")
def event_types(request: Request, session: DbSession, instance: str, member_class: str, member_code: str,
                room: str) -> Response:
    _client(request)
    found = pubsub.list_event_types(session, room=_room_id(instance, member_class, member_code, room))
    return JSONResponse(found) if found else Response(status_code=204)


@rooms.get(ROOM + "/api/v1/eventType/{event_type}", summary="An event type (getEventType)")
def event_type(request: Request, session: DbSession, instance: str, member_class: str, member_code: str, room: str,
               event_type: str, version: int | None = None) -> JSONResponse:
    _client(request)
    found = pubsub.get_event_type(session, room=_room_id(instance, member_class, member_code, room), code=event_type,
                                  version=version)
    return JSONResponse(found.model_dump(by_alias=True))


@rooms.put(ROOM + "/api/v1/eventType/{event_type}", summary="Add the next schema version of an event type")
def new_version(request: Request, session: DbSession, instance: str, member_class: str, member_code: str, room: str,
                event_type: str, data: EventTypeVersion) -> JSONResponse:
    made = pubsub.define_event_type(session, room=_room_id(instance, member_class, member_code, room),
                                    code=event_type, schema=data.schema_, by=_client(request), new_version=True)
    return JSONResponse(made.model_dump(by_alias=True))


@rooms.delete(ROOM + "/api/v1/eventType/{event_type}", status_code=204, summary="Delete an event type")
def delete_event_type(request: Request, session: DbSession, instance: str, member_class: str, member_code: str,
                      room: str, event_type: str) -> Response:
    pubsub.delete_event_type(session, room=_room_id(instance, member_class, member_code, room), code=event_type,
                             by=_client(request))
    return Response(status_code=204)


@rooms.post(ROOM + "/pub/v1/{event_type}", status_code=201, summary="Publish an event (publishEvent)")
def publish_event(request: Request, session: DbSession, instance: str, member_class: str, member_code: str,
                  room: str, event_type: str, data: PublishEvent) -> JSONResponse:
    event = pubsub.publish_event(session, room=_room_id(instance, member_class, member_code, room),
                                 event_type=event_type, payload=data.event, publisher=_client(request),
                                 version=data.version)
    return JSONResponse({"id": str(event.id), "sequence": event.sequence}, status_code=201)


@rooms.get(ROOM + "/pub/v1/{event_type}/{event_id}", summary="A published event (getStatus)")
def event_status(request: Request, session: DbSession, instance: str, member_class: str, member_code: str,
                 room: str, event_type: str, event_id: uuid.UUID) -> JSONResponse:
    _client(request)
    event = pubsub.get_event(session, room=_room_id(instance, member_class, member_code, room), event_id=event_id)
    return JSONResponse(event.govstack())


@rooms.delete(ROOM + "/pub/v1/{event_type}/{event_id}", status_code=204, summary="Stop an event (deleteEvent)")
def stop_event(request: Request, session: DbSession, instance: str, member_class: str, member_code: str, room: str,
               event_type: str, event_id: uuid.UUID) -> Response:
    pubsub.stop_event(session, room=_room_id(instance, member_class, member_code, room), event_id=event_id,
                      by=_client(request))
    return Response(status_code=204)


@rooms.get(ROOM + "/api/v1/subs", summary="My subscriptions in the room (listSub)")
def list_subs(request: Request, session: DbSession, instance: str, member_class: str, member_code: str,
              room: str) -> JSONResponse:
    subs = pubsub.my_subscriptions(session, room=_room_id(instance, member_class, member_code, room),
                                   subscriber=_client(request))
    return JSONResponse([s.govstack() for s in subs])


@rooms.post(ROOM + "/api/v1/subs/{event_type}", summary="Subscribe (addSub); waits for the publisher's approval")
def add_sub(request: Request, session: DbSession, instance: str, member_class: str, member_code: str, room: str,
            event_type: str, data: SubscriptionCreate) -> JSONResponse:
    made = pubsub.subscribe(session, room=_room_id(instance, member_class, member_code, room), event_type=event_type,
                            subscriber=_client(request), data=data)
    return JSONResponse(made.govstack())


@rooms.get(ROOM + "/api/v1/subs/{event_type}", summary="My subscription (getSub)")
def get_sub(request: Request, session: DbSession, instance: str, member_class: str, member_code: str, room: str,
            event_type: str) -> JSONResponse:
    found = pubsub.get_subscription(session, room=_room_id(instance, member_class, member_code, room),
                                    event_type=event_type, subscriber=_client(request))
    return JSONResponse(found.govstack())


@rooms.patch(ROOM + "/api/v1/subs/{event_type}", status_code=201, summary="Change my subscription (patchSub)")
def patch_sub(request: Request, session: DbSession, instance: str, member_class: str, member_code: str, room: str,
              event_type: str, data: SubscriptionCreate) -> JSONResponse:
    found = pubsub.update_subscription(session, room=_room_id(instance, member_class, member_code, room),
                                       event_type=event_type, subscriber=_client(request), data=data)
    return JSONResponse(found.govstack(), status_code=201)


@rooms.delete(ROOM + "/api/v1/subs/{event_type}", status_code=204, summary="Unsubscribe (deleteSub)")
def delete_sub(request: Request, session: DbSession, instance: str, member_class: str, member_code: str, room: str,
               event_type: str) -> Response:
    pubsub.cancel_subscription(session, room=_room_id(instance, member_class, member_code, room),
                               event_type=event_type, subscriber=_client(request))
    return Response(status_code=204)


@rooms.post(ROOM + "/api/v1/subs/{event_type}/{subscription_id}/{decision}",
            summary="A publisher approves or rejects a subscription")
def decide(request: Request, session: DbSession, instance: str, member_class: str, member_code: str, room: str,
           event_type: str, subscription_id: uuid.UUID, decision: str) -> JSONResponse:
    if decision not in ("approve", "reject"):
        from nokor.kit.errors import NotFound

        raise NotFound()
    made = pubsub.decide_subscription(session, subscription_id=subscription_id, approve=decision == "approve",
                                      by=_client(request))
    return JSONResponse(made.govstack())


@rooms.get(ROOM + "/pull/v1/{event_type}", summary="The next unacknowledged event (pullEvent)")
def pull(request: Request, session: DbSession, instance: str, member_class: str, member_code: str, room: str,
         event_type: str) -> JSONResponse:
    event = pubsub.pull_next(session, room=_room_id(instance, member_class, member_code, room), event_type=event_type,
                             subscriber=_client(request))
    return JSONResponse(event.govstack())


@rooms.delete(ROOM + "/pull/v1/{event_type}/{event_id}", status_code=204, summary="Acknowledge an event")
def ack(request: Request, session: DbSession, instance: str, member_class: str, member_code: str, room: str,
        event_type: str, event_id: uuid.UUID) -> Response:
    pubsub.acknowledge(session, room=_room_id(instance, member_class, member_code, room), event_type=event_type,
                       subscriber=_client(request), event_id=event_id)
    return Response(status_code=204)
