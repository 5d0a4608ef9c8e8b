"""The notification core: templates in the recipient's language, written to the outbox in the caller's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from nokor import messaging
from nokor.kit.actor import Actor
from nokor.kit.errors import Forbidden, ValidationFailed
from nokor.kit.outbox import OutboxMessage

SYSTEM = Actor.system("tests")


class TestSendNotification:
    def test_email_is_rendered_in_the_language_and_queued(self, db: Session) -> None:
        sent = messaging.send_notification(db, SYSTEM, channel="email", to="Dara@Example.org",
                                           template="messaging.test", context={"site": "Nokor"}, locale="de",
                                           subject_type="civil_resident", subject_id="r-1")
        assert sent.recipient == "dara@example.org"
        assert sent.subject == "Testnachricht von Nokor"
        message = db.scalars(select(OutboxMessage).where(OutboxMessage.id == sent.outbox_message_id)).one()
        assert message.channel == "email" and message.destination == "dara@example.org"
        assert message.payload["subject"] == "Testnachricht von Nokor" and message.status == "pending"
        listed = messaging.list_notifications(db, SYSTEM, subject_type="civil_resident", subject_id="r-1")
        assert [n.id for n in listed] == [sent.id] and listed[0].status == "pending"

    @pytest.mark.parametrize("locale", ["km", "ar", "en"])
    def test_sms_uses_the_short_text_in_every_language(self, db: Session, locale: str) -> None:
        sent = messaging.send_notification(db, SYSTEM, channel="sms", to="+855 12 345 678",
                                           template="messaging.test", context={"site": "Nokor"}, locale=locale)
        assert sent.recipient == "+85512345678"
        english = messaging.render_template("messaging.test", locale="en", context={"site": "Nokor"})[2]
        assert (sent.body == english) == (locale == "en")
        assert "Nokor" in sent.body

    def test_bad_address_unknown_template_and_missing_values_are_422(self, db: Session) -> None:
        with pytest.raises(ValidationFailed) as bad_phone:
            messaging.send_notification(db, SYSTEM, channel="sms", to="012345", template="messaging.test",
                                        context={"site": "x"}, locale="en")
        assert bad_phone.value.errors and bad_phone.value.errors[0]["pointer"] == "/to"
        with pytest.raises(ValidationFailed):
            messaging.send_notification(db, SYSTEM, channel="email", to="not-an-address", template="messaging.test",
                                        context={"site": "x"}, locale="en")
        with pytest.raises(ValidationFailed):
            messaging.send_notification(db, SYSTEM, channel="email", to="a@b.kh", template="no.such",
                                        context={}, locale="en")
        with pytest.raises(ValidationFailed):
            messaging.send_notification(db, SYSTEM, channel="email", to="a@b.kh", template="messaging.test",
                                        context={}, locale="en")
        assert db.scalars(select(OutboxMessage)).first() is None

    def test_sending_needs_the_permission(self, db: Session) -> None:
        with pytest.raises(Forbidden):
            messaging.send_notification(db, Actor.public(), channel="email", to="a@b.kh",
                                        template="messaging.test", context={"site": "x"}, locale="en")
