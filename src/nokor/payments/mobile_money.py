"""The rules behind the GSMA Mobile Money operations of GovStack's QA-branch P2G API: reversals,
account balances and statements from the ledger, and the state of a reversal waiting for a second officer.

A reversal of a completed payment is a refund of its bill in Nokor's model: it goes through
``service.request_refund`` (the same ledger postings, bill state, audit trail, four-eyes rule and
message to the provider as an officer's refund), so there is one ledger path for money going back.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import Session

from nokor import audit
from nokor.db import new_id
from nokor.kit.actor import Actor
from nokor.kit.errors import Conflict, NotFound, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.ids import damm_digit
from nokor.kit.money import Money
from nokor.kit.time import utcnow
from nokor.payments import repository, service
from nokor.payments.models import AuthorisationCode, Bill, Fee, LedgerEntry, ProviderNotification
from nokor.payments.schemas import NotificationRead, PaymentOutcome, RefundRead

# What a ledger transaction is, in the harmonised transaction types of the GSMA API.
LEDGER_TYPES = {"payment": "billpay", "refund": "reversal", "return": "reversal", "held_receipt": "adjustment",
                "settlement": "transfer"}
PAID_OUTCOMES = ("applied", "accepted")
MAX_MINOR = 2**63 - 1


@dataclass(frozen=True)
class Reversal:
    """A reversal (a refund of the bill a payment paid): the refund, the payment it reverses and its bill."""

    refund: RefundRead
    original: NotificationRead
    bill_number: str


@dataclass(frozen=True)
class StatementLine:
    """One ledger line of an account, with the accounts on each side of its transaction."""

    reference: str
    original_reference: str | None
    ledger_transaction: uuid.UUID
    kind: str
    amount_minor: int
    currency: str
    posted_at: datetime
    memo: str | None
    bill_number: str | None
    debit_accounts: tuple[str, ...]
    credit_accounts: tuple[str, ...]


def _paid_note(session: Session, bill: Bill) -> ProviderNotification | None:
    """The notification whose payment the bill holds (the one a reversal of the bill reverses)."""
    for note in session.scalars(select(ProviderNotification).where(
            ProviderNotification.bill_id == bill.id, ProviderNotification.outcome.in_(PAID_OUTCOMES))):
        if bill.provider_ref in (note.transaction_ref, str(note.id)):
            return note
    return None


def reverse_transaction(session: Session, actor: Actor, *, transaction_reference: uuid.UUID, reason: str,
                        amount: str | None, currency: str | None, four_eyes_above: Mapping[str, int],
                        refund_url: str | None = None) -> Reversal:
    """Reverse a completed payment: refund the bill it paid (all of it unless ``amount`` says less).

    Only the payment that paid the bill can be reversed, and only once; above the four-eyes amount
    the refund waits for a second officer (``service.approve_refund``) like any other.
    """
    actor.require(service.PAYMENTS_REFUND)
    note = repository.notification(session, transaction_reference, lock=True)
    if note is None:
        raise NotFound(_("There is no such payment notification."))
    bill = session.get(Bill, note.bill_id) if note.bill_id is not None else None
    if bill is None or note.outcome not in PAID_OUTCOMES or \
            bill.provider_ref not in (note.transaction_ref, str(note.id)):
        raise Conflict(_("Only a completed payment can be reversed."), code="not_reversible")
    if bill.status == "refunded":
        raise Conflict(_("This transaction was already reversed."), code="already_reversed")
    if currency is not None and currency.strip().upper() != bill.currency:
        raise ValidationFailed(errors=[field_error(["currency"], _("The currency differs from the payment's."),
                                                   "currency_mismatch")])
    refund = service.request_refund(session, actor, number=bill.number, reason=reason, amount=amount,
                                    four_eyes_above=four_eyes_above, refund_url=refund_url)
    return Reversal(refund=refund, original=NotificationRead.model_validate(note), bill_number=bill.number)


def get_reversal(session: Session, actor: Actor, *, refund_id: uuid.UUID) -> Reversal:
    """A reversal (or any refund) by its reference, with the payment it reverses.

    Its requester may always see it (to poll a reversal that waits for a second officer); others
    need to read payments in the bill's unit.
    """
    refund = repository.refund(session, refund_id)
    if refund is None:
        raise NotFound(_("There is no such refund."))
    bill = session.get(Bill, refund.bill_id)
    assert bill is not None
    if refund.requested_by is None or refund.requested_by != actor.id:
        actor.require(service.PAYMENTS_READ, bill.org_unit_id)
    note = _paid_note(session, bill)
    if note is None:
        raise NotFound(_("There is no such payment notification."))
    return Reversal(refund=RefundRead.model_validate(refund), original=NotificationRead.model_validate(note),
                    bill_number=bill.number)


# --- accounts -------------------------------------------------------------------------------------


def agency_of_client(session: Session, actor: Actor) -> str | None:
    """The code of the collecting agency an API client belongs to (its unit collects a fee), if any."""
    if actor.org_unit_id is None:
        return None
    return session.scalar(select(Fee.agency_code).where(Fee.org_unit_id == actor.org_unit_id).limit(1))


def _account_known(session: Session, account: str) -> bool:
    if session.scalar(select(LedgerEntry.id).where(LedgerEntry.account == account).limit(1)) is not None:
        return True
    prefix = "agency:"
    return account.startswith(prefix) and session.scalar(
        select(Fee.id).where(Fee.agency_code == account[len(prefix):]).limit(1)) is not None


def account_balance(session: Session, actor: Actor, *, account: str) -> dict[str, int]:
    """The balance of one ledger account per currency (an agency that collects fees but has none yet: {})."""
    actor.require(service.PAYMENTS_READ)
    if not _account_known(session, account):
        raise NotFound(_("There is no account with this identifier."))
    rows = session.execute(select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
                           .where(LedgerEntry.account == account).group_by(LedgerEntry.currency)).all()
    return {currency: int(total) for currency, total in rows}


def account_statement(session: Session, actor: Actor, *, account: str, offset: int, limit: int,
                      since: datetime | None = None, until: datetime | None = None,
                      kinds: Sequence[str] | None = None) -> tuple[int, list[StatementLine]]:
    """The ledger lines of one account, newest first: how many match, and the page from ``offset``."""
    actor.require(service.PAYMENTS_READ)
    if not _account_known(session, account):
        raise NotFound(_("There is no account with this identifier."))
    where = [LedgerEntry.account == account]
    if since is not None:
        where.append(LedgerEntry.posted_at >= since)
    if until is not None:
        where.append(LedgerEntry.posted_at <= until)
    if kinds is not None:
        where.append(LedgerEntry.kind.in_(list(kinds)))
    total = session.scalar(select(func.count()).select_from(LedgerEntry).where(*where)) or 0
    entries = session.scalars(select(LedgerEntry).where(*where)
                              .order_by(LedgerEntry.posted_at.desc(), LedgerEntry.id.desc())
                              .offset(offset).limit(limit)).all()
    if not entries:
        return total, []
    sides: dict[uuid.UUID, tuple[list[str], list[str]]] = {}
    for line in session.scalars(select(LedgerEntry).where(
            LedgerEntry.transaction_id.in_({e.transaction_id for e in entries})).order_by(LedgerEntry.id)):
        debit, credit = sides.setdefault(line.transaction_id, ([], []))
        (debit if line.amount_minor > 0 else credit).append(line.account)
    bill_ids = {e.bill_id for e in entries if e.bill_id is not None}
    bills = {b.id: b for b in session.scalars(select(Bill).where(Bill.id.in_(bill_ids)))} if bill_ids else {}
    paid_by: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    if bill_ids:
        for note in session.scalars(select(ProviderNotification).where(
                ProviderNotification.bill_id.in_(bill_ids), ProviderNotification.outcome.in_(PAID_OUTCOMES))):
            assert note.bill_id is not None
            paid_by[(note.bill_id, note.transaction_ref or str(note.id))] = note.id
            paid_by.setdefault((note.bill_id, str(note.id)), note.id)
    out = []
    for entry in entries:
        bill = bills.get(entry.bill_id) if entry.bill_id is not None else None
        reference, original = str(entry.transaction_id), None
        if entry.kind == "payment" and bill is not None and (bill.id, entry.memo or "") in paid_by:
            reference = str(paid_by[(bill.id, entry.memo or "")])
        elif entry.kind == "refund" and entry.memo:
            reference = entry.memo
            if bill is not None and bill.provider_ref and (bill.id, bill.provider_ref) in paid_by:
                original = str(paid_by[(bill.id, bill.provider_ref)])
        debit, credit = sides.get(entry.transaction_id, ([], []))
        out.append(StatementLine(reference=reference, original_reference=original,
                                 ledger_transaction=entry.transaction_id, kind=entry.kind,
                                 amount_minor=entry.amount_minor, currency=entry.currency, posted_at=entry.posted_at,
                                 memo=entry.memo, bill_number=bill.number if bill else None,
                                 debit_accounts=tuple(debit), credit_accounts=tuple(credit)))
    return total, out



# --- authorisation codes --------------------------------------------------------------------------

CODE_LIFETIME_DEFAULT, CODE_LIFETIME_MAX = 600, 86_400
CODE_STATES = ("active", "expired", "cancelled")


@dataclass(frozen=True)
class AuthorisationCodeRead:
    """An authorisation code as its creator sees it; ``code_state`` is active, expired (or used) or cancelled."""

    code: str
    account: str
    code_state: str
    amount_minor: int | None
    currency: str | None
    amount_type: str
    lifetime_seconds: int
    transaction_types: tuple[str, ...]
    details: dict[str, Any]
    expires_at: datetime
    redeemed_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


def _code_state(row: AuthorisationCode, now: datetime) -> str:
    if row.state == "cancelled":
        return "cancelled"
    return "expired" if row.redeemed_at is not None or row.expires_at <= now else "active"


def _code_read(row: AuthorisationCode, now: datetime) -> AuthorisationCodeRead:
    return AuthorisationCodeRead(code=row.code, account=row.account, code_state=_code_state(row, now),
                                 amount_minor=row.amount_minor, currency=row.currency, amount_type=row.amount_type,
                                 lifetime_seconds=row.lifetime_seconds, transaction_types=tuple(row.transaction_types),
                                 details=dict(row.details), expires_at=row.expires_at, redeemed_by=row.redeemed_by,
                                 created_at=row.created_at, updated_at=row.updated_at)


def create_authorisation_code(session: Session, actor: Actor, *, account: str, amount: str | None,
                              currency: str | None, amount_type: str | None, lifetime_seconds: int | None,
                              transaction_types: Sequence[str] = (), details: Mapping[str, Any] | None = None,
                              client_correlation_id: str | None = None, now: datetime | None = None,
                              ) -> AuthorisationCodeRead:
    """A payer's provider creates a single-use code for one of its customer's accounts (``type@value``).

    With an amount, a transaction quoting the code must pay exactly that much (``exact``) or at most
    that much (``maximum``, the default); ``transaction_types`` limits what it may pay (any, if empty).
    """
    actor.require(service.PAYMENTS_NOTIFY)
    minor: int | None = None
    if amount is not None:
        if not currency:
            raise ValidationFailed(errors=[field_error(["currency"], _("Give the currency of the amount."),
                                                       "currency_required")])
        minor = service._parse_amount(amount, currency, "amount")
        if minor > MAX_MINOR:
            raise ValidationFailed(errors=[field_error(["amount"], _("The amount is too large."), "invalid_amount")])
    elif currency is not None:
        try:
            Money(0, currency)
        except ValueError as exc:
            raise ValidationFailed(errors=[field_error(["currency"], _("The currency must be an ISO 4217 code."),
                                                       "invalid_currency")]) from exc
    lifetime = CODE_LIFETIME_DEFAULT if lifetime_seconds is None else lifetime_seconds
    if not 1 <= lifetime <= CODE_LIFETIME_MAX:
        raise ValidationFailed(errors=[field_error(["codeLifetime"], _(
            "%(name)s must be a whole number from %(low)s to %(high)s.", name="codeLifetime", low=1,
            high=CODE_LIFETIME_MAX), "invalid_lifetime")])
    now = now or utcnow()
    for _attempt in range(20):
        body = f"{secrets.randbelow(10**11):011d}"
        code = body + damm_digit(body)
        if session.scalar(select(AuthorisationCode.id).where(AuthorisationCode.code == code)) is None:
            break
    else:
        raise Conflict(_("No free code was found; try again."))
    row = AuthorisationCode(id=new_id(), code=code, client_id=actor.id, account=account, amount_minor=minor,
                            currency=currency, amount_type=amount_type or "maximum", lifetime_seconds=lifetime,
                            transaction_types=list(transaction_types), details=dict(details or {}),
                            client_correlation_id=client_correlation_id, state="active",
                            expires_at=now + timedelta(seconds=lifetime), created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    audit.record_change(session, actor, action="authorisation_code.create",
                        subject_type="payments_authorisation_code", subject_id=row.id,
                        after={"account": account, "amount_minor": minor, "currency": currency,
                               "amount_type": row.amount_type, "expires_at": row.expires_at.isoformat(),
                               "transaction_types": row.transaction_types})
    return _code_read(row, now)


def _visible_codes(actor: Actor) -> Any:
    """Codes are their creator's; a reader of payments sees every client's."""
    if actor.can(service.PAYMENTS_READ):
        return true()
    actor.require(service.PAYMENTS_NOTIFY)
    return AuthorisationCode.client_id == actor.id


def get_authorisation_code(session: Session, actor: Actor, *, account: str, code: str,
                           now: datetime | None = None) -> AuthorisationCodeRead:
    """One authorisation code of an account."""
    row = session.scalar(select(AuthorisationCode).where(
        _visible_codes(actor), AuthorisationCode.account == account, AuthorisationCode.code == code))
    if row is None:
        raise NotFound(_("There is no such authorisation code."))
    return _code_read(row, now or utcnow())


def list_authorisation_codes(session: Session, actor: Actor, *, account: str, code_state: str, offset: int,
                             limit: int, since: datetime | None = None, until: datetime | None = None,
                             now: datetime | None = None) -> tuple[int, list[AuthorisationCodeRead]]:
    """The authorisation codes of an account in one state, newest first: how many, and the page from ``offset``."""
    now = now or utcnow()
    where = [_visible_codes(actor), AuthorisationCode.account == account]
    if code_state == "cancelled":
        where.append(AuthorisationCode.state == "cancelled")
    elif code_state == "active":
        where += [AuthorisationCode.state == "active", AuthorisationCode.redeemed_at.is_(None),
                  AuthorisationCode.expires_at > now]
    elif code_state == "expired":
        where += [AuthorisationCode.state == "active",
                  or_(AuthorisationCode.redeemed_at.is_not(None), AuthorisationCode.expires_at <= now)]
    else:
        raise ValidationFailed(errors=[field_error(["codeState"], _("Choose one of the options."), "unknown_state")])
    if since is not None:
        where.append(AuthorisationCode.created_at >= since)
    if until is not None:
        where.append(AuthorisationCode.created_at <= until)
    total = session.scalar(select(func.count()).select_from(AuthorisationCode).where(*where)) or 0
    rows = session.scalars(select(AuthorisationCode).where(*where)
                           .order_by(AuthorisationCode.created_at.desc(), AuthorisationCode.id.desc())
                           .offset(offset).limit(limit)).all()
    return total, [_code_read(r, now) for r in rows]


def _identifiers(account: str) -> set[tuple[str, str]]:
    return {(k, v) for k, _sep, v in (part.partition("@") for part in account.split("$"))}


def record_coded_payment(session: Session, actor: Actor, *, code: str, transaction_type: str,
                         debit_party: Mapping[str, str], provider: str, event_id: str, transaction_ref: str,
                         bill_number: str, amount: str, currency: str, body: bytes, headers: Mapping[str, str],
                         now: datetime | None = None) -> PaymentOutcome:
    """A payment that quotes an authorisation code (``oneTimeCode``): the code is checked and locked, the
    payment recorded as ``service.record_wallet_payment`` does, and the code used up by it.

    The code must be the caller's, active, issued for the paying account (``debit_party``), allow the
    transaction's type, and cover its amount; a payment that pays nothing (a duplicate, one refused,
    one naming no bill) leaves the code as it was.
    """
    actor.require(service.PAYMENTS_NOTIFY)
    now = now or utcnow()
    row = session.scalar(select(AuthorisationCode).where(
        AuthorisationCode.client_id == actor.id, AuthorisationCode.code == code.strip()).with_for_update())
    if row is None:
        raise NotFound(_("There is no such authorisation code."))
    retry = row.redeemed_by is not None and session.scalar(select(ProviderNotification.id).where(
        ProviderNotification.id == row.redeemed_by, ProviderNotification.event_id == event_id)) is not None
    if not retry:
        if _code_state(row, now) != "active":
            raise Conflict(_("This authorisation code is no longer valid (used, expired or cancelled)."),
                           code="incorrectState")
        if not _identifiers(row.account) & {(k, v) for k, v in debit_party.items()}:
            raise Conflict(_("The authorisation code was issued for another account."), code="incorrectState")
        if row.transaction_types and transaction_type not in row.transaction_types:
            raise Conflict(_("The authorisation code may not be used for this type of transaction."),
                           code="transactionTypeError")
        if row.amount_minor is not None and row.currency is not None:
            if currency != row.currency:
                raise Conflict(_("The currency differs from the authorisation code's."),
                               code="currencyNotSupported")
            minor = service._parse_amount(amount, currency, "amount")
            if minor > row.amount_minor:
                raise Conflict(_("The amount is more than the authorisation code allows."),
                               code="greaterThanTransactionMaxValue")
            if row.amount_type == "exact" and minor != row.amount_minor:
                raise Conflict(_("The amount differs from the authorisation code's."),
                               code="underPaymentNotAllowed")
    outcome = service.record_wallet_payment(session, actor, provider=provider, event_id=event_id,
                                            transaction_ref=transaction_ref, bill_number=bill_number, amount=amount,
                                            currency=currency, body=body, headers=headers)
    paid = outcome.outcome == "applied" or (outcome.outcome == "held" and outcome.bill_number is not None)
    if paid and not retry:
        before = {"code_state": _code_state(row, now), "redeemed_by": None}
        row.redeemed_at, row.redeemed_by, row.updated_at = now, outcome.notification_id, now
        session.flush()
        audit.record_change(session, actor, action="authorisation_code.redeem",
                            subject_type="payments_authorisation_code", subject_id=row.id, before=before,
                            after={"code_state": _code_state(row, now), "redeemed_by": str(outcome.notification_id)})
    return outcome


def response_to(session: Session, actor: Actor, *, client_correlation_id: str) -> tuple[str, str, str | None]:
    """What a client's request (by its ``X-CorrelationID``) created: ("transaction", reference, None) or
    ("authorisationcode", account, code)."""
    if not (actor.can(service.PAYMENTS_NOTIFY) or actor.can(service.PAYMENTS_READ)):
        actor.require(service.PAYMENTS_NOTIFY)
    coded = session.scalar(select(AuthorisationCode).where(
        _visible_codes(actor), AuthorisationCode.client_correlation_id == client_correlation_id)
        .order_by(AuthorisationCode.created_at.desc()).limit(1))
    if coded is not None:
        return "authorisationcode", coded.account, coded.code
    note = session.scalar(select(ProviderNotification).where(
        ProviderNotification.event_id == client_correlation_id, ProviderNotification.provider.like("mm:%"),
        ProviderNotification.outcome.not_in(("duplicate", "rejected"))).limit(1))
    if note is None:
        raise NotFound(_("There is no such request."))
    return "transaction", str(note.id), None
