"""RFC 3161 timestamp authority: read a ``TimeStampReq``, answer a signed ``TimeStampResp``.

Built on asn1crypto for the structures and on ``SigningKey`` for the signature, so the TSA key can
sit in an HSM like every other key. Nokor's own PDF signatures get their timestamps from here too,
in process, through ``NokorTimeStamper``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.timestamps import TimeStamper

from nokor.kit.ids import uuid7
from nokor.kit.time import utcnow
from nokor.trust.keys import HASH_FOR_CURVE, SigningKey

# Nokor's timestamp policy; a 2.25 arc (ITU-T X.667) needs no registration.
POLICY_OID = "2.25." + str(uuid.UUID("7c0f9e2a-5d64-4a3e-9b1e-6b3f1d2a8c11").int)
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


class TimeStampResp(core.Sequence):  # type: ignore[misc]
    """RFC 3161 ``TimeStampResp``; asn1crypto's own forgets that the token is absent in a rejection."""

    _fields = [("status", tsp.PKIStatusInfo), ("time_stamp_token", cms.ContentInfo, {"optional": True})]


class MalformedQuery(ValueError):
    """The body is not a DER-encoded RFC 3161 ``TimeStampReq``."""


@dataclass(frozen=True)
class TimestampAuthority:
    """The TSA's key and certificate chain (TSA certificate first)."""

    key: SigningKey
    chain: tuple[x509.Certificate, ...]


def parse_query(body: bytes) -> tsp.TimeStampReq:
    """The request, fully decoded, or ``MalformedQuery`` saying what is wrong with it."""
    if not body:
        raise MalformedQuery("the timestamp query is empty")
    try:
        request = tsp.TimeStampReq.load(body, strict=True)
        request.native  # noqa: B018  - decoding every field now turns bad DER into an error here
    except (ValueError, TypeError, OverflowError) as exc:
        raise MalformedQuery(f"the body is not a DER-encoded TimeStampReq: {exc}") from exc
    return request


def _rejection(fail_info: str, text: str) -> TimeStampResp:
    return TimeStampResp({"status": {
        "status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({fail_info}),
    }})


def respond(authority: TimestampAuthority, request: tsp.TimeStampReq, *, now: datetime | None = None) -> TimeStampResp:
    """A granted, signed timestamp for an acceptable request; an RFC 3161 rejection otherwise."""
    if request["version"].native not in (1, "v1"):
        return _rejection("bad_request", "only version 1 requests are supported")
    imprint = request["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    if algorithm not in DIGEST_SIZES:
        return _rejection("bad_alg", f"hash algorithm {algorithm} is not accepted; use SHA-256, -384 or -512")
    if len(imprint["hashed_message"].native) != DIGEST_SIZES[algorithm]:
        return _rejection("bad_data_format", "the hashed message has the wrong length for its algorithm")
    policy = request["req_policy"].native
    if policy is not None and policy != POLICY_OID:
        return _rejection("unaccepted_policy", f"only policy {POLICY_OID} is offered")
    token = issue_token_der(authority, imprint, nonce=request["nonce"].native,
                            include_certs=bool(request["cert_req"].native), now=now)
    response: TimeStampResp = TimeStampResp.load(_sequence(_GRANTED, token))
    return response


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


# --- DER by hand for the parts that change with every reply -----------------------------------
# asn1crypto re-encodes a whole structure (certificates included) whenever a new one is built from
# parts, which made each reply cost ~20 ms. Everything that depends only on the TSA certificate is
# encoded once (``_Prepared``); per reply only the TSTInfo, the signed attributes and the signature
# are encoded, with the few DER helpers below. Tests compare the result with asn1crypto's encoding.


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    body = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


def _der_integer(value: int) -> bytes:
    magnitude = value if value >= 0 else -value - 1
    size = (magnitude.bit_length() + 8) // 8  # room for the sign bit: two's complement, minimal
    return _tlv(0x02, value.to_bytes(size, "big", signed=True))


def _der_generalized_time(moment: datetime) -> bytes:
    fraction = "." + str(moment.microsecond).zfill(6).rstrip("0") if moment.microsecond else ""
    return _tlv(0x18, (moment.strftime("%Y%m%d%H%M%S") + fraction + "Z").encode())


def _der_utc_time(moment: datetime) -> bytes:
    return _tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())


def _sequence(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _attribute(oid_der: bytes, value_der: bytes) -> bytes:
    return _sequence(oid_der, _tlv(0x31, value_der))


@dataclass(frozen=True)
class _Prepared:
    """The DER pieces of a reply that depend only on the TSA certificate chain and digest."""

    digest_name: str
    tst_head: bytes  # version and policy
    tst_accuracy: bytes
    tst_tsa: bytes  # [0] EXPLICIT GeneralName of the TSA
    attr_content_type: bytes
    attr_signing_certificate: bytes
    oid_signing_time: bytes
    oid_message_digest: bytes
    signer_head: bytes  # version, sid, digestAlgorithm
    signer_tail: bytes  # signatureAlgorithm
    digest_algorithms: bytes  # SET OF DigestAlgorithmIdentifier
    content_type_tst_info: bytes
    certificates: bytes  # [0] IMPLICIT CertificateSet
    content_type_signed_data: bytes


_GRANTED = _sequence(_der_integer(0))


@lru_cache(maxsize=8)
def _prepare(chain: tuple[x509.Certificate, ...], digest_name: str) -> _Prepared:
    tsa_cert = _asn1_cert(chain[0])
    oid = core.ObjectIdentifier
    content_type = cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump()
    signing_certificate = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [
        tsp.SigningCertificateV2({"certs": [tsp.ESSCertIDv2({
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "cert_hash": hashlib.sha256(tsa_cert.dump()).digest(),
            "issuer_serial": {"issuer": [asn1_x509.GeneralName(name="directory_name", value=tsa_cert.issuer)],
                              "serial_number": tsa_cert.serial_number},
        })]})]}).dump()
    sid = cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
        "issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number})}).dump()
    digest_algorithm = algos.DigestAlgorithm({"algorithm": digest_name}).dump()
    certificates = b"".join(sorted(_asn1_cert(c).dump() for c in chain))  # DER orders a SET OF
    return _Prepared(
        digest_name=digest_name,
        tst_head=_der_integer(1) + oid(POLICY_OID).dump(),
        tst_accuracy=tsp.Accuracy({"seconds": 1}).dump(),
        tst_tsa=_tlv(0xA0, asn1_x509.GeneralName(name="directory_name", value=tsa_cert.subject).dump()),
        attr_content_type=content_type,
        attr_signing_certificate=signing_certificate,
        oid_signing_time=cms.CMSAttributeType("signing_time").dump(),
        oid_message_digest=cms.CMSAttributeType("message_digest").dump(),
        signer_head=_der_integer(1) + sid + digest_algorithm,
        signer_tail=algos.SignedDigestAlgorithm({"algorithm": f"{digest_name}_ecdsa"}).dump(),
        digest_algorithms=_tlv(0x31, digest_algorithm),
        content_type_tst_info=cms.ContentType("tst_info").dump(),
        certificates=_tlv(0xA0, certificates),
        content_type_signed_data=cms.ContentType("signed_data").dump(),
    )


def issue_token_der(authority: TimestampAuthority, imprint: tsp.MessageImprint, *, nonce: int | None,
                    include_certs: bool, now: datetime | None = None) -> bytes:
    """A DER ``TimeStampToken``: CMS SignedData over a ``TSTInfo``, with an ESS signing-certificate-v2
    attribute; the chain is included when ``include_certs``."""
    moment = now or utcnow()
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    parts = _prepare(authority.chain, HASH_FOR_CURVE[authority.key.curve])
    # ordering is FALSE, its DEFAULT, so DER leaves it out.
    content = _sequence(
        parts.tst_head, imprint.dump(), _der_integer(uuid7().int), _der_generalized_time(moment), parts.tst_accuracy,
        _der_integer(nonce) if nonce is not None else b"", parts.tst_tsa,
    )
    digest_name = parts.digest_name
    attributes = sorted([
        parts.attr_content_type,
        _attribute(parts.oid_signing_time, _der_utc_time(moment)),
        _attribute(parts.oid_message_digest, _tlv(0x04, hashlib.new(digest_name, content).digest())),
        parts.attr_signing_certificate,
    ])
    signed_attrs = b"".join(attributes)
    signature = authority.key.sign_digest(hashlib.new(digest_name, _tlv(0x31, signed_attrs)).digest(), digest_name)
    signer_info = _sequence(parts.signer_head, _tlv(0xA0, signed_attrs), parts.signer_tail, _tlv(0x04, signature))
    signed_data = _sequence(
        _der_integer(3), parts.digest_algorithms,
        _sequence(parts.content_type_tst_info, _tlv(0xA0, _tlv(0x04, content))),
        parts.certificates if include_certs else b"",
        _tlv(0x31, signer_info),
    )
    return _sequence(parts.content_type_signed_data, _tlv(0xA0, signed_data))


def issue_token(authority: TimestampAuthority, imprint: tsp.MessageImprint, *, nonce: int | None,
                include_certs: bool, now: datetime | None = None) -> cms.ContentInfo:
    """A ``TimeStampToken`` (see ``issue_token_der``)."""
    token: cms.ContentInfo = cms.ContentInfo.load(
        issue_token_der(authority, imprint, nonce=nonce, include_certs=include_certs, now=now))
    return token


def reply_bytes(response: TimeStampResp) -> bytes:
    return bytes(response.dump())


def token_time(token: cms.ContentInfo) -> datetime:
    """The genTime of a timestamp token."""
    info = token["content"]["encap_content_info"]["content"].parsed
    moment: datetime = info["gen_time"].native
    return moment


class NokorTimeStamper(TimeStamper):
    """pyHanko's timestamp client, answered in process by Nokor's own TSA (no HTTP round trip)."""

    def __init__(self, authority: TimestampAuthority) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self.authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(reply_bytes(respond(self.authority, req)))
