"""Notification templates: a subject and a body per purpose, translated through the catalogues.

A template's texts are gettext messages with ``%(name)s`` placeholders, so one template exists in every
language the platform speaks; the notification is rendered in the recipient's language when it is sent.
Domains register their own templates at import time (``register_template``).
"""

from __future__ import annotations

from dataclasses import dataclass

from nokor.kit.i18n import LazyString
from nokor.kit.i18n import lazy_gettext as _l


@dataclass(frozen=True)
class NotificationTemplate:
    """What a notification of one kind says: an e-mail subject and body, and the shorter SMS text."""

    name: str
    subject: LazyString
    body: LazyString
    sms: LazyString


TEMPLATES: dict[str, NotificationTemplate] = {}


def register_template(name: str, *, subject: LazyString, body: LazyString,
                      sms: LazyString | None = None) -> NotificationTemplate:
    """Make a template known under ``name`` (a domain does this once, at import time)."""
    template = NotificationTemplate(name=name, subject=subject, body=body, sms=sms or body)
    TEMPLATES[name] = template
    return template


register_template(
    "messaging.test",
    subject=_l("Test message from %(site)s"),
    body=_l("This is a test message from %(site)s. If you can read it, notifications reach you."),
    sms=_l("%(site)s: test message. Notifications reach you."),
)
