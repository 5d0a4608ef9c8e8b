"""``nokor services ...``: the catalogue and its statistics from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nokor.db import cli_session_scope
from nokor.services import service

app = typer.Typer(help="E-services: the catalogue and its statistics.", no_args_is_help=True)
console = Console()


@app.command("list")
def list_services(query: Annotated[str, typer.Argument(help="Words to look for, in any language")] = "") -> None:
    """The published services (code, name, version, fee, processing days)."""
    with cli_session_scope() as session:
        found = service.list_services(session, query=query)
    table = Table("code", "name", "version", "fee", "days", "four eyes")
    for s in found:
        fee = f"{s.fee.amount_minor} {s.fee.currency}" if s.fee else "—"
        table.add_row(s.code, s.name.get("en") or next(iter(s.name.values())), str(s.version), fee,
                      str(s.processing_days), "yes" if s.four_eyes else "no")
    console.print(table)
    console.print(f"{len(found)} services")


@app.command("stats")
def stats() -> None:
    """Applications, decisions, overdue, average days and satisfaction per service."""
    with cli_session_scope() as session:
        rows = service.service_statistics(session)
    table = Table("service", "applications", "open", "overdue", "approved", "rejected", "avg days", "rating")
    for r in rows:
        table.add_row(r.service_code, str(r.submitted), str(r.open), str(r.overdue), str(r.approved),
                      str(r.rejected), "—" if r.average_days is None else str(r.average_days),
                      "—" if r.average_rating is None else f"{r.average_rating}/5")
    console.print(table)
    console.print(f"{len(rows)} services, {sum(r.submitted for r in rows)} applications")
