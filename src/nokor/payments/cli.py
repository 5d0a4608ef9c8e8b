"""``nokor payments ...``: QR codes, the sandbox bank, settlement reconciliation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nokor.payments import emvqr
from nokor.payments.images import qr_png, qr_svg

app = typer.Typer(help="Government payments: QR codes, sandbox bank, reconciliation.", no_args_is_help=True)
qr_app = typer.Typer(help="EMVCo / KHQR payment QR codes.", no_args_is_help=True)
app.add_typer(qr_app, name="qr")
console = Console()
err = Console(stderr=True)


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO time: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@qr_app.command("decode")
def qr_decode(
    payload: str,
    strict: Annotated[bool, typer.Option("--strict", help="Check every EMVCo and scheme rule")] = False,
    at: Annotated[str | None, typer.Option("--at", help="ISO time to judge expiry against (default: now)")] = None,
) -> None:
    """Print the decoded fields as JSON; exit 1 with the broken rules when the payload is invalid."""
    moment = _moment(at)
    try:
        qr = emvqr.decode(payload)
    except emvqr.InvalidQr as exc:
        typer.echo(json.dumps({"valid": False, "broken_rules": [r.as_json() for r in exc.rules]},
                              ensure_ascii=False, indent=2))
        raise typer.Exit(1) from exc
    out = qr.as_json()
    rules = emvqr.validate(qr, at=moment) if strict else []
    out["valid"] = not rules
    if strict:
        out["broken_rules"] = [r.as_json() for r in rules]
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    if rules:
        raise typer.Exit(1)


@qr_app.command("image")
def qr_image(
    payload: str,
    out: Annotated[Path, typer.Option("--out", help="File to write: .svg or .png")],
) -> None:
    """Draw the payload's QR code as SVG or PNG."""
    if out.suffix.lower() == ".png":
        out.write_bytes(qr_png(payload))
    else:
        out.write_text(qr_svg(payload), encoding="utf-8")
    console.print(f"QR image written to {out}")
