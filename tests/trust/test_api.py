"""The trust API and the public PKI endpoints as agency systems, banks and foreign verifiers call them."""

from __future__ import annotations

import base64
import hashlib
import subprocess

from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from tests.conftest import issue_key, make_org_unit
from tests.trust.conftest import birth_certificate_pdf

from nokor import audit
from nokor.trust.tsa import TimeStampResp

PROBLEM = "application/problem+json"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class TestVerifyApi:
    def test_sign_through_the_api_then_verify_as_json(self, client, db, hierarchy):
        key = issue_key(db, permissions=["trust.sign"])
        db.commit()
        signed = client.post("/api/v1/trust/sign/pdf?document_name=Birth%20certificate", headers={
            **_auth(key), "Content-Type": "application/pdf"}, content=birth_certificate_pdf())
        assert signed.status_code == 200, signed.text
        assert signed.headers["content-type"] == "application/pdf"
        record_id = signed.headers["x-nokor-signature-id"]
        answer = client.post("/api/v1/trust/verify", headers={"Content-Type": "application/pdf"},
                             content=signed.content)
        assert answer.status_code == 200
        body = answer.json()
        assert body["holds"] is True and body["signatures"][0]["time_proven_by_timestamp"] is True
        upload = client.post("/api/v1/trust/verify", files={"file": ("b.pdf", signed.content, "application/pdf")})
        assert upload.json()["holds"] is True
        record = client.get(f"/api/v1/trust/signatures/{record_id}").json()
        assert record["document_sha256"] == hashlib.sha256(signed.content).hexdigest()
        entries = audit.list_entries(db, audit_actor(), subject_type="signature").items
        assert [e.action for e in entries] == ["signature.pdf"]

    def test_signing_needs_the_permission(self, client, db, hierarchy):
        key = issue_key(db, permissions=[])
        db.commit()
        answer = client.post("/api/v1/trust/sign/pdf", headers={**_auth(key), "Content-Type": "application/pdf"},
                             content=birth_certificate_pdf())
        assert answer.status_code == 403 and answer.headers["content-type"] == PROBLEM
        anonymous = client.post("/api/v1/trust/sign/pdf", headers={"Content-Type": "application/pdf"},
                                content=birth_certificate_pdf())
        assert anonymous.status_code == 401

    def test_non_pdf_altered_and_truncated_uploads_are_problems_not_500(self, client, db, ring, hierarchy):
        from tests.trust.conftest import SYSTEM

        from nokor import trust

        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf()).pdf
        db.commit()
        not_pdf = client.post("/api/v1/trust/verify", headers={"Content-Type": "application/pdf"},
                              content=b"PK\x03\x04")
        assert not_pdf.status_code == 422 and not_pdf.headers["content-type"] == PROBLEM
        assert not_pdf.json()["errors"][0]["code"] == "not_a_pdf"
        cut = client.post("/api/v1/trust/verify", headers={"Content-Type": "application/pdf"},
                          content=signed[: len(signed) - 500])
        assert cut.status_code == 422 and cut.json()["errors"][0]["code"] == "damaged_pdf"
        position = signed.index(b"Sok Dara")
        altered = client.post("/api/v1/trust/verify", headers={"Content-Type": "application/pdf"},
                              content=signed[:position] + b"X" + signed[position + 1:])
        assert altered.status_code == 200 and altered.json()["holds"] is False
        text = client.post("/api/v1/trust/verify", headers={"Content-Type": "text/plain"}, content=b"hi")
        assert text.status_code == 415 and text.headers["content-type"] == PROBLEM

    def test_jws_sign_and_verify_and_bad_tokens(self, client, db, hierarchy):
        key = issue_key(db, permissions=["trust.sign"])
        db.commit()
        signed = client.post("/api/v1/trust/sign/jws", headers=_auth(key), json={"payload": {"nid": "123"}})
        assert signed.status_code == 200, signed.text
        token = signed.json()["jws"]
        good = client.post("/api/v1/trust/verify", json={"jws": token})
        assert good.status_code == 200 and good.json()["holds"] is True
        stranger = ec.generate_private_key(ec.SECP256R1())
        from nokor.kit.time import utcnow
        from nokor.trust.jws import sign_compact
        from nokor.trust.keys import FileKey

        unknown = sign_compact(b"{}", key=FileKey(ref="x", curve="secp256r1", private=stranger), chain=(),
                               kid="abcdef", signed_at=utcnow())
        refused = client.post("/api/v1/trust/verify", json={"jws": unknown})
        assert refused.json()["signatures"][0]["problems"][0]["code"] == "unknown_key"
        garbage = client.post("/api/v1/trust/verify", json={"jws": "a.b"})
        assert garbage.status_code == 422 and garbage.headers["content-type"] == PROBLEM


def audit_actor():
    from nokor.kit.actor import Actor

    return Actor.system("tests")


class TestTimestampAuthorityEndpoint:
    def test_openssl_query_in_reply_out(self, client, hierarchy, tmp_path):
        (tmp_path / "data.txt").write_text("exchange message 1")
        subprocess.run(["openssl", "ts", "-query", "-data", str(tmp_path / "data.txt"), "-sha256", "-cert",
                        "-out", str(tmp_path / "q.tsq")], check=True, capture_output=True)
        answer = client.post("/trust/tsa", headers={"Content-Type": "application/timestamp-query"},
                             content=(tmp_path / "q.tsq").read_bytes())
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/timestamp-reply"
        reply = TimeStampResp.load(answer.content)
        assert reply["status"]["status"].native == "granted"
        (tmp_path / "r.tsr").write_bytes(answer.content)
        (tmp_path / "root.pem").write_text(hierarchy.root.pem)
        (tmp_path / "ca.pem").write_text(next(c.pem for c in hierarchy.issuing if c.kind == "timestamping_ca"))
        verified = subprocess.run(["openssl", "ts", "-verify", "-in", str(tmp_path / "r.tsr"), "-queryfile",
                                   str(tmp_path / "q.tsq"), "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                                   str(tmp_path / "ca.pem")], capture_output=True, text=True, check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr

    def test_malformed_query_and_wrong_type_are_problems(self, client, hierarchy):
        bad = client.post("/trust/tsa", headers={"Content-Type": "application/timestamp-query"}, content=b"\x01\x02")
        assert bad.status_code == 400 and bad.headers["content-type"] == PROBLEM
        assert "TimeStampReq" in bad.json()["detail"]
        wrong = client.post("/trust/tsa", headers={"Content-Type": "application/json"}, content=b"{}")
        assert wrong.status_code == 415

    def test_rejected_request_is_an_rfc3161_rejection(self, client, hierarchy):
        request = tsp.TimeStampReq({"version": 1, "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"short"}})
        answer = client.post("/trust/tsa", headers={"Content-Type": "application/timestamp-query"},
                             content=request.dump())
        assert TimeStampResp.load(answer.content)["status"]["status"].native == "rejection"


class TestRevocationEndpoints:
    def test_crl_at_a_stable_url_follows_revocation_and_ocsp_answers(self, client, db, hierarchy):
        key = issue_key(db, permissions=["trust.manage"])
        unit = make_org_unit(db)
        db.commit()
        seal = client.post("/api/v1/trust/seals", headers=_auth(key),
                           json={"org_unit_id": str(unit.id), "organisation_name": "Ministry of Health"})
        assert seal.status_code == 201, seal.text
        serial = seal.json()["serial"]
        revoked = client.post(f"/api/v1/trust/certificates/{serial}/status", headers=_auth(key),
                              json={"status": "revoked", "revocation_reason": "key_compromise", "reason": "lost"})
        assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
        crl = client.get("/trust/crl/documents.crl")
        assert crl.status_code == 200 and crl.headers["content-type"] == "application/pkix-crl"
        parsed = x509.load_der_x509_crl(crl.content)
        assert parsed.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
        ca = x509.load_der_x509_certificate(client.get("/trust/ca/documents.crt").content)
        cert = x509.load_pem_x509_certificate(seal.json()["pem"].encode())
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, ca, hashes.SHA1()).build()
        der = request.public_bytes(serialization.Encoding.DER)
        posted = ocsp.load_der_ocsp_response(client.post("/trust/ocsp", content=der, headers={
            "Content-Type": "application/ocsp-request"}).content)
        assert posted.certificate_status == ocsp.OCSPCertStatus.REVOKED
        got = ocsp.load_der_ocsp_response(client.get("/trust/ocsp/" + base64.b64encode(der).decode()).content)
        assert got.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert client.get("/trust/crl/nope.crl").status_code == 404


class TestGovStackESignature:
    def test_certificate_lifecycle_hash_signing_and_audit_log(self, client, db, hierarchy):
        key = issue_key(db, permissions=["trust.manage", "trust.sign"], identity="KH/GOV/MOH/his")
        db.commit()
        agency_key = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(agency_key, hashes.SHA256())
        created = client.post("/govstack/esignature/v1/cert/create", headers=_auth(key), json={
            "CSR": csr.public_bytes(serialization.Encoding.PEM).decode(), "SCDType": "REMOTE_SCD_SIM"})
        assert created.status_code == 200, created.text
        assert created.json()["pseudonym"] == "KH/GOV/MOH/his" and created.json()["status"]["code"] == "OK"
        listed = client.get("/govstack/esignature/v1/cert/list", headers=_auth(key)).json()
        assert {c["certificateId"] for c in listed} >= {created.json()["certificateId"],
                                                        hierarchy.platform_seal.serial}
        digest = hashlib.sha256(b"consent form 1234").digest()
        signed = client.post(f"/govstack/esignature/v1/sign/certificateId/{hierarchy.platform_seal.serial}",
                             headers=_auth(key), json={"hash": base64.b64encode(digest).decode(),
                                                       "hashType": "SHA2-256", "format": "CAdES"})
        assert signed.status_code == 200, signed.text
        cert = x509.load_pem_x509_certificate(signed.json()["certificate"].encode())
        from cryptography.hazmat.primitives.asymmetric import utils

        cert.public_key().verify(base64.b64decode(signed.json()["signature"]), digest,  # type: ignore[union-attr,call-arg]
                                 ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        suspended = client.patch(f"/govstack/esignature/v1/cert/{created.json()['certificateId']}",
                                 headers=_auth(key), json={"status": {"code": "SUSPEND", "message": "audit"}})
        assert suspended.json()["status"]["code"] == "SUSPENDED"
        only = client.get("/govstack/esignature/v1/cert/list?filter=SUSPENDED", headers=_auth(key)).json()
        assert [c["certificateId"] for c in only] == [created.json()["certificateId"]]
        log = client.get("/govstack/esignature/v1/audit/log", headers=_auth(key)).json()
        assert len(log) == 1 and log[0]["certificateId"] == hierarchy.platform_seal.serial
        assert client.get("/govstack/esignature/v2/cert/list", headers=_auth(key)).status_code == 404
        bad = client.post(f"/govstack/esignature/v1/sign/certificateId/{hierarchy.platform_seal.serial}",
                          headers=_auth(key), json={"hash": "!!", "hashType": "SHA2-256"})
        assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
