"""Yes/no identity verification for agencies: names in any script, never any register data, always logged."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.conftest import issue_key
from tests.identity.factories import SYSTEM, make_citizen

from nokor import audit, civil


def verify(client: TestClient, key: str, **body: object) -> dict[str, object]:
    response = client.post("/api/v1/identity/verify", json=body, headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return dict(response.json())


class TestVerify:
    def test_names_in_any_script_and_a_fuzzy_threshold(self, client: TestClient, db: Session) -> None:
        resident = make_citizen(db)
        key = issue_key(db, permissions=["identity.verify"], identity="KH/BANK/ACLEDA/kyc")
        db.commit()
        nin = resident.nin or ""
        for name in ("សុភា ចាន់", "Sophea Chan", "chan sophea", "Sopheak Chan"):
            answer = verify(client, key, individual_id=nin, name=name, birth_date="1992-04-09")
            assert answer["match"] is True, name
            assert set(answer) == {"transaction_id", "match"}  # never any register data
        assert verify(client, key, individual_id=nin, name="Dara Sok")["match"] is False
        assert verify(client, key, individual_id=nin, name="Sophea Chan", birth_date="1992-04-10")["match"] is False
        assert verify(client, key, individual_id=nin, sex="M")["match"] is False
        assert verify(client, key, individual_id=nin, name="Sopheak Chan", name_threshold=100)["match"] is False
        assert verify(client, key, individual_id=civil.generate_nin(), name="Sophea Chan")["match"] is False

    def test_every_call_goes_into_the_persons_access_log(self, client: TestClient, db: Session) -> None:
        resident = make_citizen(db)
        key = issue_key(db, permissions=["identity.verify"], identity="KH/BANK/ACLEDA/kyc")
        db.commit()
        answer = verify(client, key, individual_id=resident.nin, name="Sophea Chan", birth_date="1992-04-09")
        db.expire_all()
        log = audit.list_entries(db, SYSTEM, subject_type="civil_resident", subject_id=str(resident.id),
                                 category="access").items
        entry = next(e for e in log if str(answer["transaction_id"]) in (e.reason or ""))
        assert entry.actor_kind == "client" and entry.after == {"fields": ["birth_date", "name"]}

    def test_a_virtual_id_works_and_nothing_to_compare_is_422(self, client: TestClient, db: Session) -> None:
        resident = make_citizen(db)
        vid = civil.issue_virtual_id(db, SYSTEM, resident_id=resident.id)
        key = issue_key(db, permissions=["identity.verify"])
        db.commit()
        assert verify(client, key, individual_id=vid.number, birth_date=date(1992, 4, 9).isoformat())["match"]
        empty = client.post("/api/v1/identity/verify", json={"individual_id": vid.number},
                            headers={"authorization": f"Bearer {key}"})
        assert empty.status_code == 422 and empty.json()["errors"][0]["pointer"] == "/name"
        stamp = client.post("/api/v1/identity/verify", json={"individual_id": vid.number, "birth_date": 0},
                            headers={"authorization": f"Bearer {key}"})
        assert stamp.status_code == 422

    def test_without_the_permission_it_is_403(self, client: TestClient, db: Session) -> None:
        resident = make_citizen(db)
        key = issue_key(db, permissions=["civil.read"])
        db.commit()
        response = client.post("/api/v1/identity/verify", json={"individual_id": resident.nin, "sex": "F"},
                               headers={"authorization": f"Bearer {key}"})
        assert response.status_code == 403
