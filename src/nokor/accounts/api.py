"""JSON routes of the accounts domain under /api/v1."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from nokor.accounts import service
from nokor.accounts.schemas import (
    ApiClientCreate,
    ApiClientRead,
    GrantRead,
    IssuedApiKey,
    OfficerCreate,
    OfficerRead,
    OfficerUpdate,
    OrgUnitCreate,
    OrgUnitRead,
    PermissionRead,
    RoleCreate,
    RoleRead,
    RoleUpdate,
)
from nokor.kit.errors import problem_responses
from nokor.kit.pagination import Page
from nokor.web.deps import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1", tags=["accounts"])
PROBLEMS = problem_responses(401, 403, 422)
WITH_404 = problem_responses(401, 403, 404, 422)


class WhoAmI(BaseModel):
    kind: str
    name: str
    identity: str | None
    permissions: list[str]


class GrantCreate(BaseModel):
    role_code: str
    org_unit_code: str


@router.get("/me", response_model=WhoAmI, responses=PROBLEMS, summary="Who the caller is")
def who_am_i(actor: CurrentActor) -> WhoAmI:
    return WhoAmI(kind=actor.kind, name=actor.name, identity=actor.identity, permissions=sorted(actor.grants))


@router.get("/permissions", response_model=list[PermissionRead], responses=PROBLEMS)
def permissions(actor: CurrentActor) -> list[PermissionRead]:
    return service.list_permissions()


@router.get("/org-units", response_model=list[OrgUnitRead], responses=PROBLEMS)
def org_units(session: DbSession, actor: CurrentActor) -> list[OrgUnitRead]:
    return service.list_org_units(session, actor)


@router.post("/org-units", response_model=OrgUnitRead, status_code=201, responses=PROBLEMS)
def create_org_unit(data: OrgUnitCreate, session: DbSession, actor: CurrentActor) -> OrgUnitRead:
    return service.create_org_unit(session, actor, data=data)


@router.get("/officers", response_model=Page[OfficerRead], responses=PROBLEMS)
def officers(
    session: DbSession,
    actor: CurrentActor,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[OfficerRead]:
    return service.list_officers(session, actor, search=q, cursor=cursor, limit=limit)


@router.post("/officers", response_model=OfficerRead, status_code=201, responses=PROBLEMS)
def create_officer(data: OfficerCreate, session: DbSession, actor: CurrentActor) -> OfficerRead:
    return service.create_officer(session, actor, data=data)


@router.get("/officers/{officer_id}", response_model=OfficerRead, responses=WITH_404)
def get_officer(officer_id: uuid.UUID, session: DbSession, actor: CurrentActor) -> OfficerRead:
    return service.get_officer(session, actor, officer_id=officer_id)


@router.patch("/officers/{officer_id}", response_model=OfficerRead, responses=WITH_404)
def update_officer(
    officer_id: uuid.UUID, data: OfficerUpdate, session: DbSession, actor: CurrentActor
) -> OfficerRead:
    return service.update_officer(session, actor, officer_id=officer_id, data=data)


@router.get("/officers/{officer_id}/grants", response_model=list[GrantRead], responses=WITH_404)
def officer_grants(officer_id: uuid.UUID, session: DbSession, actor: CurrentActor) -> list[GrantRead]:
    return service.grants_of_officer(session, actor, officer_id=officer_id)


@router.post("/officers/{officer_id}/grants", response_model=GrantRead, status_code=201,
             responses=WITH_404)
def grant_role(officer_id: uuid.UUID, data: GrantCreate, session: DbSession, actor: CurrentActor) -> GrantRead:
    return service.grant_role(
        session, actor, officer_id=officer_id, role_code=data.role_code, org_unit_code=data.org_unit_code
    )


@router.delete("/grants/{grant_id}", status_code=204, responses=WITH_404)
def revoke_grant(grant_id: uuid.UUID, session: DbSession, actor: CurrentActor) -> None:
    service.revoke_grant(session, actor, grant_id=grant_id)


@router.get("/roles", response_model=list[RoleRead], responses=PROBLEMS)
def roles(session: DbSession, actor: CurrentActor) -> list[RoleRead]:
    return service.list_roles(session, actor)


@router.post("/roles", response_model=RoleRead, status_code=201, responses=PROBLEMS)
def create_role(data: RoleCreate, session: DbSession, actor: CurrentActor) -> RoleRead:
    return service.create_role(session, actor, data=data)


@router.patch("/roles/{role_code}", response_model=RoleRead, responses=WITH_404)
def update_role(role_code: str, data: RoleUpdate, session: DbSession, actor: CurrentActor) -> RoleRead:
    return service.update_role(session, actor, role_code=role_code, data=data)


@router.get("/clients", response_model=list[ApiClientRead], responses=PROBLEMS)
def clients(session: DbSession, actor: CurrentActor) -> list[ApiClientRead]:
    return service.list_api_clients(session, actor)


@router.post("/clients", response_model=IssuedApiKey, status_code=201, responses=PROBLEMS,
             summary="Register an agency system; the key in the answer is shown only this once")
def create_client(data: ApiClientCreate, session: DbSession, actor: CurrentActor) -> IssuedApiKey:
    return service.create_api_client(session, actor, data=data)


@router.post("/clients/{client_id}/revoke", response_model=ApiClientRead, responses=WITH_404)
def revoke_client(client_id: uuid.UUID, session: DbSession, actor: CurrentActor) -> ApiClientRead:
    return service.revoke_api_client(session, actor, client_id=client_id)
