"""The back office of the platform itself: outgoing messages and dead letters for administrators."""

from nokor.backoffice.service import get_outgoing_message, list_outgoing_messages, retry_dead_letter

__all__ = ["get_outgoing_message", "list_outgoing_messages", "retry_dead_letter"]
