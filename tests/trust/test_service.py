"""The trust services as other domains call them: hierarchy, signing, revocation and verification."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from tests.conftest import make_officer, make_org_unit, make_role
from tests.trust.conftest import SYSTEM, birth_certificate_pdf

from nokor import trust
from nokor.kit.actor import Actor
from nokor.kit.errors import Conflict, Forbidden, ValidationFailed
from nokor.kit.time import utcnow
from nokor.trust import pdf as pdf_format
from nokor.trust import pki


def _cert(read: trust.CertificateRead) -> x509.Certificate:
    return x509.load_pem_x509_certificate(read.pem.encode())


class TestInitHierarchy:
    def test_root_and_issuing_cas_carry_key_usages_crl_and_ocsp_locations(self, hierarchy, settings):
        root = _cert(hierarchy.root)
        assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        kinds = {c.kind: _cert(c) for c in hierarchy.issuing}
        assert set(kinds) == {"documents_ca", "agencies_ca", "timestamping_ca"}
        for ca in kinds.values():
            usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
            assert usage.key_cert_sign and usage.crl_sign
            crl_dp = ca.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
            assert crl_dp[0].full_name[0].value == f"{settings.base_url}/trust/crl/root.crl"
            ca.verify_directly_issued_by(root)
        tsa = _cert(hierarchy.tsa)
        eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
        seal = _cert(hierarchy.platform_seal)
        aia = seal.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        assert any(d.access_location.value == f"{settings.base_url}/trust/ocsp" for d in aia)
        assert seal.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment

    def test_refuses_to_overwrite_an_existing_hierarchy(self, db, ring, hierarchy):
        with pytest.raises(Conflict):
            trust.init_hierarchy(db, SYSTEM, ring=ring)
        assert len(trust.list_certificates(db, SYSTEM, kinds=("root_ca",))) == 1

    def test_key_files_are_encrypted(self, hierarchy, settings):
        files = list((settings.data_dir / "trust" / "keys").glob("*.key.pem"))
        assert len(files) == 6
        for path in files:
            assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
            assert path.stat().st_mode & 0o777 == 0o600


class TestSignAndVerifyPdf:
    def test_round_trip_names_the_signer_and_the_proven_time(self, db, ring, hierarchy):
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf(), document_name="Birth certificate")
        report = trust.verify_pdf(db, data=signed.pdf)
        assert report.holds, report
        [check] = report.signatures
        assert check.intact and check.valid and check.time_proven_by_timestamp
        assert check.signer.endswith("Seal") and check.certificate_serial == hierarchy.platform_seal.serial
        assert abs((check.signed_at - signed.record.signed_at).total_seconds()) < 60

    def test_one_altered_byte_is_detected(self, db, ring, hierarchy):
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf("Sok Dara")).pdf
        position = signed.index(b"Sok Dara")
        altered = signed[:position] + b"M" + signed[position + 1:]
        report = trust.verify_pdf(db, data=altered)
        assert not report.holds
        assert "not_intact" in [p.code for p in report.signatures[0].problems]

    def test_pyhanko_validator_accepts_it_from_the_embedded_revocation_data_alone(self, db, ring, hierarchy):
        import io

        from pyhanko.pdf_utils.reader import PdfFileReader
        from pyhanko.sign.validation import validate_pdf_signature
        from pyhanko.sign.validation.dss import DocumentSecurityStore

        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf()).pdf
        reader = PdfFileReader(io.BytesIO(signed))
        from asn1crypto import x509 as asn1_x509

        root = asn1_x509.Certificate.load(_cert(hierarchy.root).public_bytes(serialization.Encoding.DER))
        # B-LT: no network, revocation checking mandatory, only what the file itself carries (its DSS).
        context = DocumentSecurityStore.read_dss(reader).as_validation_context(
            {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "hard-fail"})
        status = validate_pdf_signature(reader.embedded_signatures[0], signer_validation_context=context)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert status.timestamp_validity is not None and status.timestamp_validity.trusted

    def test_pdfsig_accepts_the_signature(self, db, ring, hierarchy, tmp_path):
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf()).pdf
        path = tmp_path / "signed.pdf"
        path.write_bytes(signed)
        result = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert "Signature is Valid." in result.stdout
        assert "Signature Type: ETSI.CAdES.detached" in result.stdout

    @pytest.mark.parametrize(("language", "caption"), [
        ("km", "បោះត្រាដោយឌីជីថល"), ("ar", "ختم رقمي"), ("de", "Mit elektronischem Siegel versehen"),
        ("en", "Digitally sealed")])
    def test_the_visible_stamp_speaks_khmer_arabic_or_german_over_english(self, db, ring, hierarchy, tmp_path,
                                                                           language, caption):
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf(), language=language).pdf
        path = tmp_path / "sealed.pdf"
        path.write_bytes(signed)
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
        text = text.replace("\u202b", "").replace("\u202c", "")
        assert caption in text or caption[::-1] in text  # poppler writes right-to-left text in visual order
        assert text.count("Digitally sealed") == 1
        assert trust.verify_pdf(db, data=signed).holds

    def test_the_room_reserved_for_the_signature_suffices_and_a_shortfall_is_recovered(self, db, ring, hierarchy,
                                                                                      monkeypatch):
        calls = []
        real = pdf_format._sign_once
        monkeypatch.setattr(pdf_format, "_sign_once", lambda *a, **k: calls.append(k["reserved"]) or real(*a, **k))
        trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf(), level="B-LTA")
        assert len(calls) == 1 and calls[0] is not None  # no dummy signature was needed to measure the room
        calls.clear()
        monkeypatch.setattr(pdf_format, "signature_room", lambda chain, authority: 2000)
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf())
        assert calls == [2000, None]
        assert trust.verify_pdf(db, data=signed.pdf).holds

    def test_an_unknown_stamp_language_is_refused(self, db, ring, hierarchy):
        with pytest.raises(ValidationFailed):
            trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf(), language="fr")

    def test_b_lta_adds_an_archive_timestamp(self, db, ring, hierarchy):
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf(), level="B-LTA").pdf
        report = trust.verify_pdf(db, data=signed)
        assert report.holds and report.archive_timestamp is not None
        assert report.signatures[0].level == "B-LTA"

    def test_a_second_seal_keeps_the_first_valid(self, db, ring, hierarchy):
        unit = make_org_unit(db, code="MOI", name="Ministry of Interior")
        trust.issue_seal_certificate(db, SYSTEM, ring=ring, org_unit_id=unit.id,
                                     organisation_name="Ministry of Interior")
        once = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf()).pdf
        twice = trust.sign_pdf(db, SYSTEM, ring=ring, data=once, org_unit_id=unit.id).pdf
        report = trust.verify_pdf(db, data=twice)
        assert report.holds and len(report.signatures) == 2, [(s.problems, s.intact) for s in report.signatures]
        assert {s.organisation for s in report.signatures} >= {"Ministry of Interior"}

    @pytest.mark.parametrize("data", [b"GIF89a not a pdf", b"", b"hello %PDF-1.7 but no end"])
    def test_non_pdf_and_truncated_files_are_refused_clearly(self, db, ring, hierarchy, data):
        with pytest.raises(ValidationFailed):
            trust.verify_pdf(db, data=data)
        with pytest.raises(ValidationFailed):
            trust.sign_pdf(db, SYSTEM, ring=ring, data=data)
        assert trust.list_signature_records(db, SYSTEM) == []

    def test_a_truncated_signed_pdf_is_refused(self, db, ring, hierarchy):
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf()).pdf
        with pytest.raises(ValidationFailed) as caught:
            trust.verify_pdf(db, data=signed[: len(signed) // 2])
        assert caught.value.errors[0]["code"] == "damaged_pdf"

    def test_an_unsigned_pdf_does_not_hold(self, db, hierarchy):
        report = trust.verify_pdf(db, data=birth_certificate_pdf())
        assert not report.holds and report.signatures == []

    def test_signing_needs_the_permission_in_the_unit(self, db, ring, hierarchy):
        unit = make_org_unit(db)
        other = make_org_unit(db)
        trust.issue_seal_certificate(db, SYSTEM, ring=ring, org_unit_id=unit.id, organisation_name="Unit")
        role = make_role(db, permissions=["trust.sign"])
        officer = make_officer(db, org_unit=other.code, roles=[role.code])
        actor = Actor(kind="officer", id=officer.id, name=officer.username,
                      grants={"trust.sign": frozenset({other.id})})
        with pytest.raises(Forbidden):
            trust.sign_pdf(db, actor, ring=ring, data=birth_certificate_pdf(), org_unit_id=unit.id)

    def test_signing_is_audited(self, db, ring, hierarchy):
        from nokor import audit

        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf(), reason="Birth registered")
        entries = audit.list_entries(db, SYSTEM, subject_type="signature").items
        assert [e.subject_id for e in entries] == [str(signed.record.id)]
        assert entries[0].action == "signature.pdf"


class TestRevocationAndExpiry:
    def _seal(self, db, ring, **kw):
        unit = make_org_unit(db, name="Ministry of Health")
        seal = trust.issue_seal_certificate(db, SYSTEM, ring=ring, org_unit_id=unit.id,
                                            organisation_name="Ministry of Health", **kw)
        return unit, seal

    def test_signed_and_timestamped_before_revocation_stays_valid(self, db, ring, hierarchy):
        unit, seal = self._seal(db, ring)
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf(), org_unit_id=unit.id).pdf
        trust.set_certificate_status(db, SYSTEM, ring=ring, serial=seal.serial, status="revoked",
                                     revocation_reason="key_compromise")
        report = trust.verify_pdf(db, data=signed)
        assert report.holds, report
        assert "revoked_since" in [n.code for n in report.signatures[0].notes]
        assert report.signatures[0].certificate_status == "revoked"

    def test_signed_after_revocation_fails(self, db, ring, hierarchy):
        unit, seal = self._seal(db, ring)
        trust.set_certificate_status(db, SYSTEM, ring=ring, serial=seal.serial, status="revoked")
        with pytest.raises(Conflict):
            trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf(), org_unit_id=unit.id)
        # Someone who still holds the key signs anyway (and gets a genuine timestamp from the TSA).
        forged = _sign_bypassing_the_service(db, ring, seal)
        report = trust.verify_pdf(db, data=forged)
        assert not report.holds
        assert "revoked_before" in [p.code for p in report.signatures[0].problems]

    def test_revocation_regenerates_the_crl_and_ocsp_says_revoked(self, db, ring, hierarchy):
        _unit, seal = self._seal(db, ring)
        before = x509.load_der_x509_crl(trust.current_crl(db, ring=ring, slug="documents"))
        trust.set_certificate_status(db, SYSTEM, ring=ring, serial=seal.serial, status="revoked")
        after = x509.load_der_x509_crl(trust.current_crl(db, ring=ring, slug="documents"))
        documents_ca = next(_cert(c) for c in hierarchy.issuing if c.kind == "documents_ca")
        assert after.is_signature_valid(documents_ca.public_key())
        assert after.get_revoked_certificate_by_serial_number(int(seal.serial, 16)) is not None
        number = after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        assert number > before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        request = ocsp.OCSPRequestBuilder().add_certificate(_cert(seal), documents_ca, hashes.SHA256()).build()
        answer = ocsp.load_der_ocsp_response(trust.answer_ocsp(
            db, ring=ring, request_der=request.public_bytes(serialization.Encoding.DER)))
        assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED

    def test_ocsp_says_good_for_an_active_certificate_and_refuses_garbage(self, db, ring, hierarchy):
        documents_ca = next(_cert(c) for c in hierarchy.issuing if c.kind == "documents_ca")
        request = ocsp.OCSPRequestBuilder().add_certificate(
            _cert(hierarchy.platform_seal), documents_ca, hashes.SHA1()).build()
        answer = ocsp.load_der_ocsp_response(trust.answer_ocsp(
            db, ring=ring, request_der=request.public_bytes(serialization.Encoding.DER)))
        assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
        garbage = ocsp.load_der_ocsp_response(trust.answer_ocsp(db, ring=ring, request_der=b"\x30\x03junk"))
        assert garbage.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST

    def test_a_certificate_expired_since_signing_stays_valid_with_its_timestamp(self, db, ring, hierarchy):
        unit, seal = self._seal(db, ring)
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf(), org_unit_id=unit.id).pdf
        later = seal.not_after + timedelta(days=30)
        report = trust.verify_pdf(db, data=signed, at=later)
        assert report.holds, report
        assert "expired_since" in [n.code for n in report.signatures[0].notes]

    def test_an_expired_certificate_cannot_sign_and_its_signatures_fail(self, db, ring, hierarchy):
        now = utcnow()
        unit, seal = self._seal(db, ring, not_before=now - timedelta(days=60), not_after=now - timedelta(days=1))
        with pytest.raises(Conflict):
            trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf(), org_unit_id=unit.id)
        forged = _sign_bypassing_the_service(db, ring, seal)
        report = trust.verify_pdf(db, data=forged)
        assert not report.holds
        assert "expired_when_signed" in [p.code for p in report.signatures[0].problems]

    def test_suspension_can_be_lifted_but_revocation_is_final(self, db, ring, hierarchy):
        _unit, seal = self._seal(db, ring)
        trust.set_certificate_status(db, SYSTEM, ring=ring, serial=seal.serial, status="suspended")
        trust.set_certificate_status(db, SYSTEM, ring=ring, serial=seal.serial, status="active")
        trust.set_certificate_status(db, SYSTEM, ring=ring, serial=seal.serial, status="revoked")
        with pytest.raises(Conflict):
            trust.set_certificate_status(db, SYSTEM, ring=ring, serial=seal.serial, status="active")


def _sign_bypassing_the_service(db, ring, seal: trust.CertificateRead) -> bytes:
    """What a thief of the key could do: sign without asking the service (B-T, no revocation data)."""
    from nokor.trust import service

    row = service.repository.certificate_by_serial(db, seal.serial)
    return pdf_format.sign_pdf(
        birth_certificate_pdf(), key=service._open_key(ring, row), chain=service._chain(db, row),
        authority=service._authority(db, ring), material=service._material(db), verify_url="https://x.invalid/",
        stamp=pdf_format.StampText(signer="forged"), level="B-T")


class TestJws:
    def test_compact_round_trip_with_x5c_kid_and_signing_time(self, db, ring, hierarchy):
        signed = trust.sign_json(db, SYSTEM, ring=ring, payload=b'{"nid":"123456789"}')
        header = signed.jws.split(".")[0]
        import json

        fields = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        assert fields["alg"] == "ES256" and fields["kid"] == hierarchy.platform_seal.serial
        assert len(fields["x5c"]) == 2 and fields["sigT"].endswith("Z")
        report = trust.verify_jws(db, token=signed.jws)
        assert report.holds and '"nid": "123456789"' in (report.payload or "")

    def test_detached_needs_the_content_and_detects_a_change(self, db, ring, hierarchy):
        signed = trust.sign_json(db, SYSTEM, ring=ring, payload=b'{"amount":100}', detached=True)
        assert signed.jws.split(".")[1] == ""
        assert trust.verify_jws(db, token=signed.jws, payload=b'{"amount":100}').holds
        changed = trust.verify_jws(db, token=signed.jws, payload=b'{"amount":900}')
        assert not changed.holds and changed.signatures[0].problems[0].code == "bad_signature"
        missing = trust.verify_jws(db, token=signed.jws)
        assert missing.signatures[0].problems[0].code == "payload_missing"

    def test_unknown_key_is_refused(self, db, ring, hierarchy):
        from nokor.trust import jws
        from nokor.trust.keys import FileKey

        stranger = FileKey(ref="file:x", curve="secp256r1", private=ec.generate_private_key(ec.SECP256R1()))
        token = jws.sign_compact(b"{}", key=stranger, chain=(), kid="deadbeef", signed_at=utcnow())
        report = trust.verify_jws(db, token=token)
        assert not report.holds and report.signatures[0].problems[0].code == "unknown_key"

    def test_wrong_algorithm_is_refused(self, db, ring, hierarchy):
        import hmac
        import json

        from nokor.trust.jws import b64url

        header = b64url(json.dumps({"alg": "HS256", "kid": hierarchy.platform_seal.serial}).encode())
        body = b64url(b"{}")
        mac = hmac.new(hierarchy.platform_seal.pem.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
        report = trust.verify_jws(db, token=f"{header}.{body}.{b64url(mac)}")
        assert not report.holds and report.signatures[0].problems[0].code == "wrong_algorithm"

    def test_garbage_is_a_validation_error(self, db, hierarchy):
        with pytest.raises(ValidationFailed):
            trust.verify_jws(db, token="not a jws")

    def test_a_revoked_seal_fails_its_jws(self, db, ring, hierarchy):
        signed = trust.sign_json(db, SYSTEM, ring=ring, payload=b"{}")
        trust.set_certificate_status(db, SYSTEM, ring=ring, serial=hierarchy.platform_seal.serial, status="revoked")
        report = trust.verify_jws(db, token=signed.jws)
        assert not report.holds and report.signatures[0].problems[0].code == "revoked_unproven"


class TestTimestampAuthority:
    def test_openssl_ts_verify_accepts_the_reply(self, db, ring, hierarchy, tmp_path):
        data = tmp_path / "message.txt"
        data.write_text("Decision 42/2026 of the Ministry of Interior")
        query = tmp_path / "query.tsq"
        subprocess.run(["openssl", "ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(query)],
                       check=True, capture_output=True)
        reply = tmp_path / "reply.tsr"
        reply.write_bytes(trust.answer_timestamp_query(db, ring=ring, query=query.read_bytes()))
        (tmp_path / "root.pem").write_text(hierarchy.root.pem)
        (tmp_path / "chain.pem").write_text(next(c.pem for c in hierarchy.issuing if c.kind == "timestamping_ca"))
        result = subprocess.run(
            ["openssl", "ts", "-verify", "-in", str(reply), "-queryfile", str(query), "-CAfile",
             str(tmp_path / "root.pem"), "-untrusted", str(tmp_path / "chain.pem")],
            capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Verification: OK" in result.stdout

    @pytest.mark.parametrize(("nonce", "cert_req"), [(12345, True), (2**64 + 1, False), (-128, True), (None, False)])
    def test_the_reply_is_canonical_der_echoes_the_query_and_carries_a_valid_signature(
            self, db, ring, hierarchy, nonce, cert_req):
        from asn1crypto import tsp

        from nokor.trust.tsa import TimeStampResp

        digest = hashlib.sha256(b"Decision 42/2026").digest()
        fields = {"version": 1, "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                                    "hashed_message": digest}, "cert_req": cert_req}
        if nonce is not None:
            fields["nonce"] = nonce
        der = trust.answer_timestamp_query(db, ring=ring, query=tsp.TimeStampReq(fields).dump())
        # Encoded by hand for speed: asn1crypto, re-encoding every part from scratch, gives the same bytes.
        assert TimeStampResp.load(der).dump(force=True) == der
        signed_data = TimeStampResp.load(der)["time_stamp_token"]["content"]
        info = signed_data["encap_content_info"]["content"].parsed
        assert info["message_imprint"]["hashed_message"].native == digest
        assert info["nonce"].native == nonce
        assert abs((info["gen_time"].native - utcnow()).total_seconds()) < 60
        assert (len(signed_data["certificates"]) == 2) if cert_req else not signed_data["certificates"]
        signer = signed_data["signer_infos"][0]
        attributes = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
        assert attributes["message_digest"].native == hashlib.sha256(info.dump()).digest()
        tsa_cert = _cert(hierarchy.tsa)
        ess = attributes["signing_certificate_v2"]["certs"][0]
        assert ess["cert_hash"].native == hashlib.sha256(tsa_cert.public_bytes(serialization.Encoding.DER)).digest()
        tsa_cert.public_key().verify(signer["signature"].native, signer["signed_attrs"].untag().dump(force=True),
                                     ec.ECDSA(hashes.SHA256()))

    def test_a_malformed_query_is_a_bad_request(self, db, ring, hierarchy):
        from nokor.kit.errors import BadRequest

        for body in (b"", b"\x30\x82\xff\xff", b"not der at all"):
            with pytest.raises(BadRequest):
                trust.answer_timestamp_query(db, ring=ring, query=body)

    def test_an_unaccepted_hash_gets_an_rfc3161_rejection(self, db, ring, hierarchy):
        from asn1crypto import tsp

        request = tsp.TimeStampReq({"version": 1, "message_imprint": {
            "hash_algorithm": {"algorithm": "md5"}, "hashed_message": b"\x00" * 16}})
        from nokor.trust.tsa import TimeStampResp

        reply = TimeStampResp.load(trust.answer_timestamp_query(db, ring=ring, query=request.dump()))
        assert reply["status"]["status"].native == "rejection"
        assert "SHA-256" in reply["status"]["status_string"].native[0]


class TestAgencyCertificates:
    def test_a_csr_becomes_a_client_certificate(self, db, ring, hierarchy):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
        issued = trust.issue_agency_certificate(
            db, SYSTEM, ring=ring, csr_pem=csr.public_bytes(serialization.Encoding.PEM).decode(),
            identity="KH/GOV/MOH/hospital")
        cert = _cert(issued)
        assert ExtendedKeyUsageOID.CLIENT_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        agencies = next(_cert(c) for c in hierarchy.issuing if c.kind == "agencies_ca")
        cert.verify_directly_issued_by(agencies)

    def test_garbage_csr_is_refused(self, db, ring, hierarchy):
        with pytest.raises(ValidationFailed):
            trust.issue_agency_certificate(db, SYSTEM, ring=ring, csr_pem="hello", identity="KH/GOV/MOH/x")


def test_pki_serials_are_positive_and_fit_twenty_octets():
    for _ in range(200):
        serial = pki.random_serial()
        assert 0 < serial < 2**159
