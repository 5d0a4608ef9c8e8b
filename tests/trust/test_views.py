"""The public verification portal as a citizen, a bank clerk or a foreign official uses it."""

from __future__ import annotations

import re

import pytest
from tests.conftest import csrf_from, make_officer, make_org_unit, make_role, sign_in
from tests.trust.conftest import SYSTEM, birth_certificate_pdf

from nokor import audit, trust

HTML = {"accept": "text/html"}


def _post(client, files=None, data=None, lang="en"):
    page = client.get(f"/trust/verify?lang={lang}", headers=HTML)
    return client.post(f"/trust/verify?lang={lang}", headers=HTML, files=files,
                       data={"csrf_token": csrf_from(page.text), **(data or {})})


class TestVerificationPortal:
    def test_upload_a_signed_pdf_and_read_who_signed_and_when(self, client, db, ring, hierarchy):
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf())
        db.commit()
        answer = _post(client, files={"file": ("birth.pdf", signed.pdf, "application/pdf")})
        assert answer.status_code == 200
        assert "Every signature holds." in answer.text and "Nokor Seal" in answer.text
        assert "proven by a timestamp" in answer.text

    def test_in_khmer_arabic_and_german(self, client, db, ring, hierarchy):
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf())
        db.commit()
        for lang, words in (("km", "ហត្ថលេខាទាំងអស់មានសុពលភាព។"), ("ar", "جميع التوقيعات صحيحة."),
                            ("de", "Alle Signaturen sind gültig.")):
            answer = _post(client, files={"file": ("b.pdf", signed.pdf, "application/pdf")}, lang=lang)
            assert answer.status_code == 200 and words in answer.text, lang
        arabic = client.get("/trust/verify?lang=ar", headers=HTML)
        assert 'dir="rtl"' in arabic.text

    def test_an_altered_pdf_says_why(self, client, db, ring, hierarchy):
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf()).pdf
        db.commit()
        position = signed.index(b"Sok Dara")
        altered = signed[:position] + b"X" + signed[position + 1:]
        answer = _post(client, files={"file": ("b.pdf", altered, "application/pdf")})
        assert answer.status_code == 200
        assert "The document was changed after it was signed." in answer.text

    def test_a_non_pdf_gets_a_message_not_a_500(self, client, hierarchy):
        answer = _post(client, files={"file": ("photo.jpg", b"\xff\xd8\xff\xe0JFIF", "image/jpeg")})
        assert answer.status_code == 422 and "This file is not a PDF." in answer.text

    def test_nothing_chosen_gets_a_message(self, client, hierarchy):
        answer = _post(client)
        assert answer.status_code == 422 and "Choose a PDF file" in answer.text

    def test_qr_link_shows_the_record_and_compares_the_upload(self, client, db, ring, hierarchy):
        signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf(), document_name="Birth certificate")
        db.commit()
        page = client.get(f"/trust/verify/{signed.record.id}?lang=en", headers=HTML)
        assert page.status_code == 200 and "Birth certificate" in page.text
        assert signed.record.document_sha256 in page.text
        answer = _post(client, files={"file": ("b.pdf", signed.pdf, "application/pdf")},
                       data={"record_id": str(signed.record.id)})
        assert "This file is exactly the document recorded for this code." in answer.text
        other = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf("Chan Sophea")).pdf
        db.commit()
        answer = _post(client, files={"file": ("o.pdf", other, "application/pdf")},
                       data={"record_id": str(signed.record.id)})
        assert "This file is not the document recorded for this code." in answer.text

    def test_a_qr_code_with_a_jws_is_verified_on_opening(self, client, db, ring, hierarchy):
        signed = trust.sign_json(db, SYSTEM, ring=ring, payload=b'{"nid":"123456789"}')
        db.commit()
        page = client.get(f"/trust/verify?lang=en&jws={signed.jws}", headers=HTML)
        assert page.status_code == 200 and "Every signature holds." in page.text and "123456789" in page.text
        broken = client.get("/trust/verify?lang=en&jws=abc", headers=HTML)
        assert broken.status_code == 422 and "This is not a compact JWS." in broken.text

    def test_unknown_record_is_a_404_page(self, client, hierarchy):
        answer = client.get("/trust/verify/01234567-89ab-7def-8123-456789abcdef", headers=HTML)
        assert answer.status_code == 404


def _certificate_officer(db, client, *, org_unit: str | None = None, permissions=("trust.manage",)):
    role = make_role(db, permissions=list(permissions))
    officer = make_officer(db, org_unit=org_unit, roles=[role.code])
    db.commit()
    sign_in(client, officer.username)
    return officer


@pytest.fixture
def unit_seal(client, db, ring, hierarchy) -> str:
    """The serial of a seal of one organisation unit, whose certificate officer is signed in."""
    unit = make_org_unit(db)
    seal = trust.issue_seal_certificate(db, SYSTEM, ring=ring, org_unit_id=unit.id, organisation_name="Unit")
    _certificate_officer(db, client, org_unit=unit.code)
    return seal.serial


def _status(db, serial: str) -> str:
    """The status as stored; the read ends its transaction, so that the app may write (SQLite)."""
    db.rollback()
    status = trust.get_certificate(db, serial=serial).status
    db.rollback()
    return status


class TestCertificatePages:
    def test_a_certificate_officer_finds_the_pages_from_home_and_sees_every_certificate(self, client, db, hierarchy):
        _certificate_officer(db, client)
        home = client.get("/?lang=en", headers=HTML)
        assert 'href="/admin/trust/certificates"' in home.text
        listing = client.get("/admin/trust/certificates?lang=en", headers=HTML)
        assert listing.status_code == 200
        assert 'class="table-scroll"' in listing.text and "Root certification authority" in listing.text
        for cert in (hierarchy.root, hierarchy.tsa, hierarchy.platform_seal, *hierarchy.issuing):
            assert f"/admin/trust/certificates/{cert.serial}" in listing.text
        revoked_only = client.get("/admin/trust/certificates?status=revoked&lang=en", headers=HTML)
        assert "No certificates match." in revoked_only.text

    def test_an_officer_without_trust_manage_sees_no_link_and_is_refused(self, client, db, ring, hierarchy):
        unit = make_org_unit(db)
        seal = trust.issue_seal_certificate(db, SYSTEM, ring=ring, org_unit_id=unit.id, organisation_name="Unit").serial
        _certificate_officer(db, client, org_unit=unit.code, permissions=("audit.read",))
        home = client.get("/?lang=en", headers=HTML)
        assert "/admin/trust/certificates" not in home.text
        assert client.get("/admin/trust/certificates", headers=HTML).status_code == 403
        assert client.get(f"/admin/trust/certificates/{seal}", headers=HTML).status_code == 403
        refused = client.post(f"/admin/trust/certificates/{seal}/revoke", headers=HTML,
                              data={"csrf_token": csrf_from(home.text), "reason": "no right to do this"})
        assert refused.status_code == 403
        assert _status(db, seal) == "active"

    def test_details_show_subject_issuer_validity_usages_and_history(self, client, db, hierarchy):
        _certificate_officer(db, client)
        page = client.get(f"/admin/trust/certificates/{hierarchy.tsa.serial}?lang=en", headers=HTML)
        assert page.status_code == 200
        timestamping_ca = next(c for c in hierarchy.issuing if c.kind == "timestamping_ca")
        assert hierarchy.tsa.subject in page.text and timestamping_ca.subject in page.text
        assert hierarchy.tsa.serial in page.text and "Timestamping" in page.text and "Digital signature" in page.text
        assert "Issued" in page.text and "tests" in page.text  # the audit trail's entry, by the system actor "tests"
        # The TSA belongs to the whole platform: an officer of one unit reads it but may not change it.
        assert "Only an operator" in page.text and f"{hierarchy.tsa.serial}/revoke" not in page.text
        assert client.get(f"/admin/trust/certificates/{hierarchy.tsa.serial}/revoke", headers=HTML).status_code == 403
        assert client.get("/admin/trust/certificates/00ff", headers=HTML).status_code == 404

    def test_revoke_asks_for_confirmation_then_revokes_audits_and_shows_it(self, client, db, unit_seal):
        seal = unit_seal
        page = client.get(f"/admin/trust/certificates/{seal}?lang=en", headers=HTML)
        assert f"/admin/trust/certificates/{seal}/revoke" in page.text
        confirm = client.get(f"/admin/trust/certificates/{seal}/revoke?lang=en", headers=HTML)
        assert confirm.status_code == 200 and "Revocation is final" in confirm.text
        assert _status(db, seal) == "active"  # asking is not doing
        done = client.post(f"/admin/trust/certificates/{seal}/revoke?lang=en", headers=HTML, follow_redirects=False,
                           data={"csrf_token": csrf_from(confirm.text), "reason": "Key file copied to a laptop",
                                 "revocation_reason": "key_compromise"})
        assert done.status_code == 303 and done.headers["location"] == f"/admin/trust/certificates/{seal}"
        db.rollback()
        revoked = trust.get_certificate(db, serial=seal)
        assert revoked.status == "revoked" and revoked.status_reason == "Key file copied to a laptop"
        entries = audit.list_entries(db, SYSTEM, subject_type="certificate", subject_id=str(revoked.id)).items
        assert entries[0].action == "certificate.revoked" and entries[0].reason == "Key file copied to a laptop"
        db.rollback()
        page = client.get(done.headers["location"] + "?lang=en", headers=HTML)
        assert "The certificate is revoked." in page.text and "Key file copied to a laptop" in page.text
        assert f"/admin/trust/certificates/{seal}/reactivate" not in page.text  # revocation is final
        again = client.get(f"/admin/trust/certificates/{seal}/reactivate?lang=en", headers=HTML)
        assert "cannot become" in again.text and 'method="post" action="/admin/trust' not in again.text

    def test_suspend_then_reactivate(self, client, db, unit_seal):
        for action, status in (("suspend", "suspended"), ("reactivate", "active")):
            confirm = client.get(f"/admin/trust/certificates/{unit_seal}/{action}?lang=en", headers=HTML)
            done = client.post(f"/admin/trust/certificates/{unit_seal}/{action}", headers=HTML,
                               follow_redirects=False,
                               data={"csrf_token": csrf_from(confirm.text), "reason": f"{action} for the test"})
            assert done.status_code == 303
            assert _status(db, unit_seal) == status
        history = client.get(f"/admin/trust/certificates/{unit_seal}?lang=en", headers=HTML).text
        assert history.index("Suspended") < history.index("Reactivated")

    def test_no_reason_no_csrf_and_foreign_certificates_are_refused_without_a_change(
            self, client, db, ring, hierarchy, unit_seal):
        confirm = client.get(f"/admin/trust/certificates/{unit_seal}/suspend?lang=en", headers=HTML)
        token = csrf_from(confirm.text)
        empty = client.post(f"/admin/trust/certificates/{unit_seal}/suspend?lang=en", headers=HTML,
                            data={"csrf_token": token, "reason": "  "})
        assert empty.status_code == 422 and "the reason is kept in the audit trail" in empty.text
        forged = client.post(f"/admin/trust/certificates/{unit_seal}/suspend", headers=HTML,
                             data={"csrf_token": "forged-token-forged-token", "reason": "forged"})
        assert forged.status_code == 403
        other = make_org_unit(db)
        foreign = trust.issue_seal_certificate(db, SYSTEM, ring=ring, org_unit_id=other.id,
                                               organisation_name="Other").serial
        db.commit()
        for serial in (hierarchy.root.serial, hierarchy.platform_seal.serial, foreign):
            refused = client.post(f"/admin/trust/certificates/{serial}/revoke?lang=en", headers=HTML,
                                  data={"csrf_token": token, "reason": "testing"})
            assert refused.status_code == 403, serial
            assert _status(db, serial) == "active"
        assert _status(db, unit_seal) == "active"

    def test_the_pages_speak_khmer_arabic_and_german(self, client, db, hierarchy):
        _certificate_officer(db, client)
        for lang, word in (("km", "វិញ្ញាបនបត្រ"), ("ar", "الشهادات"), ("de", "Zertifikate")):
            page = client.get(f"/admin/trust/certificates?lang={lang}", headers=HTML)
            title = re.search(r"<h1[^>]*>(.*?)</h1>", page.text, re.S)
            assert title and word in title.group(1), lang
