"""GovStack Consent: data agreements and consent-record verification for data consumers."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.conftest import issue_key
from tests.identity.conftest import Party
from tests.identity.factories import RULES, make_citizen

from nokor import identity

BASE = "/govstack/consent"


def test_consumers_see_agreements_and_whether_consent_is_given_now(client: TestClient, db: Session,
                                                                   bank: Party) -> None:
    resident = make_citizen(db)
    _token, citizen = identity.open_session(db, resident_id=resident.id, methods=["otp"], rules=RULES)
    consent = identity.give_consent(db, citizen, agreement_id=bank.kyc_agreement.id)
    key = issue_key(db, permissions=["identity.consent_read"])
    db.commit()
    agreements = client.get(f"{BASE}/service/verification/data-agreements/").json()["dataAgreements"]
    assert [a["id"] for a in agreements] == [str(bank.kyc_agreement.id)]
    assert {a["name"] for a in agreements[0]["dataAttributes"]} == {"name", "birthdate", "individual_id",
                                                                     "phone_number"}
    auth = {"authorization": f"Bearer {key}"}
    query = {"dataAgreementId": str(bank.kyc_agreement.id), "individualId": str(resident.id)}
    records = client.get(f"{BASE}/service/verification/consent-records/", params=query, headers=auth).json()
    assert records["consentRecords"][0]["optIn"] is True
    assert len(records["consentRecords"][0]["dataAgreementRevisionHash"]) == 64
    identity.revoke_consent(db, citizen, consent_id=consent.id)
    db.commit()
    one = client.get(f"{BASE}/service/verification/consent-record/{consent.id}/", headers=auth).json()
    assert one["consentRecord"]["optIn"] is False and one["consentRecord"]["withdrawnAt"]
    assert client.get(f"{BASE}/service/verification/consent-records/", params=query).status_code == 401


def test_an_offset_beyond_any_database_is_422_not_500(client: TestClient) -> None:
    answer = client.get(f"{BASE}/service/verification/data-agreements/", params={"offset": str(10**22)})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
