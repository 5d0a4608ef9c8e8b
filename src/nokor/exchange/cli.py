"""``nokor exchange ...``: the data exchange from the command line."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nokor.config import get_settings
from nokor.db import cli_session_scope
from nokor.exchange import evidence, operations, pubsub, service
from nokor.exchange.credentials import ensure_credentials
from nokor.exchange.schemas import AccessRightCreate, Endpoint, MemberCreate, PeerCreate, ServiceCreate, SubsystemCreate
from nokor.kit.actor import Actor
from nokor.kit.errors import Problem
from nokor.kit.time import utcnow

app = typer.Typer(help="Data exchange between agencies (X-Road style) and publish/subscribe.", no_args_is_help=True)
console = Console()
ACTOR = Actor.system("cli")


def _fail(problem: Problem) -> typer.Exit:
    details = "; ".join(f"{e['pointer']}: {e['detail']}" for e in problem.errors or [])
    console.print(f"[red]{problem.detail or problem.title}[/red] {details}", highlight=False)
    return typer.Exit(2)


@app.command("init")
def init() -> None:
    """Make the gateway's key and certificate (needs `nokor trust init`) and the civil events room."""
    settings = get_settings()
    try:
        with cli_session_scope() as session:
            credentials = ensure_credentials(session, settings)
            room = pubsub.ensure_civil_room(session, settings)
            operations.refresh_trusted_roots(session, settings)
    except Problem as problem:
        raise _fail(problem) from problem
    serial = format(credentials.certificate.serial_number, "x")
    console.print(f"gateway {settings.gateway_identity}: certificate {serial}"
                  f" in {credentials.cert_path.parent}; civil events room {room}", highlight=False)


@app.command("add-member")
def add_member(identifier: Annotated[str, typer.Argument(help="INSTANCE/CLASS/CODE")],
               name: Annotated[str, typer.Option(help="The organisation's name")]) -> None:
    """Register a member organisation."""
    parts = identifier.split("/")
    if len(parts) != 3:
        console.print("[red]A member is INSTANCE/CLASS/CODE.[/red]")
        raise typer.Exit(2)
    try:
        with cli_session_scope() as session:
            service.create_member(session, ACTOR, data=MemberCreate(instance=parts[0], member_class=parts[1],
                                                                    member_code=parts[2], name=name),
                                  instance=get_settings().exchange_instance)
    except Problem as problem:
        raise _fail(problem) from problem
    console.print(f"member {identifier} registered", highlight=False)


@app.command("add-subsystem")
def add_subsystem(identifier: Annotated[str, typer.Argument(help="INSTANCE/CLASS/MEMBER/SUBSYSTEM")],
                  name: Annotated[str, typer.Option(help="What the system is")],
                  room: Annotated[bool, typer.Option("--room", help="A publish/subscribe room")] = False,
                  publisher: Annotated[list[str] | None, typer.Option(help="May publish in the room")] = None) -> None:
    """Add a subsystem (an agency system) or a publish/subscribe room to a member."""
    member, _sep, code = identifier.rpartition("/")
    try:
        with cli_session_scope() as session:
            service.create_subsystem(session, ACTOR, data=SubsystemCreate(member=member, code=code, name=name,
                                                                          is_room=room, publishers=publisher or []))
    except Problem as problem:
        raise _fail(problem) from problem
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"{'room' if room else 'subsystem'} {identifier} added", highlight=False)


@app.command("publish")
def publish(subsystem: Annotated[str, typer.Argument(help="INSTANCE/CLASS/MEMBER/SUBSYSTEM of the provider")],
            code: Annotated[str, typer.Argument(help="Service code")],
            url: Annotated[str, typer.Option(help="Provider's base address (or nokor:/path for a Nokor API)")],
            title: Annotated[str, typer.Option(help="What the service gives")],
            openapi: Annotated[Path | None, typer.Option(help="OpenAPI description (JSON)")] = None,
            endpoint: Annotated[list[str] | None, typer.Option(help="'METHOD /path/pattern', repeatable")] = None,
            log_bodies: Annotated[bool, typer.Option(help="Keep request and response bodies in the log")] = False,
            timeout: Annotated[float, typer.Option(help="Seconds before the call fails")] = 30.0) -> None:
    """Publish a REST service through the gateway (nobody may call it before `grant`)."""
    try:
        endpoints = [Endpoint(method=e.split(" ", 1)[0], path=e.split(" ", 1)[1] if " " in e else "*")
                     for e in endpoint or []]
        document = json.loads(openapi.read_text()) if openapi else None
        with cli_session_scope() as session:
            made = service.publish_service(session, ACTOR, data=ServiceCreate(
                subsystem=subsystem, code=code, title=title, base_url=url, openapi=document, endpoints=endpoints,
                log_bodies=log_bodies, timeout_seconds=timeout))
    except Problem as problem:
        raise _fail(problem) from problem
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    console.print(f"service {made.subsystem}/{made.code} published ({len(made.endpoints)} endpoints)",
                  highlight=False)


@app.command("grant")
def grant(service_id: Annotated[str, typer.Argument(help="INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE")],
          subject: Annotated[str, typer.Argument(help="INSTANCE/CLASS/MEMBER/SUBSYSTEM or group:CODE")],
          method: Annotated[str, typer.Option(help="HTTP method or *")] = "*",
          path: Annotated[str, typer.Option(help="Path pattern (* one segment, ** the rest) or *")] = "*") -> None:
    """Allow a subsystem or a group to call a service (or one endpoint of it)."""
    try:
        with cli_session_scope() as session:
            service.grant_access(session, ACTOR, data=AccessRightCreate(service=service_id, subject=subject,
                                                                        method=method, path=path))
    except Problem as problem:
        raise _fail(problem) from problem
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    console.print(f"{subject} may {method} {path} on {service_id}", highlight=False)


@app.command("services")
def services() -> None:
    """List published services and who may call them."""
    with cli_session_scope() as session:
        found = service.list_services(session)
        rights = service.list_access_rights(session)
    table = Table("service", "provider", "endpoints", "allowed")
    for item in found:
        allowed = [f"{r.subject} {r.method} {r.path}" for r in rights if r.service == item.identifier]
        table.add_row(item.identifier, item.base_url, str(len(item.endpoints)), "\n".join(allowed) or "-")
    console.print(table)
    console.print(f"{len(found)} services")


@app.command("anchor")
def anchor(out: Annotated[Path | None, typer.Option(help="Write it to this file")] = None) -> None:
    """Print this instance's trust anchor (JSON) for another instance to import with `trust`."""
    settings = get_settings()
    try:
        with cli_session_scope() as session:
            ensure_credentials(session, settings)
            found = operations.trust_anchor(session, settings)
    except Problem as problem:
        raise _fail(problem) from problem
    text = json.dumps(found, indent=2)
    if out:
        out.write_text(text)
        console.print(f"trust anchor of {found['instance']} written to {out}", highlight=False)
    else:
        print(text)


@app.command("trust")
def trust_peer(anchor_file: Annotated[Path, typer.Argument(help="Another instance's anchor (from `anchor`)")],
               gateway_url: Annotated[str | None, typer.Option(help="Its gateway's address, if not the anchor's")]
               = None) -> None:
    """Trust another instance's root and gateway (federation); a running `serve --tls` accepts its calls
    from its next connection on, without a restart."""
    settings = get_settings()
    try:
        found = json.loads(anchor_file.read_text())
        data = PeerCreate(instance=found["instance"], gateway_url=gateway_url or found["gateway_url"],
                          server_identity=found["server_identity"], root_pem=found["root_pem"])
        with cli_session_scope() as session:
            service.add_peer(session, ACTOR, data=data, own_instance=settings.exchange_instance)
            operations.refresh_trusted_roots(session, settings)
    except Problem as problem:
        raise _fail(problem) from problem
    except (ValueError, KeyError, OSError) as exc:
        console.print(f"[red]not a trust anchor: {exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    console.print(f"instance {data.instance} trusted (gateway {data.gateway_url})", highlight=False)


@app.command("archive")
def archive(older_than_days: Annotated[int | None, typer.Option(help="Default: NOKOR_EXCHANGE_LOG_RETENTION_DAYS")]
            = None, out: Annotated[Path | None, typer.Option(help="Folder for the container")] = None,
            keep: Annotated[bool, typer.Option(help="Keep the records in the database too")] = False) -> None:
    """Move sealed message-log batches older than the retention period into a signed evidence container."""
    settings = get_settings()
    days = settings.exchange_log_retention_days if older_than_days is None else older_than_days
    folder = out or settings.exchange_archive_dir or settings.data_dir / "exchange" / "archive"
    with cli_session_scope() as session:
        path, records, batches = evidence.archive_log(session, settings, before=utcnow() - timedelta(days=days),
                                                      folder=folder, delete_archived=not keep)
    if path is None:
        console.print(f"nothing older than {days} days to archive")
        return
    console.print(f"{records} records in {batches} batches archived to {path}", highlight=False)


@app.command("verify-archive")
def verify_archive(container: Annotated[Path, typer.Argument(help="An evidence container (.zip)")],
                   root: Annotated[Path | None, typer.Option(help="The root certificate (PEM) you trust")] = None
                   ) -> None:
    """Check an evidence container offline; exits 1 and names every altered record when it does not hold."""
    report = evidence.verify_archive(container, root_pem=root.read_bytes() if root else None)
    for problem in report.problems:
        console.print(f"[red]✗[/red] {problem}", highlight=False, soft_wrap=True)
    if report.holds:
        console.print(f"holds: {report.records} records, {report.batches} signed batches, "
                      f"{report.timestamps} timestamps", highlight=False)
        return
    console.print(f"does NOT hold: {len(report.problems)} problems in {report.records} records", highlight=False)
    raise typer.Exit(1)


@app.command("stats")
def stats(hours: Annotated[int, typer.Option(help="Period")] = 24) -> None:
    """Calls, errors and latencies per service."""
    with cli_session_scope() as session:
        found = operations.service_stats(session, ACTOR, hours=hours)
    table = Table("service", "calls", "errors", "mean ms", "p95 ms", "max ms")
    for row in found:
        table.add_row(row.service, str(row.calls), str(row.errors), f"{row.mean_ms:.1f}", f"{row.p95_ms:.1f}",
                      f"{row.max_ms:.1f}")
    console.print(table)
    console.print(f"{sum(r.calls for r in found)} calls in the last {hours} hours")
