"""``nokor messaging ...``: send a test notification to check the mail server or SMS gateway."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from nokor.db import cli_session_scope
from nokor.kit.actor import Actor
from nokor.kit.errors import Problem
from nokor.messaging import service

app = typer.Typer(help="E-mail and SMS notifications.", no_args_is_help=True)
console = Console()


@app.command("send-test")
def send_test(
    to: Annotated[str, typer.Argument(help="E-mail address or mobile number in international form")],
    locale: Annotated[str, typer.Option(help="Language of the message: km, en, ar or de")] = "en",
) -> None:
    """Queue a test e-mail (or SMS, for a +number); the worker sends it (`nokor worker`)."""
    channel = "sms" if to.strip().startswith("+") else "email"
    try:
        with cli_session_scope() as session:
            sent = service.send_notification(session, Actor.system("cli"), channel=channel, to=to,
                                             template="messaging.test", context={"site": "Nokor"}, locale=locale)
    except Problem as problem:
        console.print(f"[red]{problem.detail or problem.title}[/red]")
        raise typer.Exit(2) from problem
    console.print(f"{channel} to {sent.recipient} queued (outbox message {sent.outbox_message_id})")
