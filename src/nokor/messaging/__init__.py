"""The notification core: e-mail and SMS to people, rendered in their language, sent through the outbox.

Other domains use only what is listed here: ``send_notification`` to send, ``register_template`` to add the
texts of their own notices, ``deliverers`` for the outbox worker.
"""

from nokor.messaging.schemas import CaughtMessageRead, InboxMessageRead, NotificationRead, RequestStatus
from nokor.messaging.service import (
    MESSAGING_READ,
    MESSAGING_SEND,
    catch_message,
    inbox_of,
    list_caught_messages,
    list_notifications,
    notify_person,
    post_to_inbox,
    read_inbox_message,
    render_template,
    request_status,
    send_email,
    send_notification,
    unread_messages,
)
from nokor.messaging.texts import NotificationTemplate, register_template
from nokor.messaging.transports import (
    HttpSmsGateway,
    LocalMailbox,
    SmtpTransport,
    TransportFailed,
    deliverers,
    mailbox_enabled,
)

__all__ = [
    "MESSAGING_READ",
    "MESSAGING_SEND",
    "CaughtMessageRead",
    "HttpSmsGateway",
    "InboxMessageRead",
    "LocalMailbox",
    "NotificationRead",
    "NotificationTemplate",
    "RequestStatus",
    "SmtpTransport",
    "TransportFailed",
    "catch_message",
    "deliverers",
    "inbox_of",
    "list_caught_messages",
    "list_notifications",
    "mailbox_enabled",
    "notify_person",
    "post_to_inbox",
    "read_inbox_message",
    "register_template",
    "render_template",
    "request_status",
    "send_email",
    "send_notification",
    "unread_messages",
]
