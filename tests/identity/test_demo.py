"""The demo country's digital identity: citizens who can sign in, a bank with consent agreements."""

from __future__ import annotations

from sqlalchemy.orm import Session
from tests.identity.factories import SYSTEM

from nokor import accounts, civil, identity


def test_demo_citizens_can_receive_codes_and_the_bank_is_registered_once(db: Session) -> None:
    accounts.load_demo(db)
    civil.load_demo(db)
    first = identity.load_demo(db)
    assert identity.load_demo(db) == []
    assert sum(line.startswith("citizen ") for line in first) == 3
    sok = civil.search_residents(db, SYSTEM, purpose="test", name="Sreyneang Sok")[0]
    assert sok.phone == "+85512000101" and sok.email == "sreyneang.sok@example.kh"
    bank = identity.get_relying_party(db, client_id="tonle-bank")
    assert bank is not None and bank.redirect_uris == ["http://127.0.0.1:8090/callback"]
    assert {a.code for a in identity.list_agreements(db, client_id="tonle-bank")} == {"tonle-bank-kyc",
                                                                                      "tonle-bank-contact"}
