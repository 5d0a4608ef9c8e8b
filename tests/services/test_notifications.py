"""Application events reach the applicant: a portal message, and an e-mail through a real SMTP server
(aiosmtpd on 127.0.0.1) and an SMS, in the applicant's language, sent by the outbox worker."""

from __future__ import annotations

from email import message_from_bytes
from email.header import decode_header, make_header

from sqlalchemy.orm import Session, sessionmaker
from tests.civil.factories import VILLAGE
from tests.messaging.test_transports import Inbox, smtp_server, worker_for  # noqa: F401 - the fixture
from tests.services.conftest import Country

from nokor import messaging, services
from nokor.config import Settings


def test_each_step_is_told_by_portal_message_email_and_sms(
        db: Session, settings: Settings, session_factory: sessionmaker[Session], country: Country,
        smtp_server: tuple[Inbox, int]) -> None:  # noqa: F811
    inbox, port = smtp_server
    person = services.Applicant(subject="oidc|dara", name="Chan Dara", email="dara@example.org", phone="012 345 678",
                                locale="de")
    draft = services.start_application(db, person, service_code="change-of-address", values={
        "national_id": country.mother_nin, "new_address_code": VILLAGE, "moved_on": "2026-01-02"})
    services.submit_application(db, person, number=draft.number)
    services.claim_application(db, country.officer, number=draft.number)
    services.request_information(db, country.officer, number=draft.number, reason="Hausnummer?")
    db.commit()
    messages = messaging.inbox_of(db, recipient="oidc|dara")
    assert [m.subject for m in messages] == [f"Antrag {draft.number}: Angaben benötigt",
                                             f"Antrag {draft.number} eingegangen"]
    assert "Hausnummer?" in messages[0].body and messages[0].link == f"/my/applications/{draft.number}"
    assert messaging.unread_messages(db, recipient="oidc|dara") == 2
    opened = messaging.read_inbox_message(db, recipient="oidc|dara", message_id=messages[0].id)
    assert opened.read_at is not None and messaging.unread_messages(db, recipient="oidc|dara") == 1
    db.commit()
    smtp = settings.model_copy(update={"messaging_email_transport": "smtp", "messaging_smtp_port": port,
                                       "messaging_from_address": "no-reply@nokor.gov.kh"})
    worker = worker_for(smtp, session_factory)
    try:
        delivered = worker.run_once()
    finally:
        worker.close()
    assert delivered >= 4  # two e-mails and two SMS
    subjects = sorted(str(make_header(decode_header(message_from_bytes(c)["Subject"]))) for _f, _r, c in inbox.messages)
    assert subjects == [f"Antrag {draft.number} eingegangen", f"Antrag {draft.number}: Angaben benötigt"]
    assert all(rcpt == ["dara@example.org"] for _f, rcpt, _c in inbox.messages)
    texts = [m for m in messaging.list_caught_messages(db) if m.channel == "sms"]
    assert {m.recipient for m in texts} == {"+855012345678".replace("+8550", "+855")}
