"""The rules of the trust services: the CA hierarchy, certificate status, signing and verification."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import uuid
from datetime import datetime
from typing import Any, Literal

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from sqlalchemy.orm import Session

from nokor import audit
from nokor.kit import i18n
from nokor.kit.actor import Actor, declare_permission
from nokor.kit.errors import BadRequest, Conflict, Forbidden, NotFound, Problem, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.i18n import lazy_gettext as _l
from nokor.kit.time import utcnow
from nokor.trust import jws as jws_format
from nokor.trust import pdf as pdf_format
from nokor.trust import pki, repository, tsa
from nokor.trust.keyring import KeyRing
from nokor.trust.keys import KeyUnavailable, SigningKey
from nokor.trust.models import Certificate, PublishedCrl, SignatureRecord
from nokor.trust.schemas import (
    CertificateDetails,
    CertificateRead,
    Finding,
    HierarchyRead,
    SignatureCheck,
    SignatureRecordRead,
    SignedHash,
    SignedJws,
    SignedPdf,
    StatusChange,
    VerificationReport,
)

TRUST_SIGN = declare_permission("trust.sign", _l("Sign documents and messages with an organisation's seal"))
TRUST_MANAGE = declare_permission(
    "trust.manage", _l("Issue, suspend and revoke certificates and read the signature log")
)

CA_NAMES: dict[pki.CertKind, str] = {
    "root_ca": "Root CA", "documents_ca": "Documents CA", "agencies_ca": "Agency Systems CA",
    "timestamping_ca": "Timestamping CA",
}
CERT_FIELDS = ("serial", "kind", "subject", "status", "status_reason", "org_unit_id", "officer_id", "identity")
REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified, "key_compromise": x509.ReasonFlags.key_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed, "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
}
HASH_TYPES = {"SHA2-256": ("sha256", 32), "SHA2-384": ("sha384", 48), "SHA2-512": ("sha512", 64)}


class KeysUnavailable(Problem):
    """The key store (key files or the HSM) does not answer: an operator's matter, not the caller's."""

    status = 503
    slug = "trust-keys-unavailable"
    default_title = _l("The signing keys are not available right now.")


def _key_failure(exc: KeyUnavailable) -> KeysUnavailable:
    return KeysUnavailable(_("A signing key of the trust services cannot be opened. The operator has to check "
                         "the key store."), code="key_unavailable", reason=str(exc))


def _read(row: Certificate) -> CertificateRead:
    return CertificateRead.model_validate(row)


def _cert(row: Certificate) -> x509.Certificate:
    return pki.load_pem(row.pem)


def _as_dict(row: Certificate) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in CERT_FIELDS:
        value = getattr(row, name)
        out[name] = str(value) if isinstance(value, uuid.UUID) else value
    return out


def _store_certificate(session: Session, cert: x509.Certificate, *, kind: pki.CertKind, key_ref: str | None,
                       issuer_serial: str | None, org_unit_id: uuid.UUID | None = None,
                       officer_id: uuid.UUID | None = None, identity: str | None = None) -> Certificate:
    row = Certificate(
        serial=pki.serial_hex(cert), kind=kind, issuer_serial=issuer_serial, subject=cert.subject.rfc4514_string(),
        pem=pki.pem(cert), key_ref=key_ref, not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        status="active", org_unit_id=org_unit_id, officer_id=officer_id, identity=identity,
    )
    session.add(row)
    session.flush()
    return row


def _ca(session: Session, kind: pki.CertKind) -> Certificate:
    rows = [r for r in repository.certificates_of_kind(session, kind) if r.status == "active"]
    if not rows:
        raise Conflict(_("The trust hierarchy has not been created yet. Run “nokor trust init” first."),
                       code="no_hierarchy")
    return rows[-1]


def _open_key(ring: KeyRing, row: Certificate) -> SigningKey:
    if not row.key_ref:
        raise NotFound(_("Nokor does not hold the key of this certificate."))
    try:
        return ring.open(row.key_ref)
    except KeyUnavailable as exc:
        raise _key_failure(exc) from exc


def _label(kind: str) -> str:
    return f"{kind.replace('_', '-')}-{uuid.uuid4().hex[:12]}"


def _new_key(ring: KeyRing, kind: pki.CertKind) -> SigningKey:
    curve: Literal["secp256r1", "secp384r1"] = "secp384r1" if kind == "root_ca" else "secp256r1"
    try:
        return ring.store.generate(_label(kind), curve)
    except KeyUnavailable as exc:
        raise _key_failure(exc) from exc


# --- the hierarchy ------------------------------------------------------------------------------


def init_hierarchy(session: Session, actor: Actor, *, ring: KeyRing, organisation: str | None = None) -> HierarchyRead:
    """Create the root CA, the issuing CAs (documents, agency systems, timestamping), the TSA certificate
    and the platform's own seal; refuses when a hierarchy exists already."""
    actor.require_everywhere(TRUST_MANAGE)
    if repository.certificates_of_kind(session, "root_ca"):
        raise Conflict(_("A trust hierarchy exists already; it is never overwritten."), code="hierarchy_exists")
    org = (organisation or ring.organisation).strip() or "Nokor"
    now = utcnow()
    root_key = _new_key(ring, "root_ca")
    root = pki.build_certificate(kind="root_ca", subject=pki.name(f"{org} Root CA", org),
                                 public_key=root_key.public_key(), issuer_key=root_key, issuer_cert=None,
                                 publication=ring.publication, now=now)
    root_row = _store_certificate(session, root, kind="root_ca", key_ref=root_key.ref, issuer_serial=None)
    issuing: list[Certificate] = []
    for kind in ("documents_ca", "agencies_ca", "timestamping_ca"):
        key = _new_key(ring, kind)
        cert = pki.build_certificate(kind=kind, subject=pki.name(f"{org} {CA_NAMES[kind]}", org),
                                     public_key=key.public_key(), issuer_key=root_key, issuer_cert=root,
                                     publication=ring.publication, now=now)
        issuing.append(_store_certificate(session, cert, kind=kind, key_ref=key.ref, issuer_serial=root_row.serial))
    tsa_row = _issue_leaf(session, ring, kind="tsa", common_name=f"{org} Timestamping Authority", organisation=org)
    seal_row = _issue_leaf(session, ring, kind="seal", common_name=f"{org} Seal", organisation=org)
    for ca_row in (root_row, *issuing):
        _publish_crl(session, ring, ca_row, now=now)
    for row in (root_row, *issuing, tsa_row, seal_row):
        audit.record_change(session, actor, action="certificate.issue", subject_type="certificate",
                            subject_id=row.id, after=_as_dict(row))
    return HierarchyRead(root=_read(root_row), issuing=[_read(r) for r in issuing], tsa=_read(tsa_row),
                         platform_seal=_read(seal_row))


def _issue_leaf(session: Session, ring: KeyRing, *, kind: pki.CertKind, common_name: str, organisation: str,
                org_unit_id: uuid.UUID | None = None, officer_id: uuid.UUID | None = None,
                not_before: datetime | None = None, not_after: datetime | None = None) -> Certificate:
    issuer_row = _ca(session, pki.ISSUER_OF[kind])
    issuer_key = _open_key(ring, issuer_row)
    key = _new_key(ring, kind)
    cert = pki.build_certificate(kind=kind, subject=pki.name(common_name, organisation), public_key=key.public_key(),
                                 issuer_key=issuer_key, issuer_cert=_cert(issuer_row), publication=ring.publication,
                                 now=utcnow(), not_before=not_before, not_after=not_after)
    return _store_certificate(session, cert, kind=kind, key_ref=key.ref, issuer_serial=issuer_row.serial,
                              org_unit_id=org_unit_id, officer_id=officer_id)


def issue_seal_certificate(session: Session, actor: Actor, *, ring: KeyRing, org_unit_id: uuid.UUID,
                           organisation_name: str, not_before: datetime | None = None,
                           not_after: datetime | None = None) -> CertificateRead:
    """Give an organisation unit a seal: a key and a document-signing certificate in its name."""
    actor.require(TRUST_MANAGE, org_unit_id)
    name = organisation_name.strip()
    if not name:
        raise ValidationFailed(errors=[field_error(["organisation_name"], _("A name is required."), "name_required")])
    row = _issue_leaf(session, ring, kind="seal", common_name=f"{name} Seal", organisation=name,
                      org_unit_id=org_unit_id, not_before=not_before, not_after=not_after)
    audit.record_change(session, actor, action="certificate.issue", subject_type="certificate", subject_id=row.id,
                        after=_as_dict(row))
    return _read(row)


def issue_officer_certificate(session: Session, actor: Actor, *, ring: KeyRing, officer_id: uuid.UUID,
                              full_name: str, org_unit_id: uuid.UUID, organisation_name: str) -> CertificateRead:
    """Give an officer a personal signing certificate, for decisions signed in their own name."""
    actor.require(TRUST_MANAGE, org_unit_id)
    row = _issue_leaf(session, ring, kind="officer", common_name=full_name.strip() or "Officer",
                      organisation=organisation_name.strip() or ring.organisation, org_unit_id=org_unit_id,
                      officer_id=officer_id)
    audit.record_change(session, actor, action="certificate.issue", subject_type="certificate", subject_id=row.id,
                        after=_as_dict(row))
    return _read(row)


def issue_agency_certificate(session: Session, actor: Actor, *, ring: KeyRing, csr_pem: str,
                             identity: str) -> CertificateRead:
    """Certify an agency system's own key (from its CSR) for the data exchange: a client certificate
    whose subject is its GovStack identity."""
    actor.require_everywhere(TRUST_MANAGE)
    try:
        csr = x509.load_pem_x509_csr(csr_pem.strip().encode())
    except ValueError:
        try:
            csr = x509.load_der_x509_csr(base64.b64decode(csr_pem, validate=True))
        except ValueError as exc:
            raise ValidationFailed(errors=[field_error(["CSR"], _("This is not a certificate signing request."),
                                                       "bad_csr")]) from exc
    if not csr.is_signature_valid:
        raise ValidationFailed(errors=[field_error(["CSR"], _("The request is not signed by its own key."),
                                                   "bad_csr_signature")])
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name not in ("secp256r1", "secp384r1"):
        raise ValidationFailed(errors=[field_error(["CSR"], _("Use an EC key on the P-256 or P-384 curve."),
                                                   "unsupported_key")])
    issuer_row = _ca(session, "agencies_ca")
    member = identity.split("/")[2] if identity.count("/") == 3 else identity
    cert = pki.build_certificate(kind="agency", subject=pki.name(identity, member), public_key=public,
                                 issuer_key=_open_key(ring, issuer_row), issuer_cert=_cert(issuer_row),
                                 publication=ring.publication, now=utcnow())
    row = _store_certificate(session, cert, kind="agency", key_ref=None, issuer_serial=issuer_row.serial,
                             identity=identity)
    audit.record_change(session, actor, action="certificate.issue", subject_type="certificate", subject_id=row.id,
                        after=_as_dict(row))
    return _read(row)


def list_certificates(session: Session, actor: Actor, *, status: str | None = None,
                      kinds: tuple[str, ...] | None = None) -> list[CertificateRead]:
    """Certificates of the hierarchy (certificates are public documents; the filter is for convenience)."""
    return [_read(r) for r in repository.all_certificates(session, status=status, kinds=kinds)]


def get_certificate(session: Session, *, serial: str) -> CertificateRead:
    """One certificate by serial number (hex); public, as certificates are."""
    row = repository.certificate_by_serial(session, serial)
    if row is None:
        raise NotFound(_("There is no certificate with this serial number."))
    return _read(row)


STATUS_CHANGES: dict[str, tuple[Literal["active", "suspended", "revoked"], ...]] = {
    "active": ("suspended", "revoked"), "suspended": ("active", "revoked"), "revoked": (),
}
_KEY_USAGES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
               "key_agreement", "key_cert_sign", "crl_sign")
_EXTENDED_USAGES = {
    x509.oid.ExtendedKeyUsageOID.TIME_STAMPING: "time_stamping",
    x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH: "client_auth",
    x509.oid.ExtendedKeyUsageOID.SERVER_AUTH: "server_auth",
    x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING: "ocsp_signing",
    x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION: "email_protection",
    x509.oid.ExtendedKeyUsageOID.CODE_SIGNING: "code_signing",
}


_HISTORY_ACTIONS = ("certificate.issue", "certificate.active", "certificate.suspended", "certificate.revoked")


def _require_manage(actor: Actor, row: Certificate) -> None:
    """A unit's seals and officers' certificates are managed within the unit; the CAs, the TSA, the platform
    seal and agency systems' certificates only by whoever holds ``trust.manage`` everywhere (the operator)."""
    if row.org_unit_id:
        actor.require(TRUST_MANAGE, row.org_unit_id)
    else:
        actor.require_everywhere(TRUST_MANAGE)


def certificate_details(session: Session, actor: Actor, *, serial: str) -> CertificateDetails:
    """A certificate with its issuer, usages, the status changes it may still make, and its status
    history as the audit trail recorded it; for certificate officers (``trust.manage``)."""
    row = repository.certificate_by_serial(session, serial)
    if row is None:
        raise NotFound(_("There is no certificate with this serial number."))
    actor.require(TRUST_MANAGE, row.org_unit_id)
    cert = _cert(row)
    usages: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        usages = [name for name in _KEY_USAGES if getattr(key_usage, name)]
    extended: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        extended = [_EXTENDED_USAGES.get(oid, oid.dotted_string)
                    for oid in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value]
    issuer = repository.certificate_by_serial(session, row.issuer_serial) if row.issuer_serial else None
    # The certificate's own entries, read on the trust domain's behalf: a certificate officer needs its
    # history without holding audit.read, which opens the whole trail and the personal-data log.
    entries = audit.list_entries(session, Actor.system("trust"), subject_type="certificate", subject_id=str(row.id),
                                 category="change", limit=200).items
    history = [StatusChange(at=e.at, status="issued" if e.action == "certificate.issue" else e.action.split(".")[1],
                            actor_name=e.actor_name, reason=e.reason)
               for e in reversed(entries)
               if e.action in _HISTORY_ACTIONS]
    try:
        _require_manage(actor, row)
        allowed: list[Literal["active", "suspended", "revoked"]] = (
            [] if row.kind == "root_ca" else list(STATUS_CHANGES[row.status]))
        manageable = True
    except Forbidden:
        allowed, manageable = [], False
    return CertificateDetails(
        certificate=_read(row), issuer_subject=issuer.subject if issuer else cert.issuer.rfc4514_string(),
        key_usages=usages, extended_key_usages=extended, history=history, allowed_statuses=allowed,
        manageable=manageable,
    )


def ca_certificate(session: Session, *, slug: str) -> bytes:
    """The DER certificate of one CA, by its published name (root, documents, agencies, timestamping)."""
    kind = next((k for k, s in pki.CA_SLUG.items() if s == slug), None)
    if kind is None:
        raise NotFound(_("There is no such certification authority."))
    return _cert(_ca(session, kind)).public_bytes(serialization.Encoding.DER)


# --- status, CRL, OCSP ---------------------------------------------------------------------------


def set_certificate_status(session: Session, actor: Actor, *, ring: KeyRing, serial: str,
                           status: Literal["active", "suspended", "revoked"], reason: str | None = None,
                           revocation_reason: str = "unspecified") -> CertificateRead:
    """Suspend, reactivate or revoke a certificate; the issuing CA's CRL is regenerated at once.

    Revocation is final. Documents signed and timestamped before it stay valid; later ones fail.
    """
    row = repository.certificate_by_serial(session, serial)
    if row is None:
        raise NotFound(_("There is no certificate with this serial number."))
    _require_manage(actor, row)
    if row.kind == "root_ca":
        raise Conflict(_("The root certificate cannot be revoked here; replace the whole hierarchy instead."))
    if revocation_reason not in REVOCATION_REASONS:
        raise ValidationFailed(errors=[field_error(["revocation_reason"], _("Choose one of the options."),
                                                   "unknown_reason")])
    if status not in STATUS_CHANGES[row.status]:
        raise Conflict(_("A certificate that is %(current)s cannot become %(wanted)s.",
                         current=row.status, wanted=status), code="status_transition")
    before = _as_dict(row)
    row.status = status
    row.status_reason = (reason or "").strip()[:400] or (revocation_reason if status == "revoked" else None)
    row.revoked_at = None if status == "active" else utcnow()
    session.flush()
    issuer = repository.certificate_by_serial(session, row.issuer_serial or "")
    if issuer is not None:
        _publish_crl(session, ring, issuer, now=utcnow())
    audit.record_change(session, actor, action=f"certificate.{status}", subject_type="certificate",
                        subject_id=row.id, before=before, after=_as_dict(row), reason=reason)
    return _read(row)


def _reason_flag(row: Certificate) -> x509.ReasonFlags:
    if row.status == "suspended":
        return x509.ReasonFlags.certificate_hold
    return REVOCATION_REASONS.get(row.status_reason or "", x509.ReasonFlags.unspecified)


def _publish_crl(session: Session, ring: KeyRing, ca_row: Certificate, *, now: datetime) -> PublishedCrl:
    entries = [pki.RevokedEntry(serial=int(r.serial, 16), revoked_at=r.revoked_at or now, reason=_reason_flag(r))
               for r in repository.withdrawn_under(session, ca_row.serial)]
    current = repository.crl_of(session, ca_row.serial)
    number = (current.number + 1) if current else 1
    crl = pki.build_crl(issuer_cert=_cert(ca_row), issuer_key=_open_key(ring, ca_row), number=number, now=now,
                        revoked=entries)
    der = crl.public_bytes(serialization.Encoding.DER)
    if current is None:
        current = PublishedCrl(issuer_serial=ca_row.serial, number=number, der=der, this_update=now,
                               next_update=now + pki.CRL_LIFETIME)
        session.add(current)
    else:
        current.number, current.der, current.this_update = number, der, now
        current.next_update = now + pki.CRL_LIFETIME
    session.flush()
    return current


def current_crl(session: Session, *, ring: KeyRing, slug: str) -> bytes:
    """The CRL of one CA in DER, regenerated when more than half of its lifetime has passed."""
    kind = next((k for k, s in pki.CA_SLUG.items() if s == slug), None)
    if kind is None:
        raise NotFound(_("There is no such certification authority."))
    ca_row = _ca(session, kind)
    published = repository.crl_of(session, ca_row.serial)
    now = utcnow()
    if published is None or published.next_update - now < pki.CRL_LIFETIME / 2:
        published = _publish_crl(session, ring, ca_row, now=now)
    return bytes(published.der)


def answer_ocsp(session: Session, *, ring: KeyRing, request_der: bytes) -> bytes:
    """An OCSP answer (RFC 6960) from the status table; malformed requests get ``malformedRequest``."""
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        serial = request.serial_number
        key_hash = request.issuer_key_hash
    except ValueError:
        return pki.ocsp_error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    issuer_row = None
    for ca_row in repository.ca_certificates(session):
        ca_cert = _cert(ca_row)
        public = ca_cert.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        spki = asn1_keys.PublicKeyInfo.load(public)
        bits = spki["public_key"].contents[1:]
        if hashlib.new(request.hash_algorithm.name, bits).digest() == key_hash:
            issuer_row = ca_row
            break
    if issuer_row is None:
        return pki.ocsp_error(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    row = repository.certificate_by_serial(session, pki.serial_hex(serial))
    if row is None or row.issuer_serial != issuer_row.serial:
        # A certificate this CA never issued: "unknown" would need the certificate itself to answer for it.
        return pki.ocsp_error(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    found = pki.OcspStatus(cert=_cert(row), status="good" if row.status == "active" else "revoked",
                           revoked_at=row.revoked_at, reason=_reason_flag(row) if row.status != "active" else None)
    return pki.build_ocsp_response(request=request, found=found, issuer_cert=_cert(issuer_row),
                                   issuer_key=_open_key(ring, issuer_row), now=utcnow())


# --- timestamps ----------------------------------------------------------------------------------


def _authority(session: Session, ring: KeyRing) -> tsa.TimestampAuthority:
    rows = [r for r in repository.certificates_of_kind(session, "tsa") if r.status == "active"]
    if not rows:
        raise Conflict(_("The trust hierarchy has not been created yet. Run “nokor trust init” first."),
                       code="no_hierarchy")
    row = rows[-1]
    issuer = repository.certificate_by_serial(session, row.issuer_serial or "")
    assert issuer is not None
    return tsa.TimestampAuthority(key=_open_key(ring, row), chain=(_cert(row), _cert(issuer)))


def answer_timestamp_query(session: Session, *, ring: KeyRing, query: bytes) -> bytes:
    """An RFC 3161 ``TimeStampResp`` for a DER ``TimeStampReq``; a body that is not one is a 400 problem."""
    try:
        request = tsa.parse_query(query)
    except tsa.MalformedQuery as exc:
        raise BadRequest(_("The body is not an RFC 3161 timestamp query (DER-encoded TimeStampReq)."),
                         code="malformed_timestamp_query") from exc
    return tsa.reply_bytes(tsa.respond(_authority(session, ring), request))


# --- signing -------------------------------------------------------------------------------------


def _material(session: Session) -> pdf_format.ValidationMaterial:
    cas = repository.ca_certificates(session)
    root = next((r for r in cas if r.kind == "root_ca"), None)
    if root is None:
        raise Conflict(_("The trust hierarchy has not been created yet. Run “nokor trust init” first."),
                       code="no_hierarchy")
    crls = tuple(bytes(c.der) for c in (repository.crl_of(session, r.serial) for r in cas) if c is not None)
    return pdf_format.ValidationMaterial(root=_cert(root), intermediates=tuple(_cert(r) for r in cas if r is not root),
                                         crls=crls)


def _signing_certificate(session: Session, actor: Actor, *, org_unit_id: uuid.UUID | None,
                         as_officer: bool) -> Certificate:
    actor.require(TRUST_SIGN, org_unit_id)
    if as_officer:
        if actor.kind != "officer" or actor.id is None:
            raise ValidationFailed(errors=[field_error(["as_officer"], _("Only an officer signs in their own name."),
                                                       "not_an_officer")])
        row = repository.active_certificate(session, kind="officer", org_unit_id=org_unit_id, officer_id=actor.id)
        if row is None:
            raise Conflict(_("You have no personal signing certificate in this organisation unit."),
                           code="no_certificate")
    else:
        row = repository.active_certificate(session, kind="seal", org_unit_id=org_unit_id)
        if row is None:
            raise Conflict(_("This organisation unit has no seal yet; an administrator must issue one."),
                           code="no_certificate")
    now = utcnow()
    if not row.not_before <= now <= row.not_after:
        raise Conflict(_("The signing certificate is not valid at this time."), code="certificate_expired")
    return row


def _chain(session: Session, row: Certificate) -> tuple[x509.Certificate, ...]:
    chain = [_cert(row)]
    current = row
    while current.issuer_serial:
        issuer = repository.certificate_by_serial(session, current.issuer_serial)
        if issuer is None:
            break
        chain.append(_cert(issuer))
        current = issuer
    return tuple(chain)


def _signer_label(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    commons = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str((commons or names)[0].value) if (commons or names) else cert.subject.rfc4514_string()


def _record(session: Session, actor: Actor, *, record_id: uuid.UUID, kind: str, level: str | None, row: Certificate,
            digest_hex: str, document_name: str | None, reason: str | None, signed_at: datetime) -> SignatureRecord:
    record = SignatureRecord(
        id=record_id, kind=kind, level=level, certificate_serial=row.serial, signer_name=_signer_label(_cert(row)),
        document_name=(document_name or "").strip()[:400] or None, document_sha256=digest_hex, signed_at=signed_at,
        actor_kind=actor.kind, actor_name=actor.name[:200], reason=(reason or "").strip()[:400] or None,
    )
    session.add(record)
    session.flush()
    audit.record_change(session, actor, action=f"signature.{kind}", subject_type="signature", subject_id=record.id,
                        after={"certificate_serial": row.serial, "document_sha256": digest_hex, "level": level,
                               "document_name": record.document_name}, reason=record.reason)
    return record


def verify_url(ring: KeyRing, record_id: uuid.UUID) -> str:
    return f"{ring.publication.base_url.rstrip('/')}/trust/verify/{record_id}"


def sign_pdf(session: Session, actor: Actor, *, ring: KeyRing, data: bytes, org_unit_id: uuid.UUID | None = None,
             as_officer: bool = False, level: Literal["B-LT", "B-LTA"] = "B-LT", document_name: str | None = None,
             reason: str | None = None, language: str | None = None) -> SignedPdf:
    """Seal a PDF (PAdES B-LT, or B-LTA for documents that must hold for decades) with the organisation
    unit's seal, or the officer's own certificate; with a visible stamp whose QR code opens the record.

    The stamp speaks ``language`` (km, en, ar or de; by default the current one), with English under it.
    """
    if language is not None and language not in i18n.LOCALES:
        raise ValidationFailed(errors=[field_error(["language"], _("Choose one of the options."), "unknown_language")])
    row = _signing_certificate(session, actor, org_unit_id=org_unit_id, as_officer=as_officer)
    try:
        pdf_format.reader_check(data)
    except pdf_format.NotAPdf as exc:
        raise ValidationFailed(errors=[field_error(["file"], _("This file is not a PDF."), "not_a_pdf")]) from exc
    except pdf_format.DamagedPdf as exc:
        raise ValidationFailed(errors=[field_error(["file"], _("The PDF is damaged or incomplete."),
                                                   "damaged_pdf")]) from exc
    record_id = uuid.uuid4()
    cert = _cert(row)
    signer = _signer_label(cert)
    try:
        signed = pdf_format.sign_pdf(
            data, key=_open_key(ring, row), chain=_chain(session, row), authority=_authority(session, ring),
            material=_material(session), verify_url=verify_url(ring, record_id), level=level,
            stamp=_stamp_text(signer, language), reason=reason, location=ring.organisation,
        )
    except pdf_format.DamagedPdf as exc:
        raise ValidationFailed(errors=[field_error(["file"], _("The PDF is damaged or incomplete."),
                                                   "damaged_pdf")]) from exc
    record = _record(session, actor, record_id=record_id, kind="pdf", level=level, row=row,
                     digest_hex=hashlib.sha256(signed).hexdigest(), document_name=document_name, reason=reason,
                     signed_at=utcnow())
    return SignedPdf(record=SignatureRecordRead.model_validate(record), pdf=signed)


def _stamp_text(signer: str, language: str | None) -> pdf_format.StampText:
    token = i18n.locale_var.set(language) if language else None
    try:
        caption, hint, chosen = _("Digitally sealed"), _("Scan to verify"), i18n.current_locale()
    finally:
        if token is not None:
            i18n.locale_var.reset(token)
    return pdf_format.StampText(signer=signer, caption=caption, verify_hint=hint,
                                caption_en=None if chosen == "en" else "Digitally sealed")


def sign_json(session: Session, actor: Actor, *, ring: KeyRing, payload: bytes, org_unit_id: uuid.UUID | None = None,
              detached: bool = False, document_name: str | None = None, reason: str | None = None) -> SignedJws:
    """Sign a message or a QR payload as a compact JWS (ES256, ``x5c``, ``kid``, ``sigT``), optionally detached."""
    row = _signing_certificate(session, actor, org_unit_id=org_unit_id, as_officer=False)
    now = utcnow()
    token = jws_format.sign_compact(payload, key=_open_key(ring, row), chain=_chain(session, row)[:-1], kid=row.serial,
                                    signed_at=now, detached=detached)
    record = _record(session, actor, record_id=uuid.uuid4(), kind="jws", level="detached" if detached else "compact",
                     row=row, digest_hex=hashlib.sha256(payload).hexdigest(), document_name=document_name,
                     reason=reason, signed_at=now)
    return SignedJws(record=SignatureRecordRead.model_validate(record), jws=token, detached=detached)


def sign_jwt(session: Session, actor: Actor, *, ring: KeyRing, claims: dict[str, Any],
             org_unit_id: uuid.UUID | None = None) -> str:
    """Sign claims as a compact JWT (ES256, header ``alg``/``kid``/``typ`` only) with the organisation unit's seal,
    the platform seal by default: for OpenID Connect ID tokens and e-KYC answers, checked against the JWKS."""
    row = _signing_certificate(session, actor, org_unit_id=org_unit_id, as_officer=False)
    return jws_format.sign_jwt(claims, key=_open_key(ring, row), kid=row.serial)


def sign_hash(session: Session, actor: Actor, *, ring: KeyRing, certificate_serial: str, digest_b64: str,
              hash_type: str, display: str | None = None) -> SignedHash:
    """Sign a hash a caller computed (GovStack e-Signature ``sign``), with a timestamp over the signature."""
    row = repository.certificate_by_serial(session, certificate_serial)
    if row is None or row.kind not in ("seal", "officer") or row.key_ref is None:
        raise NotFound(_("There is no signing certificate with this id."))
    actor.require(TRUST_SIGN, row.org_unit_id)
    if row.kind == "officer" and actor.id != row.officer_id:
        raise ValidationFailed(errors=[field_error(["certificateId"], _("Only an officer signs in their own name."),
                                                   "not_an_officer")])
    if row.status != "active" or not row.not_before <= utcnow() <= row.not_after:
        raise Conflict(_("The signing certificate is not valid at this time."), code="certificate_expired")
    if hash_type not in HASH_TYPES:
        raise ValidationFailed(errors=[field_error(["hashType"], _("Use SHA2-256, SHA2-384 or SHA2-512."),
                                                   "unsupported_hash")])
    name, size = HASH_TYPES[hash_type]
    try:
        digest_bytes = base64.b64decode(digest_b64, validate=True)
    except ValueError as exc:
        raise ValidationFailed(errors=[field_error(["hash"], _("The hash is not valid base64."), "bad_hash")]) from exc
    if len(digest_bytes) != size:
        raise ValidationFailed(errors=[field_error(["hash"], _("The hash has the wrong length for its type."),
                                                   "bad_hash")])
    key = _open_key(ring, row)
    signature = key.sign_digest(digest_bytes, name)
    imprint = tsp.MessageImprint({"hash_algorithm": {"algorithm": "sha256"},
                                      "hashed_message": hashlib.sha256(signature).digest()})
    token = tsa.issue_token(_authority(session, ring), imprint, nonce=None, include_certs=True)
    record = _record(session, actor, record_id=uuid.uuid4(), kind="hash", level=name, row=row,
                     digest_hex=digest_bytes.hex()[:64], document_name=display, reason=None, signed_at=utcnow())
    return SignedHash(record=SignatureRecordRead.model_validate(record), signature=signature, certificate_pem=row.pem,
                      timestamp_token=bytes(token.dump()))


def get_signature_record(session: Session, *, record_id: uuid.UUID) -> SignatureRecordRead:
    """The public record behind a QR code: who signed which document (by digest) and when."""
    record = repository.signature_record(session, record_id)
    if record is None:
        raise NotFound(_("Nokor has no record of this signature."))
    return SignatureRecordRead.model_validate(record)


def list_signature_records(session: Session, actor: Actor, *, start: datetime | None = None,
                           end: datetime | None = None, limit: int = 200) -> list[SignatureRecordRead]:
    """The signature log, newest first (GovStack e-Signature audit log)."""
    actor.require(TRUST_MANAGE)
    return [SignatureRecordRead.model_validate(r)
            for r in repository.signature_records(session, start=start, end=end, limit=limit)]


# --- verification --------------------------------------------------------------------------------


def _finding(code: str) -> Finding:
    messages = {
        "not_intact": _("The document was changed after it was signed."),
        "modified_after": _("Content was added to the document after it was signed."),
        "bad_signature": _("The signature does not match the signed content."),
        "untrusted": _("The certificate was not issued by this platform's certification authorities."),
        "unknown_key": _("The signing key is unknown to this platform."),
        "revoked_before": _("The certificate had been revoked before the document was signed."),
        "revoked_unproven": _("The certificate has been revoked and the signing time is not proven by a timestamp."),
        "suspended": _("The certificate is suspended."),
        "expired_when_signed": _("The certificate was not valid at the time of signing."),
        "no_timestamp": _("The signing time is not proven by a timestamp."),
        "expired_since": _("The certificate has expired since; the timestamp proves it was valid when signing."),
        "revoked_since": _("The certificate was revoked after signing; the timestamp proves the signature came first."),
        "wrong_algorithm": _("The signature algorithm is not accepted."),
        "payload_missing": _("This is a detached signature: upload the signed content with it."),
        "not_for_signing": _("This certificate may not sign documents."),
        "unreadable": _("The signature cannot be read."),
        "archive_timestamp": _("An archive timestamp protects the document and its validation data."),
    }
    return Finding(code=code, message=messages[code])


def _status_findings(row: Certificate | None, *, proven: datetime | None, claimed: datetime | None,
                     now: datetime) -> tuple[list[Finding], list[Finding]]:
    """Nokor's revocation rule: what counts is the status at the time a timestamp proves."""
    problems: list[Finding] = []
    notes: list[Finding] = []
    if row is None:
        return [_finding("unknown_key")], notes
    if row.kind not in ("seal", "officer", "agency"):
        problems.append(_finding("not_for_signing"))
    moment = proven or claimed or now
    if row.status in ("revoked", "suspended") and row.revoked_at is not None:
        if proven is not None and proven < row.revoked_at:
            notes.append(_finding("revoked_since"))
        elif row.status == "suspended":
            problems.append(_finding("suspended"))
        else:
            problems.append(_finding("revoked_before" if proven is not None else "revoked_unproven"))
    if not row.not_before <= moment <= row.not_after:
        problems.append(_finding("expired_when_signed"))
    elif now > row.not_after:
        notes.append(_finding("expired_since") if proven is not None else _finding("expired_when_signed"))
        if proven is None:
            problems.append(notes.pop())
    return problems, notes


def _summary(holds: bool, count: int) -> str:
    if count == 0:
        return _("The file carries no signature.")
    return _("Every signature holds.") if holds else _("At least one signature does not hold.")


def verify_pdf(session: Session, *, data: bytes, at: datetime | None = None) -> VerificationReport:
    """Who signed a PDF, when, whether it is intact and whether each signature holds, and if not why.

    Raises ``ValidationFailed`` for a file that is not a PDF, or one too damaged to read.
    """
    now = at or utcnow()
    material = _material(session)
    try:
        found = pdf_format.examine_pdf(data, material=material)
    except pdf_format.NotAPdf as exc:
        raise ValidationFailed(errors=[field_error(["file"], _("This file is not a PDF."), "not_a_pdf")]) from exc
    except pdf_format.DamagedPdf as exc:
        raise ValidationFailed(errors=[field_error(["file"], _("The PDF is damaged or incomplete."),
                                                   "damaged_pdf")]) from exc
    checks: list[SignatureCheck] = []
    archive: datetime | None = None
    for item in found:
        if item.kind == "document_timestamp":
            if item.intact and item.valid and item.trusted:
                archive = item.timestamp_time
            continue
        problems: list[Finding] = []
        notes: list[Finding] = []
        if item.problem is not None:
            problems.append(_finding("unreadable"))
        elif not item.intact:
            problems.append(_finding("not_intact"))
        elif not item.valid:
            problems.append(_finding("bad_signature"))
        if item.problem is None and item.intact and item.modified_after:
            problems.append(_finding("modified_after"))
        row = None
        if item.signer_cert is not None:
            row = repository.certificate_by_serial(session, pki.serial_hex(item.signer_cert))
            if row is not None and row.pem.strip() != pki.pem(item.signer_cert).strip():
                row = None
        if item.problem is None and row is None:
            problems.append(_finding("untrusted"))
        elif item.problem is None:
            proven = item.timestamp_time if item.timestamp_ok else None
            if proven is None:
                notes.append(_finding("no_timestamp"))
            more_problems, more_notes = _status_findings(row, proven=proven, claimed=item.claimed_time, now=now)
            problems += more_problems
            notes += more_notes
            if not item.trusted and not more_problems:
                # Issued here, yet its chain does not validate at the signing time for another reason.
                problems.append(_finding("untrusted"))
        checks.append(SignatureCheck(
            signer=item.signer_name, organisation=_organisation(item.signer_cert),
            certificate_serial=row.serial if row else None, certificate_status=row.status if row else None,
            signed_at=item.timestamp_time if item.timestamp_ok else item.claimed_time,
            time_proven_by_timestamp=item.timestamp_ok, intact=item.intact and not item.modified_after,
            valid=not problems, level=None, problems=problems, notes=notes,
        ))
    if archive is not None:
        for check in checks:
            check.notes.append(_finding("archive_timestamp"))
            check.level = "B-LTA"
    holds = bool(checks) and all(c.valid for c in checks)
    return VerificationReport(kind="pdf", holds=holds, summary=_summary(holds, len(checks)), signatures=checks,
                              document_sha256=hashlib.sha256(data).hexdigest(), archive_timestamp=archive)


def _organisation(cert: x509.Certificate | None) -> str | None:
    if cert is None:
        return None
    names = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    return str(names[0].value) if names else None


def verify_jws(session: Session, *, token: str, payload: bytes | None = None,
               at: datetime | None = None) -> VerificationReport:
    """Check a compact JWS (detached when ``payload`` is given separately) against the status table.

    A JWS carries no timestamp: its ``sigT`` is what the signer claims, so a revoked or suspended
    certificate makes it fail whatever that claim says.
    """
    now = at or utcnow()
    try:
        parsed = jws_format.parse_compact(token)
    except jws_format.JwsFormatError as exc:
        raise ValidationFailed(errors=[field_error(["jws"], _("This is not a compact JWS."), "not_a_jws")]) from exc
    kid = str(parsed.header.get("kid") or "")
    row = repository.certificate_by_serial(session, kid) if kid else None
    if row is None and parsed.chain:
        row = repository.certificate_by_serial(session, pki.serial_hex(parsed.chain[0]))
    claimed = _parse_sigt(parsed.header.get("sigT"))
    problems: list[Finding] = []
    notes: list[Finding] = [_finding("no_timestamp")]
    signed: bytes | None = None
    if row is None:
        problems.append(_finding("unknown_key"))
    else:
        public = _cert(row).public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            problems.append(_finding("wrong_algorithm"))
        else:
            try:
                signed = jws_format.verify_compact(token, public_key=public, payload=payload)
            except jws_format.JwsRejected as exc:
                problems.append(_finding(exc.code))
            except (InvalidSignature, ValueError):
                problems.append(_finding("bad_signature"))
        if not problems:
            more_problems, more_notes = _status_findings(row, proven=None, claimed=claimed, now=now)
            problems += more_problems
            notes += more_notes
    signer = _signer_label(_cert(row)) if row else ""
    check = SignatureCheck(
        signer=signer, organisation=_organisation(_cert(row)) if row else None,
        certificate_serial=row.serial if row else None, certificate_status=row.status if row else None,
        signed_at=claimed, time_proven_by_timestamp=False, intact=signed is not None,
        valid=not problems, level="JWS", problems=problems, notes=notes,
    )
    holds = check.valid
    text = None
    if signed is not None:
        text = signed.decode("utf-8", "replace")
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    return VerificationReport(kind="jws", holds=holds, summary=_summary(holds, 1), signatures=[check], payload=text)


def _parse_sigt(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None

