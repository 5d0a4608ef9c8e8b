"""``nokor audit ...``: seal written entries into the hash chain and check it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from nokor.audit import service
from nokor.config import get_settings
from nokor.db import cli_session_scope, make_engine, make_session_factory

app = typer.Typer(help="The audit trail.", no_args_is_help=True)
console = Console()


def _seal_all() -> int:
    engine = make_engine(get_settings().effective_database_url)
    try:
        return service.seal_all(make_session_factory(engine))
    finally:
        engine.dispose()


@app.command("seal")
def seal() -> None:
    """Seal every entry written so far into the hash chain (the worker does this every few seconds)."""
    sealed = _seal_all()
    console.print(f"{sealed} entries sealed into the audit chain")


@app.command("verify")
def verify(
    seal_first: Annotated[bool, typer.Option("--seal/--no-seal",
                                             help="Seal waiting entries into the chain before checking")] = True,
) -> None:
    """Check the hash chain of the audit trail; exits 1 and names the first broken entry.

    Entries that are not sealed yet are checked against their own content hash.
    """
    sealed = _seal_all() if seal_first else 0
    with cli_session_scope() as session:
        report = service.verify_chain(session)
    if report.ok:
        console.print(f"audit chain holds: {report.count} entries verified"
                      + (f" ({sealed} sealed just now)" if sealed else "")
                      + (f", {report.unsealed} not yet sealed" if report.unsealed else ""))
        return
    where = f"entry {report.broken_seq}" if report.broken_seq is not None else "an entry not yet sealed"
    console.print(
        f"[red]audit chain broken[/red] at {where}"
        + (f" (id {report.broken_id})" if report.broken_id else "")
        + f": {report.problem}; {report.count} entries before it verified"
    )
    raise typer.Exit(1)
