"""``nokor audit ...``: check the hash chain."""

from __future__ import annotations

import typer
from rich.console import Console

from nokor.audit import service
from nokor.db import cli_session_scope

app = typer.Typer(help="The audit trail.", no_args_is_help=True)
console = Console()


@app.command("verify")
def verify() -> None:
    """Check the hash chain of the audit trail; exits 1 and names the first broken entry."""
    with cli_session_scope() as session:
        report = service.verify_chain(session)
    if report.ok:
        console.print(f"audit chain holds: {report.count} entries verified")
        return
    console.print(
        f"[red]audit chain broken[/red] at entry {report.broken_seq}"
        + (f" (id {report.broken_id})" if report.broken_id else "")
        + f": {report.problem}; {report.count} entries before it verified"
    )
    raise typer.Exit(1)
