"""``nokor registries ...``: define registries, import and export their records from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from nokor.db import cli_session_scope
from nokor.kit.actor import Actor
from nokor.kit.errors import Problem
from nokor.registries import bulk, service
from nokor.registries.schemas import LocalizedText, RegistryCreate

app = typer.Typer(help="Registries: schemas, records, import and export.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)
SHOWN_ERRORS = 50


def _fail(problem: Problem) -> None:
    err.print(f"[red]{problem.title}[/red]" + (f" {problem.detail}" if problem.detail else ""))
    for item in (problem.errors or [])[:SHOWN_ERRORS]:
        err.print(f"  {item['pointer']}: {item['detail']}")
    if len(problem.errors or []) > SHOWN_ERRORS:
        err.print(f"  … and {len(problem.errors or []) - SHOWN_ERRORS} more")
    raise typer.Exit(2)


@app.command("create")
def create(
    name: str,
    schema: Annotated[Path, typer.Option("--schema", exists=True, dir_okay=False, help="JSON Schema file")],
    title_en: Annotated[str | None, typer.Option("--title-en", help="Title in English")] = None,
    title_km: Annotated[str | None, typer.Option("--title-km", help="Title in Khmer")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Code of the owning organisation unit")] = None,
    publish: Annotated[bool, typer.Option("--publish", help="Publish the schema at once")] = False,
) -> None:
    """Define a registry from a JSON Schema file (draft 2020-12), and publish it with --publish."""
    try:
        json_schema = json.loads(schema.read_text(encoding="utf-8"))
    except ValueError as exc:
        err.print(f"[red]{schema} is not valid JSON: {exc}[/red]")
        raise typer.Exit(2) from exc
    actor = Actor.system("cli")
    try:
        with cli_session_scope() as session:
            service.create_registry(session, actor, data=RegistryCreate(
                name=name, title=LocalizedText(en=title_en or name, km=title_km), owner_org_unit_code=owner,
                json_schema=json_schema))
            if publish:
                service.publish_version(session, actor, name=name)
    except Problem as problem:
        _fail(problem)
        return
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"registry {name} created" + (", version 1.0 published" if publish else " with a draft schema"))


@app.command("publish")
def publish(name: str) -> None:
    """Publish the registry's schema draft."""
    try:
        with cli_session_scope() as session:
            version = service.publish_version(session, Actor.system("cli"), name=name)
    except Problem as problem:
        _fail(problem)
        return
    console.print(f"registry {name} version {version.version} published")


@app.command("list")
def list_registries() -> None:
    """List the registries with their versions and record counts."""
    actor = Actor.system("cli")
    table = Table("name", "title", "state", "current version", "records")
    with cli_session_scope() as session:
        for registry in service.list_registries(session, actor):
            count = service.count_records(session, actor, name=registry.name) if registry.current_version else 0
            table.add_row(registry.name, registry.title.get("en") or next(iter(registry.title.values()), ""),
                          registry.state, registry.current_version or "—", str(count))
    console.print(table)


@app.command("grant")
def grant(name: str, identity: str,
          write: Annotated[bool, typer.Option("--write", help="Also let the system write records")] = False) -> None:
    """Let an agency system (by its client identity) read, or with --write also write, a registry."""
    try:
        with cli_session_scope() as session:
            service.grant_access(session, Actor.system("cli"), name=name, client_identity=identity, can_write=write)
    except Problem as problem:
        _fail(problem)
        return
    console.print(f"{identity} may now {'read and write' if write else 'read'} registry {name}")


@app.command("import")
def import_file(
    name: str,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .csv or .jsonl file")],
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid",
                                               help="Write the valid rows; put the others in a reject file")] = False,
    reject_file: Annotated[Path | None, typer.Option("--reject-file", help="Where rejected rows go")] = None,
    version: Annotated[str | None, typer.Option(help="Schema version (the newest published by default)")] = None,
    reason: Annotated[str | None, typer.Option(help="Why these records are imported")] = None,
) -> None:
    """Import records: every row is checked; all or nothing unless --skip-invalid."""
    size = file.stat().st_size
    try:
        with Progress(TextColumn("[bold]importing {task.fields[name]}"), BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True) as progress:
            task = progress.add_task("import", total=size, name=file.name)
            with cli_session_scope() as session:
                report = bulk.import_file(session, Actor.system("cli"), name=name, path=file, version=version,
                                          skip_invalid=skip_invalid, reject_path=reject_file, reason=reason,
                                          progress=lambda done: progress.update(task, completed=done),
                                          fork=True)  # the progress bar's thread shares nothing with it
    except bulk.ImportRejected as rejected:
        shown = rejected.report
        err.print(f"[red]{shown.rejected} of {shown.rows_read} rows are not valid; nothing was imported.[/red]")
        for error in shown.errors[:SHOWN_ERRORS]:
            err.print(f"  row {error.row} {error.pointer}: {error.message}")
        if len(shown.errors) > SHOWN_ERRORS or shown.errors_truncated:
            err.print("  … and more; use --skip-invalid to write the valid rows and get every rejected one in a "
                      "reject file")
        raise typer.Exit(2) from rejected
    except Problem as problem:
        _fail(problem)
        return
    rate = report.written / report.seconds if report.seconds else 0
    console.print(f"{report.written} records imported into {name} {report.version}, {report.rejected} rejected "
                  f"({report.rows_read} rows read in {report.seconds:.1f} s, {rate:,.0f} records/s)"
                  + (f"; rejected rows in {report.reject_file}" if report.reject_file else ""))


@app.command("export")
def export(
    name: str,
    file: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write; the format follows the suffix")],
    purpose: Annotated[str | None, typer.Option(help="Why personal data is exported (else it is left out)")] = None,
) -> None:
    """Export the live records to .csv, .jsonl or .parquet, a batch at a time."""
    suffix = file.suffix.lower().lstrip(".")
    if suffix not in ("csv", "jsonl", "parquet"):
        err.print("[red]use a .csv, .jsonl or .parquet file name[/red]")
        raise typer.Exit(2)
    written = 0
    try:
        with cli_session_scope() as session:
            actor = Actor.system("cli")
            total = service.count_records(session, actor, name=name)
            with Progress(console=console, transient=True) as progress, file.open("wb") as out:
                task = progress.add_task(f"exporting {name}", total=max(total, 1))
                for chunk in bulk.export_records(session, actor, name=name, fmt=suffix,  # type: ignore[arg-type]
                                                 purpose=purpose):
                    out.write(chunk)
                    written += len(chunk)
                    progress.update(task, advance=chunk.count(b"\n") if suffix != "parquet" else 0)
    except Problem as problem:
        _fail(problem)
        return
    console.print(f"{total} records of {name} exported to {file} ({written:,} bytes)")
