"""``nokor``: the command line of the platform; each domain adds its own sub-commands."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from nokor import accounts, civil, exchange, identity, payments, places, registries, services, trust
from nokor.accounts import cli as accounts_cli
from nokor.audit import cli as audit_cli
from nokor.civil import cli as civil_cli
from nokor.config import get_settings
from nokor.db import cli_session_scope
from nokor.exchange import cli as exchange_cli
from nokor.messaging import cli as messaging_cli
from nokor.payments import cli as payments_cli
from nokor.places import cli as places_cli
from nokor.registries import cli as registries_cli
from nokor.services import cli as services_cli
from nokor.trust import cli as trust_cli

app = typer.Typer(help="Nokor digital-government platform.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo country.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(config_app, name="config")
app.add_typer(accounts_cli.app, name="accounts")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(payments_cli.app, name="payments")
app.add_typer(trust_cli.app, name="trust")
app.add_typer(registries_cli.app, name="registries")
app.add_typer(civil_cli.app, name="civil")
app.add_typer(places_cli.app, name="places")
app.add_typer(messaging_cli.app, name="messaging")
app.add_typer(exchange_cli.app, name="exchange")
app.add_typer(services_cli.app, name="services")
outbox_app = typer.Typer(help="Outgoing messages and dead letters.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
console = Console()

ROOT = Path(__file__).resolve().parent.parent.parent


def alembic_config(database_url: str | None = None) -> object:
    """Alembic's configuration, pointing at the migrations shipped with the source tree."""
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["database_url"] = database_url or get_settings().effective_database_url
    return cfg


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Bring the database schema up to date (creates the SQLite file when needed)."""
    from alembic import command

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(), revision)  # type: ignore[arg-type]
    console.print(f"database at {revision}: {settings.describe()[2][1]}")


@demo_app.command("load")
def demo_load() -> None:
    """Create the demo country (organisation units, roles, officers, API clients); safe to run twice."""
    steps = [("administration", accounts.load_demo), ("registries", registries.load_demo),
             ("payments", payments.load_demo), ("trust services", trust.load_demo), ("places", places.load_demo),
             ("civil register", civil.load_demo), ("digital identity", identity.load_demo),
             ("data exchange", exchange.load_demo),
             ("e-services", services.load_demo)]
    printed: list[str] = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("loading the demo country", total=len(steps))
        for label, loader in steps:
            progress.update(task, description=f"loading {label}")
            with cli_session_scope() as session:
                printed += loader(session)
            progress.advance(task)
    for line in printed:
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"demo country loaded: {len(steps)} parts, {len(printed)} new accounts and keys "
                  "(demo passwords are for trying Nokor only)")


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings with secrets masked."""
    table = Table("setting", "value", "meaning")
    for name, value, description in get_settings().describe():
        table.add_row(name, value, description)
    console.print(table)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    with_worker: Annotated[bool, typer.Option("--with-worker/--no-worker",
                                              help="Run the outbox worker in the same process")] = False,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    tls: Annotated[bool, typer.Option("--tls/--no-tls", help="Serve HTTPS with the exchange gateway's certificate, "
                                      "accepting client certificates (mutual TLS) from trusted roots")] = False,
) -> None:
    """Serve the web site and the API with uvicorn (Ctrl-C stops it, and the worker with it)."""
    import uvicorn

    tls_args: dict[str, object] = {}
    if tls:
        tls_args = _tls_arguments()

    stop = threading.Event()
    thread = None
    if with_worker:
        thread = threading.Thread(target=_run_worker, args=(stop,), name="nokor-worker", daemon=True)
        thread.start()
    try:
        uvicorn.run("nokor.app:create_app", factory=True, host=host, port=port, workers=workers,
                    proxy_headers=True, forwarded_allow_ips=get_settings().trusted_proxies, log_level="warning",
                    **tls_args)  # type: ignore[arg-type]
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=15)


def _tls_arguments() -> dict[str, object]:
    """uvicorn's TLS settings from the exchange gateway's credentials (made by `nokor exchange init`)."""
    import ssl

    from nokor.exchange.credentials import load_credentials, unencrypted_key_file
    from nokor.exchange.tls import MutualTlsProtocol

    settings = get_settings()
    credentials = load_credentials(settings)
    if credentials is None:
        console.print("[red]No gateway certificate yet: run `nokor exchange init` first.[/red]")
        raise typer.Exit(2)
    return {"ssl_certfile": str(credentials.fullchain_path),
            "ssl_keyfile": str(unencrypted_key_file(settings, credentials)),
            "ssl_ca_certs": str(credentials.root_path), "ssl_cert_reqs": ssl.CERT_OPTIONAL,
            "http": MutualTlsProtocol}


def _run_worker(stop: threading.Event) -> None:
    from nokor import messaging
    from nokor.db import make_engine, make_session_factory
    from nokor.worker import Worker

    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    factory = make_session_factory(engine)
    worker = Worker(settings, factory)
    for channel, deliverer in messaging.deliverers(settings, factory).items():
        worker.register(channel, deliverer)
    worker.run_forever(stop)


@app.command("worker")
def worker() -> None:
    """Deliver the outbox: webhooks, e-mail and SMS (Ctrl-C stops it)."""
    from nokor.kit.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    _run_worker(threading.Event())


@outbox_app.command("list")
def outbox_list(
    status: Annotated[str | None, typer.Option(help="pending, delivered or dead")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 50,
) -> None:
    """List outgoing messages, newest first."""
    from nokor import backoffice
    from nokor.kit.actor import Actor
    from nokor.kit.errors import Problem

    try:
        with cli_session_scope() as session:
            page = backoffice.list_outgoing_messages(session, Actor.system("cli"), status=status, limit=limit)
    except Problem as problem:
        console.print(f"[red]{problem.title}[/red]")
        raise typer.Exit(2) from problem
    table = Table("id", "created", "channel", "destination", "attempts", "status", "last error")
    for m in page.items:
        table.add_row(str(m.id), m.created_at.isoformat(timespec="seconds"), m.channel, m.destination,
                      str(m.attempts), m.status, (m.last_error or "")[:80])
    console.print(table)
    console.print(f"{len(page.items)} messages shown")


@outbox_app.command("retry")
def outbox_retry(message_id: str, reason: Annotated[str | None, typer.Option()] = None) -> None:
    """Send a dead letter again."""
    import uuid

    from nokor import backoffice
    from nokor.kit.actor import Actor
    from nokor.kit.errors import Problem

    try:
        with cli_session_scope() as session:
            message = backoffice.retry_dead_letter(session, Actor.system("cli"), message_id=uuid.UUID(message_id),
                                                   reason=reason)
    except (Problem, ValueError) as problem:
        console.print(f"[red]{getattr(problem, 'detail', None) or getattr(problem, 'title', problem)}[/red]")
        raise typer.Exit(2) from problem
    console.print(f"message {message.id} queued again")
