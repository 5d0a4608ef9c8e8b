"""``nokor payments ...``: QR codes, the sandbox bank, settlement reconciliation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

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


@app.command("sandbox-bank")
def sandbox_bank(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 8070,
    callback_url: Annotated[str | None, typer.Option(help="Where to send payment callbacks")] = None,
    secret: Annotated[str | None, typer.Option(envvar="NOKOR_PAYMENTS_WEBHOOK_SECRET",
                                               help="HMAC secret (default: derived like Nokor's)")] = None,
    late_seconds: Annotated[float, typer.Option(help="Delay of a 'late' callback")] = 2.0,
    chaos: Annotated[float, typer.Option(help="Share of payments called back late, twice or out of order")] = 0.3,
) -> None:
    """Run the sandbox bank on loopback: it pays QR codes and calls Nokor back (Ctrl-C stops it)."""
    import uvicorn

    from nokor.config import get_settings
    from nokor.payments.sandbox import SandboxBank, create_sandbox_app
    from nokor.payments.service import webhook_secret

    settings = get_settings()
    configured = settings.payments_webhook_secret.get_secret_value() if settings.payments_webhook_secret else None
    bank = SandboxBank(
        callback_url=callback_url or settings.base_url.rstrip("/") + "/api/v1/payments/callbacks/sandbox",
        secret=secret or webhook_secret(configured, settings.effective_secret_key),
        late_seconds=late_seconds, chaos=chaos)
    console.print(f"sandbox bank: http://127.0.0.1:{port}  (callbacks to {bank.callback_url})")
    uvicorn.run(create_sandbox_app(bank), host="127.0.0.1", port=port, log_level="warning")


@app.command("reconcile")
def reconcile_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Settlement CSV of the provider")],
    provider: Annotated[str, typer.Option(help="Provider whose payments the file settles")] = "sandbox",
) -> None:
    """Match a provider's settlement file against the payments and keep the report (streams any size)."""
    import hashlib

    from rich.progress import Progress, SpinnerColumn, TextColumn

    from nokor.db import cli_session_scope
    from nokor.kit.actor import Actor
    from nokor.kit.errors import Problem
    from nokor.payments import service

    digest = hashlib.sha256()
    with file.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True) as bar, \
                cli_session_scope() as session, file.open(encoding="utf-8", newline="") as lines:
            task = bar.add_task("reading the settlement file")
            report = service.reconcile_settlement(
                session, Actor.system("cli"), provider=provider, filename=file.name, lines=lines,
                file_sha256=digest.hexdigest(),
                progress=lambda n: bar.update(task, description=f"{n:,} lines read"))
    except Problem as problem:
        err.print(f"[red]{problem.detail or problem.title}[/red]")
        for item in problem.errors or []:
            err.print(f"  {item['detail']}")
        raise typer.Exit(2) from problem
    table = Table("kind", "count")
    for kind in ("matched", "missing", "unexpected", "amount_mismatch", "duplicate", "unreadable"):
        table.add_row(kind, f"{report.counts.get(kind, 0):,}")
    console.print(table)
    console.print(f"reconciliation {report.id}: {report.lines:,} lines of {file.name} against {provider}; "
                  f"settled {report.counts.get('settled_minor', {})} (minor units)")


@app.command("check-open")
def check_open(limit: Annotated[int, typer.Option(help="Open bills asked about at most")] = 500) -> None:
    """Ask the Bakong-style provider whether open bills were paid (for callbacks that never came)."""
    from nokor.config import get_settings
    from nokor.db import cli_session_scope
    from nokor.kit.actor import Actor
    from nokor.payments import service
    from nokor.payments.providers import BakongClient, ProviderUnavailable

    settings = get_settings()
    token = settings.payments_bakong_token.get_secret_value() if settings.payments_bakong_token else None
    client = BakongClient(settings.payments_bakong_url, token=token)
    try:
        with cli_session_scope() as session:
            outcomes = service.check_open_bills(session, Actor.system("cli"), provider=client, limit=limit)
    except ProviderUnavailable as exc:
        err.print(f"[red]the provider did not answer: {exc}[/red]")
        raise typer.Exit(2) from exc
    finally:
        client.close()
    applied = sum(o.outcome == "applied" for o in outcomes)
    console.print(f"{len(outcomes)} payments found, {applied} bills paid now")


@app.command("expire-bills")
def expire() -> None:
    """Mark open bills past their due date as expired."""
    from nokor.db import cli_session_scope
    from nokor.kit.actor import Actor
    from nokor.payments import service

    with cli_session_scope() as session:
        count = service.expire_bills(session, Actor.system("cli"))
    console.print(f"{count} bills expired")
