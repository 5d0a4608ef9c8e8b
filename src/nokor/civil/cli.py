"""``nokor civil ...``: commands of the civil register."""

from __future__ import annotations

import typer
from rich.console import Console

from nokor.civil import service
from nokor.config import get_settings

app = typer.Typer(help="The civil register: residents, national ID numbers, life events.", no_args_is_help=True)
console = Console()


@app.command("check-id")
def check_id(number: str) -> None:
    """Check a national ID number's form and check digit: exit 0 when valid, else 1 with the reasons."""
    reasons = service.check_nin(number.strip(), length=get_settings().civil_nin_length)
    if reasons:
        for reason in reasons:
            console.print(f"[red]{reason}[/red]")
        raise typer.Exit(1)
    console.print(f"{number.strip()}: valid")
