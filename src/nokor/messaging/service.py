"""The rules of the notification core: render a template in the recipient's language, hand it to the outbox."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from typing import Any

from sqlalchemy.orm import Session

from nokor import audit
from nokor.kit import i18n
from nokor.kit.actor import Actor, declare_permission
from nokor.kit.errors import NotFound, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.i18n import lazy_gettext as _l
from nokor.kit.outbox import OutboxMessage, enqueue
from nokor.kit.time import utcnow
from nokor.messaging import repository
from nokor.messaging.models import CaughtMessage, InboxMessage, Notification
from nokor.messaging.schemas import CaughtMessageRead, InboxMessageRead, NotificationRead, RequestStatus
from nokor.messaging.texts import TEMPLATES

MESSAGING_SEND = declare_permission("messaging.send", _l("Send e-mail and SMS notifications to people"))
MESSAGING_READ = declare_permission("messaging.read", _l("Read the notifications sent to people"))

PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
SUBJECT_MAX = 300


def _fail(field: str, message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[field_error([field], message, code)])


def render_template(name: str, *, locale: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, e-mail body, SMS text) of template ``name`` in ``locale``, placeholders filled in."""
    template = TEMPLATES.get(name)
    if template is None:
        raise _fail("template", _("There is no notification template named %(name)s.", name=name),
                    "unknown_template")
    token = i18n.locale_var.set(locale if locale in i18n.LOCALES else "en")
    try:
        subject = (str(template.subject) % context)[:SUBJECT_MAX]
        return subject, str(template.body) % context, str(template.sms) % context
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail("context", _("The template needs values that were not given."), "template_context") from exc
    finally:
        i18n.locale_var.reset(token)


def _notification(session: Session, actor: Actor, *, channel: str, to: str, template: str,
                  context: dict[str, Any], locale: str, subject_type: str | None, subject_id: str | uuid.UUID | None,
                  idempotency_key: str | None) -> tuple[Notification, OutboxMessage]:
    """Check the address and render the message (a ValidationFailed before anything is written), then add the
    outbox message and the notification to the session, unflushed."""
    actor.require(MESSAGING_SEND)
    address = to.strip()
    if channel == "email":
        if not EMAIL.match(address):
            raise _fail("to", _("Give an e-mail address such as name@example.com."), "bad_email")
        address = address.lower()
    elif channel == "sms":
        address = address.replace(" ", "")
        if not PHONE.match(address):
            raise _fail("to", _("Give the mobile number in international form, e.g. +85512345678."), "bad_phone")
    else:
        raise _fail("channel", _("The channel must be email or sms."), "bad_channel")
    subject, body, sms = render_template(template, locale=locale, context=context)
    text = body if channel == "email" else sms
    message = enqueue(session, channel=channel, destination=address, idempotency_key=idempotency_key,
                      payload={"to": address, "subject": subject, "body": text, "locale": locale}, flush=False)
    notification = Notification(channel=channel, recipient=address, template=template, locale=locale,
                                subject=subject, body=text, subject_type=subject_type,
                                subject_id=str(subject_id) if subject_id is not None else None,
                                sent_by=actor.name, sent_by_id=str(actor.id) if actor.id else None,
                                outbox_message_id=message.id)
    session.add(notification)
    return notification, message


def send_notification(session: Session, actor: Actor, *, channel: str, to: str, template: str,
                      context: dict[str, Any], locale: str, subject_type: str | None = None,
                      subject_id: str | uuid.UUID | None = None,
                      idempotency_key: str | None = None) -> NotificationRead:
    """Send an e-mail or SMS rendered from ``template`` in ``locale``: written to the outbox in the caller's
    transaction, so it leaves only if the caller commits, and is retried until the server or gateway takes it.

    ``subject_type``/``subject_id`` name the record it is about (e.g. a resident), so it can be listed later.
    """
    notification, message = _notification(
        session, actor, channel=channel, to=to, template=template, context=context, locale=locale,
        subject_type=subject_type, subject_id=subject_id, idempotency_key=idempotency_key)
    session.flush()
    read = NotificationRead.model_validate(notification)
    read.status = message.status
    return read


def list_notifications(session: Session, actor: Actor, *, subject_type: str | None = None,
                       subject_id: str | uuid.UUID | None = None, limit: int = 50) -> list[NotificationRead]:
    """Notifications sent, newest first, optionally about one record, with their delivery state."""
    actor.require(MESSAGING_READ)
    out = []
    for row, status in repository.notifications_with_status(
            session, subject_type=subject_type, subject_id=str(subject_id) if subject_id else None,
            limit=min(limit, 500)):
        read = NotificationRead.model_validate(row)
        read.status = status or "pending"
        out.append(read)
    return out


def catch_message(session: Session, *, channel: str, sender: str, recipient: str, subject: str, body: str,
                  idempotency_key: str) -> CaughtMessageRead:
    """Keep a message in the local mailbox instead of sending it (embedded default); a repeat is kept once."""
    found = repository.caught_by_key(session, idempotency_key)
    if found is None:
        found = CaughtMessage(channel=channel, sender=sender, recipient=recipient, subject=subject[:SUBJECT_MAX],
                              body=body, idempotency_key=idempotency_key)
        session.add(found)
        session.flush()
    return CaughtMessageRead.model_validate(found)


def list_caught_messages(session: Session, *, recipient: str | None = None, limit: int = 50) -> list[CaughtMessageRead]:
    """What the local mail catcher and the sandbox SMS gateway kept, newest first (development and demos)."""
    return [CaughtMessageRead.model_validate(m)
            for m in repository.caught_messages(session, recipient=recipient, limit=min(limit, 200))]


# --- the portal inbox ---------------------------------------------------------------------------------


def post_to_inbox(session: Session, actor: Actor, *, recipient: str, subject: str, body: str,
                  link: str | None = None, about_type: str | None = None, about_id: str | None = None
                  ) -> InboxMessageRead:
    """Put a message in a person's portal inbox (``recipient`` is their login subject)."""
    row = _inbox_message(session, actor, recipient=recipient, subject=subject, body=body, link=link,
                         about_type=about_type, about_id=about_id)
    session.flush()
    return InboxMessageRead.model_validate(row)


def _inbox_message(session: Session, actor: Actor, *, recipient: str, subject: str, body: str, link: str | None,
                   about_type: str | None, about_id: str | None) -> InboxMessage:
    actor.require(MESSAGING_SEND)
    if not recipient.strip():
        raise _fail("recipient", _("Say who the message is for."), "recipient_required")
    row = InboxMessage(recipient=recipient.strip()[:128], subject=subject.strip()[:SUBJECT_MAX], body=body,
                       link=link, about_type=about_type, about_id=about_id, sent_by=actor.name[:200])
    session.add(row)
    return row


def notify_person(session: Session, actor: Actor, *, template: str, context: dict[str, Any], locale: str,
                  recipient: str | None = None, email: str | None = None, phone: str | None = None,
                  link: str | None = None, about_type: str | None = None, about_id: str | None = None,
                  idempotency_key: str | None = None) -> list[str]:
    """Tell a person something in their language on every channel they have: their portal inbox (when they
    have a login), e-mail and SMS. An address the gateways cannot take is skipped, never an error for the
    caller's change. Returns the channels used.

    Everything goes to the database in one flush: an address is refused before anything of its channel is
    added, so no savepoint is needed to leave the others standing."""
    used: list[str] = []
    subject, body, _sms = render_template(template, locale=locale, context=context)
    if recipient:
        _inbox_message(session, actor, recipient=recipient, subject=subject, body=body, link=link,
                       about_type=about_type, about_id=about_id)
        used.append("inbox")
    for channel, address in (("email", email), ("sms", phone)):
        if not address:
            continue
        try:
            _notification(session, actor, channel=channel, to=address, template=template, context=context,
                          locale=locale, subject_type=about_type, subject_id=about_id,
                          idempotency_key=f"{idempotency_key}:{channel}" if idempotency_key else None)
            used.append(channel)
        except ValidationFailed:
            continue
    if used:
        session.flush()
    return used


def inbox_of(session: Session, *, recipient: str, limit: int = 50) -> list[InboxMessageRead]:
    """A person's portal messages, newest first (the caller has established who the person is)."""
    return [InboxMessageRead.model_validate(m) for m in repository.inbox(session, recipient, min(limit, 200))]


def unread_messages(session: Session, *, recipient: str) -> int:
    """How many of a person's portal messages are unread."""
    return repository.unread_count(session, recipient)


def read_inbox_message(session: Session, *, recipient: str, message_id: uuid.UUID) -> InboxMessageRead:
    """One of the person's messages, marked read; another person's message is 404."""
    row = repository.inbox_message(session, recipient, message_id)
    if row is None:
        raise NotFound(_("There is no such message."))
    if row.read_at is None:
        row.read_at = utcnow()
        session.flush()
    return InboxMessageRead.model_validate(row)


# --- plain e-mails for agency systems (GovStack Messaging) ------------------------------------------


def send_email(session: Session, actor: Actor, *, to: str, subject: str, body: str, request_uid: str,
               index: int = 0) -> NotificationRead:
    """An e-mail an agency system wrote itself, through the outbox; ``request_uid`` groups one request's
    e-mails so their delivery can be followed."""
    actor.require(MESSAGING_SEND)
    address = to.strip().lower()
    if not EMAIL.match(address):
        raise _fail("to", _("Give an e-mail address such as name@example.com."), "bad_email")
    message = enqueue(session, channel="email", destination=address,
                      idempotency_key=f"govstack:{request_uid}:{index}",
                      payload={"to": address, "subject": subject[:SUBJECT_MAX], "body": body, "locale": "en"})
    notification = Notification(channel="email", recipient=address, template="govstack.email", locale="en",
                                subject=subject[:SUBJECT_MAX], body=body, subject_type="govstack_request",
                                subject_id=request_uid, sent_by=actor.name,
                                sent_by_id=str(actor.id) if actor.id else None, outbox_message_id=message.id)
    session.add(notification)
    session.flush()
    read = NotificationRead.model_validate(notification)
    read.status = message.status
    return read


def request_status(session: Session, actor: Actor, *, request_uid: str) -> RequestStatus:
    """Counts of one request's e-mails by the GovStack statuses: waiting (scheduled), retried after a
    failure (deferred), delivered, bounced (reported by the mail provider after it left) or given up
    (notSent). Unknown request: 404."""
    actor.require(MESSAGING_SEND)
    rows = repository.statuses_of(session, subject_type="govstack_request", subject_id=request_uid)
    if not rows:
        raise NotFound(_("There is no request with this id."))
    out = RequestStatus()
    for status, attempts, bounced in rows:
        if bounced:
            out.bounced += 1
        elif status == "delivered":
            out.delivered += 1
        elif status == "dead":
            out.notSent += 1
        elif attempts:
            out.deferred += 1
        else:
            out.scheduled += 1
    return out


CALLBACK_KINDS = ("bounced",)


def receive_email_callback(session: Session, actor: Actor, *, request_uid: str, meta: str, content: str
                           ) -> list[str]:
    """A mail provider reports on the e-mails of one request (GovStack ``POST /callback/email``).

    ``meta`` says what happened (``bounced``: the message left Nokor but did not reach the mailbox) and
    ``content`` is base64-encoded JSON ``{"email": ADDRESS, "reason": TEXT}``. Only the system that sent the
    request may report on it (anyone else is told it does not exist). The request's e-mails to that address
    are marked bounced, with the before/after in the audit trail; their addresses are returned.
    """
    actor.require(MESSAGING_SEND)
    mine = [n for n in repository.notifications_about(session, subject_type="govstack_request",
                                                      subject_id=request_uid)
            if actor.id is not None and n.sent_by_id == str(actor.id)]
    if not mine:
        raise NotFound(_("There is no request with this id."))
    kind = meta.strip().lower()
    if kind not in CALLBACK_KINDS:
        raise _fail("meta", _("Say what happened to the e-mail: %(kinds)s.", kinds=", ".join(CALLBACK_KINDS)),
                    "unknown_callback")
    try:
        report: Any = json.loads(base64.b64decode(content, validate=True))
        address = str(report["email"]).strip().lower()
        reason = str(report.get("reason") or "").strip()[:2000] or None
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise _fail("content", _('This is not base64-encoded JSON such as {"email": …, "reason": …}.'),
                    "bad_callback_content") from exc
    hit = [n for n in mine if n.recipient == address]
    if not hit:
        raise _fail("content", _("No e-mail of this request went to this address."), "unknown_recipient")
    now = utcnow()
    for notification in hit:
        if notification.bounced_at is not None:
            continue
        notification.bounced_at, notification.bounce_reason = now, reason
        audit.record_change(session, actor, action="messaging.email_bounced", subject_type="messaging_notification",
                            subject_id=notification.id, before={"bounced": False},
                            after={"bounced": True, "request": request_uid}, reason=reason)
    session.flush()
    return [address]
