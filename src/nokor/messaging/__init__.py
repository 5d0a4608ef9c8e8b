"""The notification core: e-mail and SMS to people, rendered in their language, sent through the outbox.

Other domains use only what is listed here: ``send_notification`` to send, ``register_template`` to add the
texts of their own notices, ``deliverers`` for the outbox worker.
"""

from nokor.messaging.schemas import CaughtMessageRead, NotificationRead
from nokor.messaging.service import (
    MESSAGING_READ,
    MESSAGING_SEND,
    catch_message,
    list_caught_messages,
    list_notifications,
    render_template,
    send_notification,
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
    "MESSAGING_READ", "MESSAGING_SEND", "CaughtMessageRead", "HttpSmsGateway", "LocalMailbox", "NotificationRead",
    "NotificationTemplate", "SmtpTransport", "TransportFailed", "catch_message", "deliverers", "list_caught_messages",
    "list_notifications", "mailbox_enabled", "register_template", "render_template", "send_notification",
]
