"""``nokor accounts ...``: officers, organisation units, roles and API clients from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from nokor.accounts import service
from nokor.accounts.schemas import ApiClientCreate, LocalizedName, OfficerCreate, OrgUnitCreate, RoleCreate
from nokor.db import cli_session_scope
from nokor.kit.actor import Actor
from nokor.kit.errors import Problem

app = typer.Typer(help="Officers, organisation units, roles and API clients.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _fail(problem: Problem) -> None:
    err.print(f"[red]{problem.title}[/red]" + (f" {problem.detail}" if problem.detail else ""))
    for item in problem.errors or []:
        err.print(f"  {item['pointer']}: {item['detail']}")
    raise typer.Exit(2)


@app.command("create-org-unit")
def create_org_unit(
    code: str,
    name_en: Annotated[str, typer.Option("--name-en", help="Name in English")],
    kind: Annotated[
        str, typer.Option(help="government, ministry, department, provincial_office or agency")
    ] = "ministry",
    name_km: Annotated[str | None, typer.Option("--name-km", help="Name in Khmer")] = None,
    parent: Annotated[str | None, typer.Option(help="Code of the parent unit")] = None,
) -> None:
    """Add an organisation unit to the tree."""
    try:
        with cli_session_scope() as session:
            unit = service.create_org_unit(session, Actor.system("cli"), data=OrgUnitCreate(
                code=code, kind=kind, name=LocalizedName(en=name_en, km=name_km), parent_code=parent))
    except Problem as problem:
        _fail(problem)
        return
    console.print(f"organisation unit {unit.code} created")


@app.command("create-officer")
def create_officer(
    username: str,
    full_name: Annotated[str, typer.Option("--full-name")],
    org_unit: Annotated[str, typer.Option("--org-unit", help="Code of the officer's office")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="NOKOR_NEW_OFFICER_PASSWORD")],
    role: Annotated[list[str] | None, typer.Option("--role", help="Role code to grant in the office")] = None,
    locale: Annotated[str, typer.Option(help="km, en, ar or de")] = "km",
    email: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create an officer account (and grant roles within their office)."""
    actor = Actor.system("cli")
    try:
        with cli_session_scope() as session:
            officer = service.create_officer(session, actor, data=OfficerCreate(
                username=username, full_name=full_name, email=email, password=password,
                locale=locale, org_unit_code=org_unit))
            for code in role or []:
                service.grant_role(session, actor, officer_id=officer.id, role_code=code, org_unit_code=org_unit)
    except Problem as problem:
        _fail(problem)
        return
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"officer {officer.username} created")


@app.command("create-role")
def create_role(
    code: str,
    name_en: Annotated[str, typer.Option("--name-en")],
    permission: Annotated[list[str] | None, typer.Option("--permission")] = None,
    name_km: Annotated[str | None, typer.Option("--name-km")] = None,
) -> None:
    """Define a role from named permissions."""
    try:
        with cli_session_scope() as session:
            role = service.create_role(session, Actor.system("cli"), data=RoleCreate(
                code=code, name=LocalizedName(en=name_en, km=name_km), permissions=permission or []))
    except Problem as problem:
        _fail(problem)
        return
    console.print(f"role {role.code} created with {len(role.permissions)} permissions")


@app.command("create-client")
def create_client(
    name: str,
    identity: Annotated[str, typer.Option(help="GovStack client identity INSTANCE/CLASS/MEMBER/SUBSYSTEM")],
    grant: Annotated[list[str] | None, typer.Option("--grant", help="Permission to give the client")] = None,
    org_unit: Annotated[str | None, typer.Option("--org-unit", help="Limit the permissions to this unit")] = None,
) -> None:
    """Register an agency system; its API key is printed alone on the last line (scripts read it)."""
    try:
        with cli_session_scope() as session:
            issued = service.create_api_client(session, Actor.system("cli"), data=ApiClientCreate(
                name=name, identity=identity, permissions=grant or [], org_unit_code=org_unit))
    except Problem as problem:
        _fail(problem)
        return
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"API client {issued.client.name} ({issued.client.identity}) created; the key is shown once:")
    print(issued.api_key)


@app.command("revoke-client")
def revoke_client(identity: str) -> None:
    """Revoke the API key of the client with this identity."""
    with cli_session_scope() as session:
        actor = Actor.system("cli")
        match = next((c for c in service.list_api_clients(session, actor) if c.identity == identity), None)
        if match is None:
            err.print(f"[red]no API client with identity {identity}[/red]")
            raise typer.Exit(2)
        service.revoke_api_client(session, actor, client_id=match.id, reason="revoked from the command line")
    console.print(f"API client {identity} revoked")
