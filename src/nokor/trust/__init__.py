"""Trust services: the government PKI (root and issuing CAs, status table, CRL, OCSP), an RFC 3161
timestamp authority, PAdES signatures on PDFs, JSON signatures (JWS) and their verification.

Other domains use only what is listed here: for instance ``sign_pdf`` to seal a birth certificate,
``sign_json`` for an exchange message or a QR payload, and ``verify_pdf`` / ``verify_jws``.
"""

from nokor.trust.demo import load_demo
from nokor.trust.keyring import KeyRing, key_ring
from nokor.trust.schemas import (
    CertificateRead,
    Finding,
    HierarchyRead,
    SignatureCheck,
    SignatureRecordRead,
    SignedHash,
    SignedJws,
    SignedPdf,
    VerificationReport,
)
from nokor.trust.service import (
    TRUST_MANAGE,
    TRUST_SIGN,
    answer_ocsp,
    answer_timestamp_query,
    ca_certificate,
    current_crl,
    get_certificate,
    get_signature_record,
    init_hierarchy,
    issue_agency_certificate,
    issue_officer_certificate,
    issue_seal_certificate,
    list_certificates,
    list_signature_records,
    set_certificate_status,
    sign_hash,
    sign_json,
    sign_jwt,
    sign_pdf,
    verify_jws,
    verify_pdf,
)

__all__ = [
    "TRUST_MANAGE",
    "TRUST_SIGN",
    "CertificateRead",
    "Finding",
    "HierarchyRead",
    "KeyRing",
    "SignatureCheck",
    "SignatureRecordRead",
    "SignedHash",
    "SignedJws",
    "SignedPdf",
    "VerificationReport",
    "answer_ocsp",
    "answer_timestamp_query",
    "ca_certificate",
    "current_crl",
    "get_certificate",
    "get_signature_record",
    "init_hierarchy",
    "issue_agency_certificate",
    "issue_officer_certificate",
    "issue_seal_certificate",
    "key_ring",
    "list_certificates",
    "list_signature_records",
    "load_demo",
    "set_certificate_status",
    "sign_hash",
    "sign_json",
    "sign_jwt",
    "sign_pdf",
    "verify_jws",
    "verify_pdf",
]
