"""EMVCo merchant-presented QR codes: TLV encode/decode, CRC, strict validation and scheme profiles.

Pure functions, no database. A payload is a string of ``ID LL VALUE`` data objects: a two-digit ID, a
two-digit length counted in characters (Unicode code points) and the value. IDs 26–51, 62, 64 and
80–99 are templates holding data objects of their own. The payload ends with ``6304`` and the
CRC-16/CCITT-FALSE of the UTF-8 bytes up to and including ``6304``.

``decode`` is lenient: it keeps unknown tags and missing "mandatory" ones (real PromptPay codes omit
52/59/60, PIX omits 01) and refuses only what cannot be read (a wrong length, a bad CRC). ``validate``
is strict: it names every rule broken, by the EMVCo specification and by the scheme's profile (KHQR,
PromptPay, PIX, SGQR). Field order is kept, so a decoded payload re-encodes byte for byte.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision

from nokor.kit.i18n import gettext as _

CRC_TAG = "63"
CRC_PREFIX = "6304"
KHQR_CURRENCIES = {"116": "KHR", "840": "USD"}
# ISO 4217 numeric codes of the currencies the schemes we serve use; others are checked for shape only.
NUMERIC_CURRENCIES = {
    "116": "KHR", "840": "USD", "764": "THB", "986": "BRL", "702": "SGD", "392": "JPY", "156": "CNY",
    "356": "INR", "360": "IDR", "458": "MYR", "704": "VND", "418": "LAK", "104": "MMK", "608": "PHP",
    "978": "EUR", "818": "EGP", "784": "AED", "410": "KRW", "344": "HKD",
}
CURRENCY_NUMERIC = {alpha: numeric for numeric, alpha in NUMERIC_CURRENCIES.items()}
_AMOUNT = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$")
_BAKONG_ACCOUNT = re.compile(r"^[A-Za-z0-9_.\-]+@[A-Za-z0-9_.\-]+$")


def is_template(tag: str) -> bool:
    """True for the IDs whose value is itself a list of data objects (26–51, 62, 64, 80–99)."""
    n = int(tag)
    return 26 <= n <= 51 or n in (62, 64) or n >= 80


@dataclass(frozen=True, slots=True)
class DataObject:
    """One ``ID LL VALUE`` element; a template carries ``children`` and its value is their encoding."""

    tag: str
    value: str
    children: tuple[DataObject, ...] | None = None

    def child(self, tag: str) -> str | None:
        for obj in self.children or ():
            if obj.tag == tag:
                return obj.value
        return None

    def as_json(self) -> Any:
        if self.children is None:
            return self.value
        return {obj.tag: obj.as_json() for obj in self.children}


@dataclass(frozen=True, slots=True)
class BrokenRule:
    """A rule a payload breaks: a stable ``code``, the tag concerned, a message for people and, for
    KHQR, the error number the Bakong KHQR SDK gives for the same fault."""

    code: str
    message: str
    tag: str | None = None
    khqr_error: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "tag": self.tag, "khqr_error": self.khqr_error, "message": self.message}


class InvalidQr(ValueError):
    """A payload that cannot be read or breaks rules; ``rules`` names every one."""

    def __init__(self, rules: Sequence[BrokenRule]) -> None:
        super().__init__("; ".join(f"{r.code}: {r.message}" for r in rules))
        self.rules = list(rules)


@dataclass(frozen=True, slots=True)
class QrPayload:
    """A decoded payload: its data objects in their original order (CRC excluded) and the raw text."""

    objects: tuple[DataObject, ...]
    raw: str
    crc: str

    def get(self, tag: str) -> str | None:
        for obj in self.objects:
            if obj.tag == tag:
                return obj.value
        return None

    def object(self, tag: str) -> DataObject | None:
        for obj in self.objects:
            if obj.tag == tag:
                return obj
        return None

    @property
    def scheme(self) -> str:
        return detect_scheme(self)

    @property
    def is_dynamic(self) -> bool:
        return self.get("01") == "12"

    @property
    def currency(self) -> str | None:
        """The ISO 4217 alphabetic code of tag 53, when known."""
        numeric = self.get("53")
        return NUMERIC_CURRENCIES.get(numeric) if numeric else None

    @property
    def amount_minor(self) -> int | None:
        """Tag 54 in minor units of the currency, or None when absent, malformed or too precise."""
        text, currency = self.get("54"), self.currency
        if text is None or currency is None or not _AMOUNT.match(text):
            return None
        amount = Decimal(text).scaleb(get_currency_precision(currency))
        return int(amount) if amount == amount.to_integral_value() else None

    @property
    def md5(self) -> str:
        return payload_md5(self.raw)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scheme": self.scheme,
            "crc": self.crc,
            "md5": self.md5,
            "dynamic": self.is_dynamic,
            "currency": self.currency,
            "amount_minor": self.amount_minor,
            "fields": {obj.tag: obj.as_json() for obj in self.objects},
        }
        if self.scheme == "KHQR":
            out["khqr"] = khqr_summary(self)
        return out


# --- CRC and TLV ---------------------------------------------------------------------------------


def crc16(text: str) -> str:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of the UTF-8 bytes, as four upper-case hex digits."""
    return f"{binascii.crc_hqx(text.encode('utf-8'), 0xFFFF):04X}"


def payload_md5(payload: str) -> str:
    """The MD5 of the whole payload (UTF-8), which Bakong uses to look a transaction up."""
    return hashlib.md5(payload.encode("utf-8"), usedforsecurity=False).hexdigest()


def _tlv(tag: str, value: str) -> str:
    if len(tag) != 2 or not tag.isdigit():
        raise ValueError(f"a tag is two digits, not {tag!r}")
    if len(value) > 99:
        raise ValueError(f"tag {tag}: a value holds at most 99 characters, not {len(value)}")
    return f"{tag}{len(value):02d}{value}"


def encode_objects(objects: Iterable[DataObject]) -> str:
    """The TLV text of data objects, in the given order (templates from their children)."""
    parts = []
    for obj in objects:
        value = obj.value if obj.children is None else encode_objects(obj.children)
        parts.append(_tlv(obj.tag, value))
    return "".join(parts)


def encode(objects: Iterable[DataObject]) -> str:
    """A complete payload: the data objects (any CRC among them is dropped) followed by a fresh CRC."""
    body = encode_objects(obj for obj in objects if obj.tag != CRC_TAG) + CRC_PREFIX
    return body + crc16(body)


def obj(tag: str, value: str | Sequence[DataObject]) -> DataObject:
    """A data object from a value or from child objects."""
    if isinstance(value, str):
        return DataObject(tag, value)
    children = tuple(value)
    return DataObject(tag, encode_objects(children), children)


def _split(text: str) -> tuple[list[DataObject], list[BrokenRule]]:
    objects: list[DataObject] = []
    i = 0
    while i < len(text):
        head = text[i : i + 4]
        if len(head) < 4 or not head.isascii() or not head.isdigit():
            if objects:
                previous = objects[-1].tag
                return objects, [BrokenRule(
                    "tlv_length",
                    _("The length of tag %(tag)s is wrong: what follows it is not a data object.",
                      tag=previous),
                    tag=previous,
                )]
            return objects, [BrokenRule(
                "tlv_malformed",
                _("Position %(pos)s: a data object must start with a two-digit ID and a "
                  "two-digit length.", pos=i),
                tag=head[:2] or None,
            )]
        tag, length = head[:2], int(head[2:])
        value = text[i + 4 : i + 4 + length]
        if len(value) < length:
            return objects, [BrokenRule(
                "tlv_length",
                _("Tag %(tag)s declares %(length)s characters but only %(left)s remain.",
                  tag=tag, length=length, left=len(value)),
                tag=tag,
            )]
        objects.append(DataObject(tag, value))
        i += 4 + length
    return objects, []


def _nest(objects: list[DataObject]) -> list[DataObject]:
    out = []
    for item in objects:
        if is_template(item.tag) and item.value:
            children, problems = _split(item.value)
            if not problems:
                out.append(DataObject(item.tag, item.value, tuple(children)))
                continue
        out.append(item)
    return out


def decode(payload: str) -> QrPayload:
    """Read a payload leniently: unknown and missing tags are kept as they are.

    Raises ``InvalidQr`` only when the text cannot be read: a length that runs past the end, a
    malformed ID, a missing or wrong CRC. A template whose value is not TLV stays a plain value
    (``validate`` names it).
    """
    text = payload.strip("\r\n")
    flat, problems = _split(text)
    if problems:
        raise InvalidQr(problems)
    rules = _crc_rules(text, flat)
    if rules:
        raise InvalidQr(rules)
    objects = _nest(flat[:-1])
    return QrPayload(objects=tuple(objects), raw=text, crc=flat[-1].value.upper())


def _crc_rules(text: str, flat: list[DataObject]) -> list[BrokenRule]:
    if not flat or flat[-1].tag != CRC_TAG:
        return [BrokenRule("crc_missing", _("The payload must end with the CRC (tag 63)."), tag="63", khqr_error=24)]
    if len(flat[-1].value) != 4:
        return [BrokenRule("crc_length", _("The CRC (tag 63) must be 4 characters long."), tag="63", khqr_error=22)]
    expected = crc16(text[:-4])
    if flat[-1].value.upper() != expected:
        return [BrokenRule(
            "crc_mismatch",
            _("The CRC is %(found)s but the payload gives %(expected)s: it was changed or mistyped.",
              found=flat[-1].value, expected=expected),
            tag="63", khqr_error=8,
        )]
    return []


# --- strict validation ---------------------------------------------------------------------------


def detect_scheme(qr: QrPayload) -> str:
    """Which scheme a payload belongs to: KHQR, PromptPay, PIX, SGQR or EMVCo (generic)."""
    for item in qr.objects:
        if item.children is None:
            continue
        gui = (item.child("00") or "").strip()
        if item.tag in ("29", "30") and _BAKONG_ACCOUNT.match(gui):
            return "KHQR"
        if item.tag in ("29", "30") and gui.upper().startswith("A000000677"):
            return "PromptPay"
        if gui.lower() == "br.gov.bcb.pix":
            return "PIX"
        if gui.upper() in ("SG.PAYNOW", "SG.SGQR", "SG.COM.NETS"):
            return "SGQR"
    if qr.get("58") == "KH" and (qr.object("29") or qr.object("30")):
        return "KHQR"
    return "EMVCo"


# Tags a generic EMVCo payload must carry; profiles relax this where real schemes do.
_MANDATORY = {
    "EMVCo": ("00", "52", "53", "58", "59", "60"),
    "KHQR": ("00", "01", "52", "53", "58", "59", "60"),
    "PromptPay": ("00", "01", "53", "58"),
    "PIX": ("00", "52", "53", "58", "59", "60"),
    "SGQR": ("00", "52", "53", "58", "59", "60"),
}
_KHQR_MISSING_ERROR = {"00": 23, "52": 25, "58": 26, "60": 27, "59": 2}
_MAX_LENGTH = {"59": 25, "60": 15, "54": 13}
_KHQR_MAX_LENGTH = {"59": (25, 7), "60": (15, 21)}


def _fixed(qr: QrPayload, tag: str, pattern: str, message: str, code: str, khqr: int | None = None) -> list[BrokenRule]:
    value = qr.get(tag)
    if value is not None and not re.fullmatch(pattern, value):
        return [BrokenRule(code, message, tag=tag, khqr_error=khqr)]
    return []


def _generic_rules(qr: QrPayload, scheme: str) -> list[BrokenRule]:
    rules: list[BrokenRule] = []
    is_khqr = scheme == "KHQR"
    if not qr.objects or qr.objects[0].tag != "00":
        rules.append(BrokenRule("payload_format_first", _("The payload must start with tag 00."), tag="00",
                                khqr_error=23))
    rules += _fixed(qr, "00", "01", _("The payload format indicator (tag 00) must be 01."), "payload_format",
                    16 if is_khqr else None)
    seen: set[str] = set()
    for item in qr.objects:
        if item.tag in seen:
            rules.append(BrokenRule("duplicate_tag", _("Tag %(tag)s appears more than once.", tag=item.tag),
                                    tag=item.tag))
        seen.add(item.tag)
        if is_template(item.tag) and item.children is None and item.value:
            rules.append(BrokenRule("template_malformed",
                                    _("Tag %(tag)s is a template but its value is not a list of data objects.",
                                      tag=item.tag), tag=item.tag))
    for tag in _MANDATORY[scheme]:
        if qr.get(tag) is None:
            rules.append(BrokenRule("missing_tag", _("Tag %(tag)s is required.", tag=tag), tag=tag,
                                    khqr_error=_KHQR_MISSING_ERROR.get(tag) if is_khqr else None))
    if not any(2 <= int(item.tag) <= 51 for item in qr.objects):
        rules.append(BrokenRule("missing_account",
                                _("At least one merchant account information (tags 02 to 51) is required."),
                                tag="26", khqr_error=1 if is_khqr else None))
    poi = qr.get("01")
    if poi is not None and poi not in ("11", "12"):
        rules.append(BrokenRule("point_of_initiation",
                                _("The point of initiation (tag 01) must be 11 (static) or 12 (dynamic)."),
                                tag="01", khqr_error=48 if is_khqr else None))
    rules += _fixed(qr, "52", r"\d{4}", _("The merchant category code (tag 52) must be four digits."),
                    "merchant_category", 51 if is_khqr else None)
    currency = qr.get("53")
    if currency is not None and not re.fullmatch(r"\d{3}", currency):
        rules.append(BrokenRule("currency", _("The currency (tag 53) must be a three-digit ISO 4217 code."),
                                tag="53", khqr_error=19 if is_khqr else None))
    amount = qr.get("54")
    if amount is not None and (not _AMOUNT.match(amount) or len(amount) > 13):
        rules.append(BrokenRule("amount", _("The amount (tag 54) must be a decimal number of at most 13 characters."),
                                tag="54", khqr_error=4 if is_khqr else None))
    rules += _fixed(qr, "58", r"[A-Z]{2}", _("The country code (tag 58) must be two capital letters."),
                    "country", 20 if is_khqr else None)
    for tag, limit in _MAX_LENGTH.items():
        value = qr.get(tag)
        if value is not None and tag != "54" and not 1 <= len(value) <= limit:
            khqr_error = _KHQR_MAX_LENGTH[tag][1] if is_khqr and tag in _KHQR_MAX_LENGTH else None
            rules.append(BrokenRule("value_length", _("Tag %(tag)s holds 1 to %(limit)s characters.", tag=tag,
                                                      limit=limit), tag=tag, khqr_error=khqr_error))
    return rules


def _khqr_rules(qr: QrPayload, at: datetime) -> list[BrokenRule]:
    rules: list[BrokenRule] = []
    account = qr.object("29") or qr.object("30")
    if account is None or account.children is None:
        rules.append(BrokenRule("khqr_account", _("A KHQR needs a Bakong account in tag 29 or 30."), tag="29",
                                khqr_error=1))
    else:
        account_id = account.child("00") or ""
        if not account_id:
            rules.append(BrokenRule("khqr_account", _("The Bakong account ID (sub-tag 00) is missing."),
                                    tag=account.tag, khqr_error=1))
        elif len(account_id) > 32:
            rules.append(BrokenRule("khqr_account_length", _("The Bakong account ID holds at most 32 characters."),
                                    tag=account.tag, khqr_error=6))
        elif not _BAKONG_ACCOUNT.match(account_id):
            rules.append(BrokenRule("khqr_account_format",
                                    _("The Bakong account ID must look like name@bank."), tag=account.tag,
                                    khqr_error=3))
        if account.tag == "30":
            if not account.child("01"):
                rules.append(BrokenRule("khqr_merchant_id", _("A merchant KHQR (tag 30) needs a merchant ID."),
                                        tag="30", khqr_error=30))
            if not account.child("02"):
                rules.append(BrokenRule("khqr_acquiring_bank",
                                        _("A merchant KHQR (tag 30) needs the acquiring bank."), tag="30",
                                        khqr_error=31))
    numeric = qr.get("53")
    if numeric is not None and numeric not in KHQR_CURRENCIES:
        rules.append(BrokenRule("khqr_currency",
                                _("KHQR accepts only riel (116) and US dollars (840), not %(code)s.", code=numeric),
                                tag="53", khqr_error=28))
    amount = qr.get("54")
    if amount is not None and numeric in KHQR_CURRENCIES and _AMOUNT.match(amount):
        value = Decimal(amount)
        places = 0 if numeric == "116" else 2
        if value != value.quantize(Decimal(1).scaleb(-places)):
            rules.append(BrokenRule("khqr_amount_precision",
                                    _("Riel amounts are whole; dollar amounts have at most two decimals."),
                                    tag="54", khqr_error=4))
    if qr.get("15") is not None and numeric == "840":
        rules.append(BrokenRule("khqr_upi_usd", _("A KHQR with UnionPay (tag 15) cannot be in US dollars."),
                                tag="15", khqr_error=44))
    rules += _khqr_time_rules(qr, at)
    return rules


def _khqr_time_rules(qr: QrPayload, at: datetime) -> list[BrokenRule]:
    rules: list[BrokenRule] = []
    dynamic = qr.is_dynamic
    amount = qr.get("54")
    if dynamic:
        try:
            positive = amount is not None and Decimal(amount) > 0
        except InvalidOperation:
            positive = False
        if not positive:
            rules.append(BrokenRule("khqr_dynamic_amount", _("A dynamic KHQR (tag 01 = 12) needs an amount."),
                                    tag="54", khqr_error=47))
    stamps = qr.object("99")
    created = stamps.child("00") if stamps is not None else None
    expires = stamps.child("01") if stamps is not None else None
    for stamp in (created, expires):
        if stamp is not None and not re.fullmatch(r"\d{13}", stamp):
            rules.append(BrokenRule("khqr_timestamp_length",
                                    _("KHQR times (tag 99) are 13-digit epoch milliseconds."), tag="99",
                                    khqr_error=49))
            return rules
    if dynamic and expires is None:
        rules.append(BrokenRule("khqr_expiry_required",
                                _("A dynamic KHQR needs an expiry time (tag 99, sub-tag 01)."), tag="99",
                                khqr_error=45))
    if expires is not None:
        if created is not None and int(expires) < int(created):
            rules.append(BrokenRule("khqr_expiry_before_creation",
                                    _("The expiry time is before the creation time."), tag="99", khqr_error=50))
        if dynamic and int(expires) < int(at.timestamp() * 1000):
            rules.append(BrokenRule("khqr_expired", _("This QR code expired at %(time)s.",
                                                     time=epoch_ms_to_datetime(int(expires)).isoformat()),
                                    tag="99", khqr_error=46))
    return rules


def _profile_rules(qr: QrPayload, scheme: str) -> list[BrokenRule]:
    rules: list[BrokenRule] = []
    expected = {"PromptPay": ("764", "TH"), "PIX": ("986", "BR"), "SGQR": ("702", "SG")}.get(scheme)
    if expected is None:
        return rules
    currency, country = expected
    if qr.get("53") not in (None, currency):
        rules.append(BrokenRule("scheme_currency", _("%(scheme)s payments are in currency %(code)s.", scheme=scheme,
                                                     code=currency), tag="53"))
    if qr.get("58") not in (None, country):
        rules.append(BrokenRule("scheme_country", _("%(scheme)s payments are made in country %(code)s.",
                                                    scheme=scheme, code=country), tag="58"))
    if scheme == "PIX":
        account = next((o for o in qr.objects if o.children and (o.child("00") or "").lower() == "br.gov.bcb.pix"),
                       None)
        if account is not None and not (account.child("01") or account.child("25")):
            rules.append(BrokenRule("pix_key", _("A PIX code needs a key (sub-tag 01) or a URL (sub-tag 25)."),
                                    tag=account.tag))
    return rules


def validate(payload: str | QrPayload, *, at: datetime | None = None, scheme: str | None = None) -> list[BrokenRule]:
    """Every rule the payload breaks (an empty list when it is valid), checked strictly.

    ``at`` is the moment expiry is judged against (now by default); ``scheme`` forces a profile
    instead of the one detected.
    """
    if isinstance(payload, str):
        try:
            qr = decode(payload)
        except InvalidQr as exc:
            return exc.rules
    else:
        qr = payload
    scheme = scheme or qr.scheme
    at = at or datetime.now(UTC)
    rules = _generic_rules(qr, scheme)
    if scheme == "KHQR":
        rules += _khqr_rules(qr, at)
    else:
        rules += _profile_rules(qr, scheme)
    return rules


def decode_strict(payload: str, *, at: datetime | None = None) -> QrPayload:
    """Decode and validate; raises ``InvalidQr`` naming every broken rule."""
    qr = decode(payload)
    rules = validate(qr, at=at)
    if rules:
        raise InvalidQr(rules)
    return qr


# --- KHQR ----------------------------------------------------------------------------------------


def format_amount(amount: Decimal) -> str:
    """Tag 54 text: no exponent, no trailing zeros after the point (``100``, ``1.5``, ``4.22``)."""
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def epoch_ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def khqr_summary(qr: QrPayload) -> dict[str, Any]:
    """The KHQR fields by name: account, kind, bank, bill number, times."""
    account = qr.object("29") or qr.object("30")
    extra = qr.object("62")
    stamps = qr.object("99")
    created = stamps.child("00") if stamps else None
    expires = stamps.child("01") if stamps else None

    def when(ms: str | None) -> str | None:
        return epoch_ms_to_datetime(int(ms)).isoformat() if ms and ms.isdigit() else None

    return {
        "kind": "merchant" if account is not None and account.tag == "30" else "individual",
        "bakong_account_id": account.child("00") if account else None,
        "acquiring_bank": account.child("02") if account else None,
        "bill_number": extra.child("01") if extra else None,
        "created_at": when(created),
        "expires_at": when(expires),
    }


@dataclass(frozen=True)
class KhqrRequest:
    """What a KHQR says: who is paid, how much, for which bill and until when."""

    bakong_account_id: str
    merchant_name: str
    merchant_city: str = "Phnom Penh"
    currency: str = "KHR"
    amount_minor: int | None = None
    bill_number: str | None = None
    store_label: str | None = None
    terminal_label: str | None = None
    purpose: str | None = None
    merchant_id: str | None = None
    acquiring_bank: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    merchant_category: str = "5999"
    extra: tuple[DataObject, ...] = field(default=())


def encode_khqr(request: KhqrRequest) -> str:
    """A KHQR payload: individual (tag 29) or, with a merchant ID, merchant (tag 30); dynamic with an amount."""
    if request.currency not in CURRENCY_NUMERIC or CURRENCY_NUMERIC[request.currency] not in KHQR_CURRENCIES:
        raise ValueError("KHQR is in KHR or USD")
    dynamic = request.amount_minor is not None
    account: list[DataObject] = [obj("00", request.bakong_account_id)]
    if request.merchant_id:
        account.append(obj("01", request.merchant_id))
    if request.acquiring_bank:
        account.append(obj("02", request.acquiring_bank))
    objects = [obj("00", "01"), obj("01", "12" if dynamic else "11"),
               obj("30" if request.merchant_id else "29", account),
               obj("52", request.merchant_category), obj("53", CURRENCY_NUMERIC[request.currency])]
    if request.amount_minor is not None:
        amount = Decimal(request.amount_minor).scaleb(-get_currency_precision(request.currency))
        if request.currency == "KHR" and amount != amount.to_integral_value():
            raise ValueError("KHQR amounts in riel are whole riel")
        objects.append(obj("54", format_amount(amount)))
    objects += [obj("58", "KH"), obj("59", request.merchant_name[:25]), obj("60", request.merchant_city[:15])]
    extra = [obj(tag, value) for tag, value in (("01", request.bill_number), ("03", request.store_label),
                                                ("07", request.terminal_label), ("08", request.purpose))
             if value]
    if extra:
        objects.append(obj("62", extra))
    if request.created_at or request.expires_at:
        stamps = []
        if request.created_at:
            stamps.append(obj("00", str(epoch_ms(request.created_at))))
        if request.expires_at:
            stamps.append(obj("01", str(epoch_ms(request.expires_at))))
        objects.append(obj("99", stamps))
    objects += list(request.extra)
    return encode(objects)
