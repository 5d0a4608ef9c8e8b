"""Evidence containers: sealed message-log batches moved out of the database into a signed zip file
that can be checked offline, years later, with nothing but the file (and, to be sure, the root).

A container holds ``records.jsonl`` (every record with its chain hashes), ``batches.jsonl`` (each
batch's signature, signing certificate and RFC 3161 timestamp token), ``chain.pem`` (the gateway's
issuing CA and the root), ``tsa.pem`` (the timestamping CA) and ``manifest.json`` with the SHA-256 of
each file, signed by the gateway (``manifest.sig``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import zipfile
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nokor import trust
from nokor.config import Settings
from nokor.exchange.credentials import ensure_credentials
from nokor.exchange.messagelog import chain_hash
from nokor.exchange.models import LogBatch, LogRecord
from nokor.exchange.schemas import ArchiveReport
from nokor.kit.time import utcnow

FILES = ("records.jsonl", "batches.jsonl", "chain.pem", "tsa.pem")


def _record_json(row: LogRecord) -> dict[str, Any]:
    return {"stream": row.stream, "seq": row.seq, "at": row.at.isoformat(), "message_id": row.message_id,
            "client": row.client, "service": row.service, "method": row.method, "path": row.path,
            "status": row.status, "error": row.error, "duration_ms": row.duration_ms, "data": row.data,
            "prev_hash": row.prev_hash, "record_hash": row.record_hash, "batch_id": str(row.batch_id)}


def archive_log(session: Session, settings: Settings, *, before: datetime, folder: Path,
                delete_archived: bool = True) -> tuple[Path | None, int, int]:
    """Put every sealed batch whose records are all older than ``before`` into one new container.

    Returns the file (None when there was nothing to archive), the records and the batches archived.
    The records leave the database only after the container is written and read back.
    """
    batches = list(session.scalars(select(LogBatch).where(LogBatch.archived_to.is_(None), LogBatch.signature != "")
                                   .order_by(LogBatch.stream, LogBatch.first_seq)))
    chosen: list[LogBatch] = []
    for batch in batches:
        newest = session.scalar(select(LogRecord.at).where(LogRecord.batch_id == batch.id)
                                .order_by(LogRecord.at.desc()).limit(1))
        if newest is not None and newest < before:
            chosen.append(batch)
    if not chosen:
        return None, 0, 0
    credentials = ensure_credentials(session, settings)
    ids = [b.id for b in chosen]
    records = list(session.scalars(select(LogRecord).where(LogRecord.batch_id.in_(ids))
                                   .order_by(LogRecord.stream, LogRecord.seq)))
    files: dict[str, bytes] = {
        "records.jsonl": b"".join(json.dumps(_record_json(r), sort_keys=True, ensure_ascii=False).encode() + b"\n"
                                  for r in records),
        "batches.jsonl": b"".join(json.dumps({
            "id": str(b.id), "stream": b.stream, "first_seq": b.first_seq, "last_seq": b.last_seq,
            "head_hash": b.head_hash, "signature": b.signature, "certificate_pem": b.certificate_pem,
            "timestamp_token": b.timestamp_token}, sort_keys=True).encode() + b"\n" for b in chosen),
        "chain.pem": credentials.chain_path.read_bytes(),
        "tsa.pem": x509.load_der_x509_certificate(trust.ca_certificate(session, slug="timestamping"))
        .public_bytes(serialization.Encoding.PEM),
    }
    manifest = json.dumps({"created_at": utcnow().isoformat(), "instance": settings.exchange_instance,
                           "gateway": settings.gateway_identity, "records": len(records), "batches": len(chosen),
                           "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
                           "signer_pem": credentials.certificate_pem}, sort_keys=True, indent=1).encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"exchange-log-{utcnow().strftime('%Y%m%dT%H%M%S%f')}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("manifest.json", manifest)
        archive.writestr("manifest.sig", base64.b64encode(credentials.sign(manifest)))
    report = verify_archive(path)
    if not report.holds:
        path.unlink()
        raise RuntimeError("the archive container did not verify: " + "; ".join(report.problems[:3]))
    for batch in chosen:
        batch.archived_to = path.name
    if delete_archived:
        session.execute(delete(LogRecord).where(LogRecord.batch_id.in_(ids)))
    session.flush()
    return path, len(records), len(chosen)


def _verify_issued(cert: x509.Certificate, issuers: list[x509.Certificate]) -> x509.Certificate | None:
    for issuer in issuers:
        if issuer.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return issuer
    return None


def _chains_to(cert: x509.Certificate, cas: list[x509.Certificate], root: x509.Certificate) -> bool:
    current = cert
    for _depth in range(4):
        if current == root:
            return True
        issuer = _verify_issued(current, cas)
        if issuer is None:
            return False
        if issuer == root:
            return True
        current = issuer
    return False


def _check_timestamp(token_b64: str, signature: bytes, cas: list[x509.Certificate],
                     root: x509.Certificate) -> str | None:
    """None when the RFC 3161 token holds over ``signature``; otherwise what is wrong."""
    try:
        info = cms.ContentInfo.load(base64.b64decode(token_b64))
        signed = info["content"]
        content = signed["encap_content_info"]["content"]
        tst = tsp.TSTInfo.load(content.parsed.dump() if hasattr(content, "parsed") and content.parsed is not None
                               else content.native)
        imprint = tst["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if imprint["hashed_message"].native != hashlib.new(algorithm, signature).digest():
            return "the timestamp covers other data"
        signer = signed["signer_infos"][0]
        serial = signer["sid"].chosen["serial_number"].native
        tsa_cert = None
        for candidate in signed["certificates"] or []:
            cert = x509.load_der_x509_certificate(candidate.chosen.dump())
            if cert.serial_number == serial:
                tsa_cert = cert
        if tsa_cert is None:
            return "the timestamp does not carry the TSA's certificate"
        digest_name = signer["digest_algorithm"]["algorithm"].native
        attrs = signer["signed_attrs"]
        content_bytes = tst.dump()
        message_digest = next(a["values"][0].native for a in attrs if a["type"].native == "message_digest")
        if message_digest != hashlib.new(digest_name, content_bytes).digest():
            return "the timestamp's content was altered"
        public = tsa_cert.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        hash_algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[digest_name]
        public.verify(signer["signature"].native, b"\x31" + attrs.dump()[1:], ec.ECDSA(hash_algo))
        if not _chains_to(tsa_cert, cas, root):
            return "the TSA's certificate does not lead to the root"
    except InvalidSignature:
        return "the timestamp's signature does not hold"
    except Exception as exc:
        return f"the timestamp cannot be read ({type(exc).__name__})"
    return None


def verify_archive(path: Path, *, root_pem: bytes | None = None) -> ArchiveReport:
    """Check a container offline: manifest and its signature, every record's hash and link, every
    batch's signature and timestamp, and the certificates up to the root (``root_pem`` pins it)."""
    problems: list[str] = []
    try:
        with zipfile.ZipFile(path) as archive:
            contents = {name: archive.read(name) for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile) as exc:
        return ArchiveReport(path=str(path), records=0, batches=0, timestamps=0,
                             problems=[f"not a readable container: {exc}"])
    missing = [n for n in (*FILES, "manifest.json", "manifest.sig") if n not in contents]
    if missing:
        return ArchiveReport(path=str(path), records=0, batches=0, timestamps=0,
                             problems=[f"missing file {n}" for n in missing])
    cas = list(x509.load_pem_x509_certificates(contents["chain.pem"]))
    tsa_cas = list(x509.load_pem_x509_certificates(contents["tsa.pem"]))
    root = cas[-1]
    if root_pem is not None:
        pinned = x509.load_pem_x509_certificate(root_pem)
        if pinned != root:
            problems.append("the container's root is not the root you trust")
            root = pinned
    manifest = json.loads(contents["manifest.json"])
    signer = x509.load_pem_x509_certificate(manifest["signer_pem"].encode())
    try:
        public = signer.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(base64.b64decode(contents["manifest.sig"]), contents["manifest.json"], ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        problems.append("the manifest's signature does not hold")
    if not _chains_to(signer, cas, root):
        problems.append("the manifest's signer does not lead to the root")
    for name, expected in manifest["files"].items():
        if hashlib.sha256(contents.get(name, b"")).hexdigest() != expected:
            problems.append(f"{name} was changed after the container was sealed")
    records = [json.loads(line) for line in contents["records.jsonl"].splitlines() if line.strip()]
    batches = [json.loads(line) for line in contents["batches.jsonl"].splitlines() if line.strip()]
    by_stream: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for record in records:
        by_stream[record["stream"]][record["seq"]] = record
        recomputed = chain_hash(record["prev_hash"], record)
        if recomputed != record["record_hash"]:
            problems.append(f"record {record['stream']}#{record['seq']} ({record['message_id']}) was altered: "
                            "its hash does not match its content")
        for side in ("request", "response"):
            body = record["data"].get(f"{side}_body")
            if body is not None and "sha256:" + hashlib.sha256(base64.b64decode(body)).hexdigest() != \
                    record["data"].get(f"{side}_digest"):
                problems.append(f"record {record['stream']}#{record['seq']}: the {side} body does not match its digest")
    for stream, seqs in by_stream.items():
        ordered = sorted(seqs)
        for previous, current in itertools.pairwise(ordered):
            if current != previous + 1:
                problems.append(f"stream {stream}: records {previous + 1} to {current - 1} are missing")
            elif seqs[current]["prev_hash"] != seqs[previous]["record_hash"]:
                problems.append(f"record {stream}#{current} does not link to record #{previous}")
    timestamps = 0
    for batch in batches:
        label = f"batch {batch['id']}"
        seqs = by_stream.get(batch["stream"], {})
        last = seqs.get(batch["last_seq"])
        if last is None or any(s not in seqs for s in range(batch["first_seq"], batch["last_seq"] + 1)):
            problems.append(f"{label}: some of its records are missing")
            continue
        if last["record_hash"] != batch["head_hash"]:
            problems.append(f"{label}: its last record's hash is not the one that was signed")
        if not batch["signature"]:
            problems.append(f"{label}: not signed")
            continue
        signature = base64.b64decode(batch["signature"])
        cert = x509.load_pem_x509_certificate(batch["certificate_pem"].encode())
        try:
            key = cert.public_key()
            assert isinstance(key, ec.EllipticCurvePublicKey)
            key.verify(signature, batch["head_hash"].encode(), ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            problems.append(f"{label}: the signature does not hold")
        if not _chains_to(cert, cas, root):
            problems.append(f"{label}: the signing certificate does not lead to the root")
        if batch.get("timestamp_token"):
            found = _check_timestamp(batch["timestamp_token"], signature, tsa_cas + cas, root)
            if found:
                problems.append(f"{label}: {found}")
            else:
                timestamps += 1
        else:
            problems.append(f"{label}: no timestamp")
    return ArchiveReport(path=str(path), records=len(records), batches=len(batches), timestamps=timestamps,
                         problems=problems)


def read_container(data: bytes) -> dict[str, bytes]:
    """The files of a container given as bytes (the administration page lets one be checked)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
