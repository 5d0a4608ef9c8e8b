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
from typing import Any

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
    token = issue_token(authority, imprint, nonce=request["nonce"].native,
                        include_certs=bool(request["cert_req"].native), now=now)
    return TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def issue_token(authority: TimestampAuthority, imprint: tsp.MessageImprint, *, nonce: int | None,
                include_certs: bool, now: datetime | None = None) -> cms.ContentInfo:
    """A ``TimeStampToken``: CMS SignedData over a ``TSTInfo``, with an ESS signing-certificate-v2 attribute."""
    moment = (now or utcnow()).replace(microsecond=(now or utcnow()).microsecond // 1000 * 1000)
    tsa_cert = _asn1_cert(authority.chain[0])
    info: dict[str, Any] = {
        "version": "v1",
        "policy": POLICY_OID,
        "message_imprint": imprint,
        "serial_number": uuid7().int,
        "gen_time": moment,
        "accuracy": {"seconds": 1},
        "ordering": False,
        "tsa": asn1_x509.GeneralName(name="directory_name", value=tsa_cert.subject),
    }
    if nonce is not None:
        info["nonce"] = nonce
    tst_info = tsp.TSTInfo(info)
    content = tst_info.dump()
    digest_name = HASH_FOR_CURVE[authority.key.curve]
    signed_attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
        cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": moment})]}),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.new(digest_name, content).digest()]}),
        cms.CMSAttribute({"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({"certs": [
            tsp.ESSCertIDv2({
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "cert_hash": hashlib.sha256(tsa_cert.dump()).digest(),
                "issuer_serial": {"issuer": [asn1_x509.GeneralName(name="directory_name", value=tsa_cert.issuer)],
                                  "serial_number": tsa_cert.serial_number},
            })
        ]})]}),
    ])
    signature = authority.key.sign_digest(hashlib.new(digest_name, signed_attrs.dump()).digest(), digest_name)
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number})}),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest_name}),
        "signed_attrs": signed_attrs,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": f"{digest_name}_ecdsa"}),
        "signature": signature,
    })
    signed_data: dict[str, Any] = {
        "version": "v3",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest_name})],
        "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(content)},
        "signer_infos": [signer_info],
    }
    if include_certs:
        signed_data["certificates"] = [_asn1_cert(c) for c in authority.chain]
    return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


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
