"""Yes/no identity verification for agencies: names in any script, never any register data, always logged."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.conftest import issue_key
from tests.identity.factories import RULES, SYSTEM, make_citizen

from nokor import accounts, audit, civil
from nokor.audit.models import AuditEntry
from nokor.identity import VerificationRequest, VerificationResult
from nokor.identity.api import VerificationFastPath
from nokor.identity.models import Verification
from nokor.identity.verifier import BatchVerifier
from nokor.kit.actor import Actor


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


class TestBatchedPath:
    """Calls with a key the process checked a moment ago are answered in batches; they must behave the same."""

    def test_repeated_calls_each_go_into_the_access_log_with_their_request(self, client: TestClient,
                                                                           db: Session) -> None:
        resident = make_citizen(db)
        key = issue_key(db, permissions=["identity.verify"], identity="KH/BANK/ACLEDA/kyc")
        db.commit()
        answers = []
        for number, name in enumerate(("Sophea Chan", "សុភា ចាន់", "Dara Sok")):
            response = client.post("/api/v1/identity/verify", json={"individual_id": resident.nin, "name": name},
                                   headers={"authorization": f"Bearer {key}", "x-request-id": f"bank-call-{number}"})
            assert response.status_code == 200 and response.headers["content-type"] == "application/json"
            assert set(response.json()) == {"transaction_id", "match"}
            answers.append(response.json())
        assert [a["match"] for a in answers] == [True, True, False]
        db.expire_all()
        log = audit.list_entries(db, SYSTEM, subject_type="civil_resident", subject_id=str(resident.id),
                                 category="access").items
        for number, answer in enumerate(answers):
            entry = next(e for e in log if str(answer["transaction_id"]) in (e.reason or ""))
            assert entry.actor_kind == "client" and entry.actor_name == "Test system"
            assert entry.after == {"fields": ["name"]} and entry.request_id == f"bank-call-{number}"

    def test_refusals_are_answered_as_on_the_first_call(self, client: TestClient, db: Session) -> None:
        resident = make_citizen(db)
        allowed = issue_key(db, permissions=["identity.verify"])
        other = issue_key(db, permissions=["civil.read"])
        db.commit()
        for _ in range(2):  # the second call of each key finds it checked already
            assert verify(client, allowed, individual_id=resident.nin, sex="F")["match"] is True
            refused = client.post("/api/v1/identity/verify", json={"individual_id": resident.nin, "sex": "F"},
                                  headers={"authorization": f"Bearer {other}"})
            assert refused.status_code == 403
        empty = client.post("/api/v1/identity/verify", json={"individual_id": resident.nin},
                            headers={"authorization": f"Bearer {allowed}"})
        assert empty.status_code == 422 and empty.json()["errors"][0]["pointer"] == "/name"
        broken = client.post("/api/v1/identity/verify", content=b'{"individual_id": ',
                             headers={"authorization": f"Bearer {allowed}", "content-type": "application/json"})
        assert broken.status_code == 422
        for number in ("1234567\\u00000123", "ABCDEFGHIJKL"):  # PostgreSQL refuses a NUL inside a text parameter
            garbled = client.post("/api/v1/identity/verify", content=f'{{"individual_id": "{number}", "sex": "F"}}',
                                  headers={"authorization": f"Bearer {allowed}", "content-type": "application/json"})
            assert garbled.status_code == 422, garbled.text
            assert garbled.json()["errors"][0]["pointer"] == "/body/individual_id"
        assert verify(client, allowed, individual_id=civil.generate_nin(), sex="F")["match"] is False

    def test_a_revoked_key_stops_at_once(self, client: TestClient, db: Session) -> None:
        resident = make_citizen(db)
        issued = accounts.create_api_client(db, SYSTEM, data=accounts.ApiClientCreate(
            name="Bank", identity="KH/BANK/ABA/kyc", permissions=["identity.verify"]))
        db.commit()
        for _ in range(2):  # the second call is answered with the key checked by the first
            assert verify(client, issued.api_key, individual_id=resident.nin, sex="F")["match"] is True
        accounts.revoke_api_client(db, SYSTEM, client_id=issued.client.id, reason="contract ended")
        db.commit()
        refused = client.post("/api/v1/identity/verify", json={"individual_id": resident.nin, "sex": "F"},
                              headers={"authorization": f"Bearer {issued.api_key}"})
        assert refused.status_code == 401

    def test_a_batch_answers_each_call_and_logs_each(self, session_factory: sessionmaker[Session],
                                                     db: Session) -> None:
        residents = [make_citizen(db), make_citizen(db, given_name="ដារា", family_name="សុខ",
                                                      given_name_latin="Dara", family_name_latin="Sok", sex="M")]
        vid = civil.issue_virtual_id(db, SYSTEM, resident_id=residents[1].id)
        db.commit()
        bank = Actor(kind="client", id=uuid.uuid4(), name="Bank", grants={"identity.verify": None},
                     identity="KH/BANK/ABA/kyc")
        verifier = BatchVerifier(session_factory, RULES)
        calls = [VerificationRequest(individual_id=residents[0].nin or "", name="Sophea Chan"),
                 VerificationRequest(individual_id=vid.number, name="Dara Sok", sex="M"),
                 VerificationRequest(individual_id=residents[0].nin or "", sex="M"),
                 VerificationRequest(individual_id=civil.generate_nin(), name="Dara Sok")]

        async def all_at_once() -> list[VerificationResult]:
            return list(await asyncio.gather(*(verifier.verify(bank, call) for call in calls)))

        try:
            answers = asyncio.run(all_at_once())
        finally:
            verifier.stop()
        assert [a.match for a in answers] == [True, True, False, False]
        db.expire_all()
        for resident, wanted in ((residents[0], {answers[0].transaction_id, answers[2].transaction_id}),
                                 (residents[1], {answers[1].transaction_id})):
            log = audit.list_entries(db, SYSTEM, subject_type="civil_resident", subject_id=str(resident.id),
                                     category="access").items
            assert {t for t in wanted if any(t in (e.reason or "") for e in log)} == wanted


class TestConcurrentCalls:
    """Many agencies' calls in flight at once, as in production: each answer is its own, each is logged."""

    def test_concurrent_calls_get_their_own_answers_records_and_log_entries(
            self, app, db: Session, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
        sophea = make_citizen(db)
        dara = make_citizen(db, given_name="ដារា", family_name="សុខ", given_name_latin="Dara", family_name_latin="Sok",
                            sex="M", birth_date=date(1988, 1, 2))
        key = issue_key(db, permissions=["identity.verify"], identity="KH/BANK/ABA/kyc")
        forbidden = issue_key(db, permissions=["civil.read"])
        db.commit()
        lookups = []
        authenticate = accounts.authenticate_api_key

        def counted(session: Session, *, key: str, cache_seconds: float = 0.0) -> Actor | None:
            lookups.append(key)
            return authenticate(session, key=key, cache_seconds=cache_seconds)

        monkeypatch.setattr(accounts, "authenticate_api_key", counted)
        unknown = civil.generate_nin()
        probes = []  # (body, expected answer)
        for i in range(24):
            person, other = (sophea, dara) if i % 2 else (dara, sophea)
            right = f"{person.given_name_latin} {person.family_name_latin}"
            wrong = f"{other.given_name_latin} {other.family_name_latin}"
            probes.append([({"individual_id": person.nin, "name": right, "birth_date": person.birth_date.isoformat()},
                            True),
                           ({"individual_id": person.nin, "name": wrong}, False),
                           ({"individual_id": person.nin, "sex": person.sex}, True),
                           ({"individual_id": unknown, "sex": "F"}, False)][i % 4])

        async def all_at_once() -> tuple[list[httpx.Response], list[httpx.Response]]:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
                calls = [c.post("/api/v1/identity/verify", json=body, headers={
                    "authorization": f"Bearer {key}", "x-request-id": f"call-{i}"}) for i, (body, _m) in
                    enumerate(probes)]
                refused = [c.post("/api/v1/identity/verify", json={"individual_id": sophea.nin, "sex": "F"},
                                  headers={"authorization": f"Bearer {who}"}) for who in (forbidden, "nk_wrong_key")]
                answers = await asyncio.gather(*calls, *refused)
            return list(answers[:len(probes)]), list(answers[len(probes):])

        try:
            answers, refusals = asyncio.run(all_at_once())
        finally:
            layer = app.middleware_stack
            while not isinstance(layer, VerificationFastPath):
                layer = layer.app
            layer.verifier.stop()
        assert [r.status_code for r in refusals] == [403, 401]
        assert all(r.headers["content-type"] == "application/problem+json" for r in refusals)
        assert [r.status_code for r in answers] == [200] * len(probes)
        assert [r.json()["match"] for r in answers] == [match for _body, match in probes]
        assert lookups.count(key) == 1  # the calls of a key not yet checked wait for one lookup, then all batch
        db.expire_all()
        ids = [r.json()["transaction_id"] for r in answers]
        assert len(set(ids)) == len(ids)
        records = {v.transaction_id: v for v in db.scalars(select(Verification)).all()}
        entries = {e.reason: e for e in db.scalars(select(AuditEntry).where(AuditEntry.category == "access")).all()}
        for i, ((body, match), tid) in enumerate(zip(probes, ids, strict=True)):
            record = records[tid]
            assert record.matched is match and record.requester == "KH/BANK/ABA/kyc"
            entry = entries.get(f"identity verification (yes/no), transaction {tid}")
            if body["individual_id"] == unknown:  # no person, no access-log entry; the record shows the call
                assert entry is None and record.resident_id is None
                continue
            assert entry is not None and entry.request_id == f"call-{i}" and entry.subject_id == str(record.resident_id)
            assert entry.after == {"fields": sorted(k for k in body if k != "individual_id")}
        assert len(records) == len(probes)
        audit.seal_entries(db)  # as the worker does: the access-log entries take their place in the chain
        db.commit()
        db.expire_all()
        report = audit.verify_chain(db)
        assert report.ok and report.unsealed == 0
