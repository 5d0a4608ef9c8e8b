"""The demo country's digital identity: demo citizens with a mobile number and an e-mail address, a demo bank
as relying party with two consent agreements, and the bank's key for yes/no verification."""

from __future__ import annotations

from sqlalchemy.orm import Session

from nokor import accounts, civil
from nokor.identity import service
from nokor.identity.schemas import AgreementCreate, RelyingPartyCreate
from nokor.kit.actor import Actor

# (Latin name as the civil demo registers it, mobile number, e-mail address)
CITIZENS: list[tuple[str, str, str]] = [
    ("Sreyneang Sok", "+85512000101", "sreyneang.sok@example.kh"),
    ("Vibol Chan", "+85512000102", "vibol.chan@example.kh"),
    ("Sopheap Keo", "+85512000103", "sopheap.keo@example.kh"),
]
BANK = "tonle-bank"
BANK_CALLBACK = "http://127.0.0.1:8090/callback"
BANK_IDENTITY = "KH/BANK/TONLE/kyc"


def load_demo(session: Session) -> list[str]:
    """Give the demo citizens contact details and register the demo bank; safe to run again."""
    actor = Actor.system("demo")
    lines: list[str] = []
    for name, phone, email in CITIZENS:
        found = civil.search_residents(session, actor, purpose="demo country: contact details", name=name)
        if not found or found[0].phone:
            continue
        resident = civil.update_contact(session, actor, resident_id=found[0].id, reason="demo country",
                                        data=civil.ContactDetails(phone=phone, email=email))
        lines.append(f"citizen {name}: national ID {resident.nin}, codes to {phone} / {email} "
                     "(shown at /messaging/mailbox)")
    if service.get_relying_party(session, client_id=BANK) is None:
        issued = service.register_relying_party(session, actor, data=RelyingPartyCreate(
            client_id=BANK, name={"km": "ធនាគារទន្លេ", "en": "Tonle Bank", "ar": "بنك تونلي", "de": "Tonle Bank"},
            redirect_uris=[BANK_CALLBACK], scopes=["openid", "profile", "phone", "email", "address", "national_id"],
            confidential=True, api_identity=BANK_IDENTITY))
        service.create_agreement(session, actor, data=AgreementCreate(
            code="tonle-bank-kyc", client_id=BANK, attributes=["name", "birthdate", "individual_id", "phone_number"],
            purpose={"km": "បើកគណនីធនាគារ (ស្គាល់អតិថិជន)", "en": "Open a bank account (know your customer)",
                     "ar": "فتح حساب مصرفي (اعرف عميلك)", "de": "Ein Bankkonto eröffnen (Kundenidentifizierung)"},
            duration_days=365))
        service.create_agreement(session, actor, data=AgreementCreate(
            code="tonle-bank-contact", client_id=BANK, attributes=["email", "address"],
            purpose={"km": "ផ្ញើរបាយការណ៍គណនី", "en": "Send account statements", "ar": "إرسال كشوف الحساب",
                     "de": "Kontoauszüge zusenden"}, duration_days=90))
        lines.append(f"relying party {BANK} (redirect {BANK_CALLBACK}) client secret: {issued.client_secret}")
        if not any(c.identity == BANK_IDENTITY for c in accounts.list_api_clients(session, actor)):
            key = accounts.create_api_client(session, actor, data=accounts.ApiClientCreate(
                name="Tonle Bank (identity verification)", identity=BANK_IDENTITY,
                permissions=["identity.verify"]))
            lines.append(f"API client {BANK_IDENTITY} (identity.verify) key: {key.api_key}")
    return lines
