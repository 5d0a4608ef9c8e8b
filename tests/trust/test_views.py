"""The public verification portal as a citizen, a bank clerk or a foreign official uses it."""

from __future__ import annotations

from tests.conftest import csrf_from
from tests.trust.conftest import SYSTEM, birth_certificate_pdf

from nokor import trust

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
