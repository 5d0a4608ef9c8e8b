"""X.509 building blocks: certificate profiles, CRLs and OCSP answers, signed through ``SigningKey``.

cryptography builds every structure; when the issuer's key is not an in-memory key (an HSM), the
structure is built with a throw-away key of the same type and its signature is replaced by one
the real key makes over the very same to-be-signed bytes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from nokor.trust.keys import HASH_FOR_CURVE, FileKey, SigningKey, hash_algorithm, sign_data

CertKind = Literal["root_ca", "documents_ca", "agencies_ca", "timestamping_ca", "seal", "officer", "tsa", "agency"]
CA_KINDS: tuple[CertKind, ...] = ("root_ca", "documents_ca", "agencies_ca", "timestamping_ca")
ISSUER_OF: dict[CertKind, CertKind] = {
    "documents_ca": "root_ca", "agencies_ca": "root_ca", "timestamping_ca": "root_ca",
    "seal": "documents_ca", "officer": "documents_ca", "tsa": "timestamping_ca", "agency": "agencies_ca",
}
# Where each CA's CRL and certificate are published (stable paths below the site's base URL).
CA_SLUG: dict[CertKind, str] = {
    "root_ca": "root", "documents_ca": "documents", "agencies_ca": "agencies", "timestamping_ca": "timestamping",
}
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning (RFC 9336)
VALIDITY: dict[CertKind, timedelta] = {
    "root_ca": timedelta(days=25 * 365), "documents_ca": timedelta(days=12 * 365),
    "agencies_ca": timedelta(days=12 * 365), "timestamping_ca": timedelta(days=12 * 365),
    "seal": timedelta(days=3 * 365), "officer": timedelta(days=2 * 365), "tsa": timedelta(days=6 * 365),
    "agency": timedelta(days=2 * 365),
}
CRL_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class Publication:
    """The public addresses written into certificates: CRLs, the OCSP responder, CA certificates."""

    base_url: str

    def crl_url(self, ca: CertKind) -> str:
        return f"{self.base_url.rstrip('/')}/trust/crl/{CA_SLUG[ca]}.crl"

    def ca_cert_url(self, ca: CertKind) -> str:
        return f"{self.base_url.rstrip('/')}/trust/ca/{CA_SLUG[ca]}.crt"

    @property
    def ocsp_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/trust/ocsp"


def name(common_name: str, organisation: str, country: str = "KH") -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, country),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64]),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
    ])


def _dummy_key(like: SigningKey) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1() if like.curve == "secp256r1" else ec.SECP384R1())


def sign_certificate(builder: x509.CertificateBuilder, issuer_key: SigningKey) -> x509.Certificate:
    """Sign a certificate with the issuer's key, wherever that key lives."""
    algorithm = hash_algorithm(HASH_FOR_CURVE[issuer_key.curve])
    if isinstance(issuer_key, FileKey):
        return builder.sign(issuer_key.private, algorithm)
    draft = asn1_x509.Certificate.load(
        builder.sign(_dummy_key(issuer_key), algorithm).public_bytes(serialization.Encoding.DER))
    tbs = draft["tbs_certificate"]
    signature = sign_data(issuer_key, tbs.dump(), HASH_FOR_CURVE[issuer_key.curve])
    final = asn1_x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": draft["signature_algorithm"],
                                   "signature_value": signature})
    return x509.load_der_x509_certificate(final.dump())


def sign_crl(builder: x509.CertificateRevocationListBuilder, issuer_key: SigningKey) -> x509.CertificateRevocationList:
    algorithm = hash_algorithm(HASH_FOR_CURVE[issuer_key.curve])
    if isinstance(issuer_key, FileKey):
        return builder.sign(issuer_key.private, algorithm)
    draft = asn1_crl.CertificateList.load(
        builder.sign(_dummy_key(issuer_key), algorithm).public_bytes(serialization.Encoding.DER))
    tbs = draft["tbs_cert_list"]
    signature = sign_data(issuer_key, tbs.dump(), HASH_FOR_CURVE[issuer_key.curve])
    final = asn1_crl.CertificateList({"tbs_cert_list": tbs, "signature_algorithm": draft["signature_algorithm"],
                                      "signature": signature})
    return x509.load_der_x509_crl(final.dump())


def sign_ocsp(builder: ocsp.OCSPResponseBuilder, issuer_key: SigningKey) -> bytes:
    algorithm = hash_algorithm(HASH_FOR_CURVE[issuer_key.curve])
    if isinstance(issuer_key, FileKey):
        return builder.sign(issuer_key.private, algorithm).public_bytes(serialization.Encoding.DER)
    draft = asn1_ocsp.OCSPResponse.load(
        builder.sign(_dummy_key(issuer_key), algorithm).public_bytes(serialization.Encoding.DER))
    basic = draft["response_bytes"]["response"].parsed
    tbs = basic["tbs_response_data"]
    signature = sign_data(issuer_key, tbs.dump(), HASH_FOR_CURVE[issuer_key.curve])
    new_basic = asn1_ocsp.BasicOCSPResponse({"tbs_response_data": tbs,
                                             "signature_algorithm": basic["signature_algorithm"],
                                             "signature": signature, "certs": basic["certs"]})
    final = asn1_ocsp.OCSPResponse({"response_status": "successful", "response_bytes": {
        "response_type": "basic_ocsp_response", "response": new_basic}})
    return bytes(final.dump())


def random_serial() -> int:
    # 159 bits: positive, below 20 octets, and unpredictable (CA/B Forum asks for 64 random bits).
    return secrets.randbits(159) | (1 << 150)


def build_certificate(
    *,
    kind: CertKind,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_key: SigningKey,
    issuer_cert: x509.Certificate | None,
    publication: Publication,
    now: datetime,
    not_after: datetime | None = None,
    not_before: datetime | None = None,
) -> x509.Certificate:
    """A certificate of one of Nokor's profiles, with the key usages, CRL and OCSP locations it needs."""
    issuer_name = issuer_cert.subject if issuer_cert is not None else subject
    start = not_before or now - timedelta(minutes=5)
    end = not_after or now + VALIDITY[kind]
    if issuer_cert is not None:
        end = min(end, issuer_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    issuer_public = issuer_cert.public_key() if issuer_cert is not None else public_key
    if isinstance(issuer_public, ec.EllipticCurvePublicKey):
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
    is_ca = kind in CA_KINDS
    if is_ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=1 if kind == "root_ca" else 0), critical=True)
        builder = builder.add_extension(_key_usage(cert_sign=True), critical=True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        if kind in ("seal", "officer"):
            builder = builder.add_extension(_key_usage(signature=True, non_repudiation=True), critical=True)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        elif kind == "tsa":
            builder = builder.add_extension(_key_usage(signature=True, non_repudiation=True), critical=True)
            # RFC 3161 §2.3: exactly one key purpose, timeStamping, marked critical.
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        elif kind == "agency":
            builder = builder.add_extension(_key_usage(signature=True, key_agreement=True), critical=True)
            builder = builder.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if kind != "root_ca":
        issuer_kind = ISSUER_OF[kind]
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(publication.crl_url(issuer_kind))],
            relative_name=None, reasons=None, crl_issuer=None)]), critical=False)
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP,
                                   x509.UniformResourceIdentifier(publication.ocsp_url)),
            x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                                   x509.UniformResourceIdentifier(publication.ca_cert_url(issuer_kind))),
        ]), critical=False)
    return sign_certificate(builder, issuer_key)


def _key_usage(*, cert_sign: bool = False, signature: bool = False, non_repudiation: bool = False,
               key_agreement: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signature or cert_sign, content_commitment=non_repudiation, key_encipherment=False,
        data_encipherment=False, key_agreement=key_agreement, key_cert_sign=cert_sign, crl_sign=cert_sign,
        encipher_only=False, decipher_only=False,
    )


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags


def build_crl(*, issuer_cert: x509.Certificate, issuer_key: SigningKey, number: int, now: datetime,
              revoked: list[RevokedEntry]) -> x509.CertificateRevocationList:
    """A complete CRL of one CA, valid for a week (it is also regenerated at every revocation)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(now)
        .next_update(now + CRL_LIFETIME)
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    public = issuer_cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
    for entry in revoked:
        revoked_cert = (
            x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(entry.revoked_at)
            .add_extension(x509.CRLReason(entry.reason), critical=False).build()
        )
        builder = builder.add_revoked_certificate(revoked_cert)
    return sign_crl(builder, issuer_key)


@dataclass(frozen=True)
class OcspStatus:
    """What the status table says about one certificate, for an OCSP answer."""

    cert: x509.Certificate
    status: Literal["good", "revoked", "unknown"]
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


def build_ocsp_response(*, request: ocsp.OCSPRequest, found: OcspStatus, issuer_cert: x509.Certificate,
                        issuer_key: SigningKey, now: datetime) -> bytes:
    """A signed OCSP answer, signed by the issuing CA itself (RFC 6960 §4.2.2.2, no delegated responder)."""
    cert_status = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
                   "unknown": ocsp.OCSPCertStatus.UNKNOWN}[found.status]
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=found.cert, issuer=issuer_cert, algorithm=request.hash_algorithm, cert_status=cert_status,
        this_update=now, next_update=now + timedelta(hours=12),
        revocation_time=found.revoked_at if found.status == "revoked" else None,
        revocation_reason=found.reason if found.status == "revoked" else None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer_cert)
    for extension in request.extensions:
        if isinstance(extension.value, x509.OCSPNonce):
            builder = builder.add_extension(extension.value, critical=False)
    return sign_ocsp(builder, issuer_key)


def ocsp_error(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def load_pem(text: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(text.encode())


def serial_hex(cert_or_serial: x509.Certificate | int) -> str:
    serial = cert_or_serial if isinstance(cert_or_serial, int) else cert_or_serial.serial_number
    return format(serial, "x")


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()
