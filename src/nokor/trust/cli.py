"""``nokor trust ...``: create the CA hierarchy, sign and verify files, manage certificate status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nokor import accounts
from nokor.config import get_settings
from nokor.db import cli_session_scope
from nokor.kit.actor import Actor
from nokor.kit.errors import Problem
from nokor.trust import service
from nokor.trust.keyring import key_ring
from nokor.trust.schemas import VerificationReport

app = typer.Typer(help="Trust services: PKI, PDF and JSON signatures, timestamps, revocation.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)
CLI = Actor.system("cli")


def _fail(problem: Problem) -> None:
    err.print(f"[red]{problem.title}[/red]" + (f" {problem.detail}" if problem.detail else ""))
    for item in problem.errors or []:
        err.print(f"  {item['pointer']}: {item['detail']}")
    raise typer.Exit(2)


@app.command("init")
def init(
    organisation: Annotated[str | None, typer.Option(help="Organisation named in the CA certificates")] = None,
) -> None:
    """Create the root CA, the issuing CAs, the TSA certificate and the platform seal (never overwrites)."""
    try:
        with cli_session_scope() as session:
            made = service.init_hierarchy(session, CLI, ring=key_ring(get_settings()), organisation=organisation)
    except Problem as problem:
        _fail(problem)
        return
    table = Table("kind", "serial", "subject", "valid until")
    for cert in (made.root, *made.issuing, made.tsa, made.platform_seal):
        table.add_row(cert.kind, cert.serial, cert.subject, cert.not_after.date().isoformat())
    console.print(table)
    console.print(f"trust hierarchy created: {2 + len(made.issuing) + 1} certificates, keys in "
                  f"{get_settings().trust_key_backend} store")


def _org_unit_id(session: object, code: str | None) -> object:
    if code is None:
        return None
    for unit in accounts.list_org_units(session, CLI):  # type: ignore[arg-type]
        if unit.code == code:
            return unit.id
    err.print(f"[red]There is no organisation unit {code}.[/red]")
    raise typer.Exit(2)


@app.command("sign-pdf")
def sign_pdf(
    source: Annotated[Path, typer.Argument(help="PDF to sign", exists=True, dir_okay=False, readable=True)],
    target: Annotated[Path, typer.Argument(help="Where to write the signed PDF")],
    org: Annotated[str | None, typer.Option(
        help="Code of the organisation unit whose seal signs; default: the platform seal")] = None,
    lta: Annotated[bool, typer.Option(
        "--lta", help="PAdES B-LTA (archive timestamp), for documents that live for decades")] = False,
    reason: Annotated[str | None, typer.Option(help="Reason written into the signature")] = None,
    language: Annotated[str | None, typer.Option(
        help="Language of the visible stamp: km, en, ar or de (English is added under the others)")] = None,
) -> None:
    """Seal a PDF as PAdES B-LT (or B-LTA) with a visible stamp and a QR code to the verification page."""
    if target.exists():
        err.print(f"[red]{target} exists already; choose another file name.[/red]")
        raise typer.Exit(2)
    try:
        with cli_session_scope() as session:
            unit_id = _org_unit_id(session, org)
            signed = service.sign_pdf(session, CLI, ring=key_ring(get_settings()), data=source.read_bytes(),
                                      org_unit_id=unit_id, level="B-LTA" if lta else "B-LT",  # type: ignore[arg-type]
                                      document_name=source.name, reason=reason, language=language)
    except Problem as problem:
        _fail(problem)
        return
    target.write_bytes(signed.pdf)
    console.print(f"signed {source} → {target} ({signed.record.level}, {signed.record.signer_name}); "
                  f"verify at {service.verify_url(key_ring(get_settings()), signed.record.id)}")


def _print_report(report: VerificationReport) -> None:
    for check in report.signatures:
        mark = "[green]valid[/green]" if check.valid else "[red]NOT VALID[/red]"
        when = check.signed_at.isoformat(timespec="seconds") if check.signed_at else "unknown time"
        proof = "timestamped" if check.time_proven_by_timestamp else "time as claimed"
        console.print(f"{mark}  {check.signer}  {when} ({proof})  intact: {'yes' if check.intact else 'no'}")
        for problem in check.problems:
            console.print(f"    why: {problem.message}")
        for note in check.notes:
            console.print(f"    note: {note.message}")
    console.print(report.summary)


@app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="A signed PDF, or a file holding a compact JWS", exists=True,
                                         dir_okay=False, readable=True)],
    payload: Annotated[Path | None, typer.Option(help="For a detached JWS: the signed content")] = None,
) -> None:
    """Check a signed PDF or JWS; exits 1 when a signature does not hold (and says why), 2 on bad input."""
    data = file.read_bytes()
    try:
        with cli_session_scope() as session:
            if data.lstrip()[:5] == b"%PDF-" or file.suffix.lower() == ".pdf":
                report = service.verify_pdf(session, data=data)
            else:
                report = service.verify_jws(session, token=data.decode("utf-8", "replace").strip(),
                                            payload=payload.read_bytes() if payload else None)
    except Problem as problem:
        _fail(problem)
        return
    _print_report(report)
    if not report.holds:
        raise typer.Exit(1)


@app.command("revoke")
def revoke(
    serial: Annotated[str, typer.Argument(help="Serial number (hex) of the certificate")],
    reason: Annotated[str, typer.Option(help="unspecified, key_compromise, affiliation_changed, superseded or "
                                             "cessation_of_operation")] = "unspecified",
) -> None:
    """Revoke a certificate; its CA's CRL is regenerated at once."""
    try:
        with cli_session_scope() as session:
            cert = service.set_certificate_status(session, CLI, ring=key_ring(get_settings()), serial=serial,
                                                  status="revoked", revocation_reason=reason, reason=reason)
    except Problem as problem:
        _fail(problem)
        return
    console.print(f"certificate {cert.serial} revoked")


@app.command("issue-seal")
def issue_seal(org: Annotated[str, typer.Argument(help="Code of the organisation unit")],
               name: Annotated[str, typer.Option(help="Organisation name written in the certificate")]) -> None:
    """Give an organisation unit its seal (key and document-signing certificate)."""
    try:
        with cli_session_scope() as session:
            unit_id = _org_unit_id(session, org)
            cert = service.issue_seal_certificate(session, CLI, ring=key_ring(get_settings()),
                                                  org_unit_id=unit_id, organisation_name=name)  # type: ignore[arg-type]
    except Problem as problem:
        _fail(problem)
        return
    console.print(f"seal certificate {cert.serial} issued to {org}")


@app.command("certificates")
def certificates() -> None:
    """List every certificate of the hierarchy with its status."""
    with cli_session_scope() as session:
        rows = service.list_certificates(session, CLI)
    table = Table("kind", "serial", "subject", "status", "valid until")
    for cert in rows:
        table.add_row(cert.kind, cert.serial, cert.subject, cert.status, cert.not_after.date().isoformat())
    console.print(table)
    console.print(f"{len(rows)} certificates")
