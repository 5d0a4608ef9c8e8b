"""Shared building blocks with no domain knowledge: errors, ids, money, time, pagination, outbox, i18n."""
