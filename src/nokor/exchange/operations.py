"""Operations: figures per service from the message log, the newest records, the trust anchor other
instances import, and the file of roots the TLS server accepts."""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from nokor import trust
from nokor.config import Settings
from nokor.exchange.credentials import ensure_credentials, write_trusted_roots
from nokor.exchange.models import LogRecord, Peer
from nokor.exchange.schemas import LogRecordRead, ServiceStats
from nokor.exchange.service import EXCHANGE_MONITOR
from nokor.kit.actor import Actor
from nokor.kit.time import utcnow


def service_stats(session: Session, actor: Actor, *, hours: int = 24) -> list[ServiceStats]:
    """Calls, errors and latencies (mean, 95th percentile, max) per service over the last ``hours``."""
    actor.require(EXCHANGE_MONITOR)
    since = utcnow() - timedelta(hours=hours)
    durations: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    rows = session.execute(select(LogRecord.service, LogRecord.duration_ms, LogRecord.status, LogRecord.error)
                           .where(LogRecord.at >= since))
    for service, duration, status, error in rows:
        durations.setdefault(service, []).append(duration)
        if error or status >= 400:
            errors[service] = errors.get(service, 0) + 1
    out: list[ServiceStats] = []
    for service, values in sorted(durations.items()):
        values.sort()
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        out.append(ServiceStats(service=service, calls=len(values), errors=errors.get(service, 0),
                                mean_ms=round(sum(values) / len(values), 2), p95_ms=round(p95, 2),
                                max_ms=round(values[-1], 2)))
    return out


def recent_records(session: Session, actor: Actor, *, service: str | None = None,
                   limit: int = 50) -> list[LogRecordRead]:
    """The newest message-log records (of one service when named)."""
    actor.require(EXCHANGE_MONITOR)
    stmt = select(LogRecord).order_by(LogRecord.at.desc()).limit(limit)
    if service:
        stmt = stmt.where(LogRecord.service == service)
    return [LogRecordRead.model_validate(r) for r in session.scalars(stmt)]


def trust_anchor(session: Session, settings: Settings) -> dict[str, str]:
    """What another instance needs to trust this one: instance code, gateway address and identifier, root."""
    root = x509.load_der_x509_certificate(trust.ca_certificate(session, slug="root"))
    return {"instance": settings.exchange_instance, "gateway_url": settings.base_url.rstrip("/"),
            "server_identity": settings.gateway_identity,
            "root_pem": root.public_bytes(serialization.Encoding.PEM).decode()}


def refresh_trusted_roots(session: Session, settings: Settings) -> None:
    """Rewrite the roots the TLS server accepts client certificates from: ours and every peer's."""
    try:
        ensure_credentials(session, settings)
        own = x509.load_der_x509_certificate(trust.ca_certificate(session, slug="root"))
    except Exception:
        return
    pems = [own.public_bytes(serialization.Encoding.PEM).decode()]
    pems += [p.root_pem for p in session.scalars(select(Peer).order_by(Peer.instance))]
    write_trusted_roots(settings, pems)
