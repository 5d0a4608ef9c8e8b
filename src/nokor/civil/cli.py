"""``nokor civil ...``: commands of the civil register."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nokor.civil import service
from nokor.civil.schemas import CivilRules
from nokor.config import get_settings
from nokor.db import cli_session_scope
from nokor.kit.actor import Actor
from nokor.kit.errors import Problem

app = typer.Typer(help="The civil register: residents, national ID numbers, life events.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)
SHOWN_ERRORS = 50


def _rules() -> CivilRules:
    return CivilRules.from_settings(get_settings())


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def _count_rows(path: Path) -> int:
    with path.open("rb") as raw:
        return max(sum(1 for _ in raw) - 1, 0)


def _fail(problem: Problem) -> None:
    err.print(f"[red]{problem.title}[/red]" + (f" {problem.detail}" if problem.detail else ""))
    for item in (problem.errors or [])[:SHOWN_ERRORS]:
        err.print(f"  {item['pointer']}: {item['detail']}")
    raise typer.Exit(2)


@app.command("check-id")
def check_id(number: str) -> None:
    """Check a national ID number's form and check digit: exit 0 when valid, else 1 with the reasons."""
    reasons = service.check_nin(number.strip(), length=get_settings().civil_nin_length)
    if reasons:
        for reason in reasons:
            console.print(f"[red]{reason}[/red]")
        raise typer.Exit(1)
    console.print(f"{number.strip()}: valid")


@app.command("import")
def import_csv(
    csv_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: given_name, family_name, "
                                             "given_name_latin, family_name_latin, sex, birth_date, village_code, "
                                             "mother_name, father_name")],
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Write the valid rows and report the "
                                               "others (default: one bad row rejects the file)")] = False,
    check_duplicates: Annotated[bool, typer.Option("--check-duplicates/--no-check-duplicates",
                                                   help="Look each row up in the register first and hold "
                                                   "possible duplicates for an officer")] = True,
    report: Annotated[Path | None, typer.Option("--report", dir_okay=False,
                                                help="Write every bad row and field to this CSV")] = None,
    reason: Annotated[str, typer.Option(help="Why the residents are entered (kept in their history)")] = "import",
) -> None:
    """Enter the residents of a CSV file into the register, each with a national ID number."""
    total = _count_rows(csv_file)
    result = None
    try:
        with cli_session_scope() as session, _progress() as progress, csv_file.open(encoding="utf-8-sig",
                                                                                    newline="") as stream:
            task = progress.add_task(f"importing {csv_file.name}", total=total)
            result = service.import_residents(
                session, Actor.system("civil import"), stream=stream, rules=_rules(), skip_invalid=skip_invalid,
                check_duplicates=check_duplicates, reason=reason,
                progress=lambda n: progress.advance(task, n))
    except service.ImportRejected as rejected:
        result = rejected.report
    except Problem as problem:
        _fail(problem)
    assert result is not None
    for error in result.errors[:SHOWN_ERRORS]:
        err.print(f"  row {error.row}, {error.column}: {error.message}")
    if report is not None:
        with report.open("w", encoding="utf-8") as out:
            out.write("row,column,message\n")
            for error in result.errors:
                out.write(f'{error.row},{error.column},"{error.message.replace(chr(34), chr(39))}"\n')
    if result.invalid and not skip_invalid:
        err.print(f"[red]{result.invalid} of {result.rows} rows are not valid; nothing was imported.[/red]")
        raise typer.Exit(1)
    rate = result.written / result.seconds if result.seconds else 0.0
    console.print(f"imported {result.written} of {result.rows} rows ({result.held} held as possible duplicates, "
                  f"{result.invalid} invalid) in {result.seconds:.1f} s ({rate:,.0f} residents/s)")


@app.command("match")
def match(
    csv_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV shaped like the import file")],
    limit: Annotated[int, typer.Option(min=1, max=50, help="Most candidates per row")] = 5,
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Lowest score shown "
                                                    "(default NOKOR_CIVIL_DUPLICATE_THRESHOLD)")] = None,
) -> None:
    """Print, for each row, the likely duplicates among the residents with their scores: one JSON line per row."""
    try:
        with cli_session_scope() as session, csv_file.open(encoding="utf-8-sig", newline="") as stream:
            for line in service.match_rows(session, Actor.system("civil match"), stream=stream, rules=_rules(),
                                           limit=limit, threshold=threshold):
                sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    except Problem as problem:
        _fail(problem)


@app.command("generate")
def generate(
    residents: Annotated[int, typer.Option(min=0, help="Synthetic residents to add (in families)")] = 0,
    seed: Annotated[int, typer.Option(help="Same seed, same people")] = 2026,
    csv_out: Annotated[Path | None, typer.Option("--csv", dir_okay=False, help="Write the residents to this "
                                                 "import CSV instead of entering them")] = None,
    probe: Annotated[Path | None, typer.Option(dir_okay=False, help="Write a CSV of people to look up, with "
                                               "planted duplicates of residents (column duplicate_of)")] = None,
    rows: Annotated[int, typer.Option(min=1, help="Rows of the --probe file")] = 1000,
    duplicate_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of planted duplicates in "
                                                   "the --probe file")] = 0.5,
) -> None:
    """Synthetic residents over real villages (for demos and benchmarks), or a probe file with planted duplicates."""
    if not residents and probe is None:
        err.print("[red]Say --residents N, or --probe FILE.[/red]")
        raise typer.Exit(2)
    system = Actor.system("civil generate")
    try:
        with cli_session_scope() as session:
            if residents and csv_out is not None:
                with csv_out.open("w", encoding="utf-8", newline="") as out:
                    count = service.write_population_csv(session, system, stream=out, residents=residents,
                                                         seed=seed)
                console.print(f"wrote {count} synthetic residents to {csv_out}")
            elif residents:
                with _progress() as progress:
                    task = progress.add_task("generating residents", total=residents)
                    done = service.generate_population(session, system, residents=residents, seed=seed,
                                                       rules=_rules(), progress=lambda n: progress.advance(task, n))
                console.print(f"added {done.residents} residents in {done.households} households, with "
                              f"{done.events} registered events")
            if probe is not None:
                with probe.open("w", encoding="utf-8", newline="") as out:
                    count = service.write_probe_csv(session, system, stream=out, rows=rows, seed=seed,
                                                    duplicate_share=duplicate_share)
                console.print(f"wrote {count} rows to look up to {probe}")
    except Problem as problem:
        _fail(problem)
