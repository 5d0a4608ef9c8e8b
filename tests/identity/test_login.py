"""Citizen sign-in: national ID number or virtual ID, a one-time code by SMS or e-mail, optional TOTP."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from tests.conftest import csrf_from
from tests.identity.factories import HTML, RULES, SYSTEM, last_code, make_citizen, sign_in

from nokor import audit, civil, identity
from nokor.identity.models import LoginChallenge
from nokor.kit.errors import TooManyRequests, ValidationFailed
from nokor.kit.time import utcnow


def start(db: Session, resident: civil.ResidentRead, channel: str = "sms", **kw: object) -> identity.LoginStarted:
    return identity.start_login(db, identifier=resident.nin or "", channel=channel, locale="en", client_ip="10.0.0.1",
                                rules=RULES, **kw)  # type: ignore[arg-type]


def reason_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> str:
    return str(exc.value.errors[0]["code"]) if exc.value.errors else ""


class TestOneTimeCodes:
    def test_a_code_signs_in_once(self, db: Session) -> None:
        resident = make_citizen(db)
        started = start(db, resident)
        code = last_code(db, "+85512345678")
        outcome = identity.check_login_code(db, challenge_id=started.challenge_id, code=code, rules=RULES)
        assert outcome.resident_id == resident.id and not outcome.needs_totp
        with pytest.raises(ValidationFailed) as again:
            identity.check_login_code(db, challenge_id=started.challenge_id, code=code, rules=RULES)
        assert reason_of(again) == "used"

    def test_the_code_goes_by_email_in_the_readers_language(self, db: Session) -> None:
        resident = make_citizen(db)
        identity.start_login(db, identifier=resident.nin or "", channel="email", locale="de", client_ip=None,
                             rules=RULES)
        code = last_code(db, "sophea@example.org")
        assert len(code) == 6

    def test_an_expired_code_is_refused(self, db: Session) -> None:
        resident = make_citizen(db)
        started = start(db, resident)
        code = last_code(db, "+85512345678")
        db.execute(update(LoginChallenge).values(expires_at=utcnow() - timedelta(seconds=1)))
        with pytest.raises(ValidationFailed) as expired:
            identity.check_login_code(db, challenge_id=started.challenge_id, code=code, rules=RULES)
        assert reason_of(expired) == "expired"

    def test_a_virtual_id_works_and_a_revoked_one_does_not(self, db: Session) -> None:
        resident = make_citizen(db)
        vid = civil.issue_virtual_id(db, SYSTEM, resident_id=resident.id)
        started = identity.start_login(db, identifier=vid.number, channel="sms", locale="en", client_ip=None,
                                       rules=RULES)
        outcome = identity.check_login_code(db, challenge_id=started.challenge_id,
                                            code=last_code(db, "+85512345678"), rules=RULES)
        assert outcome.resident_id == resident.id
        civil.revoke_virtual_id(db, SYSTEM, number=vid.number)
        revoked = identity.start_login(db, identifier=vid.number, channel="sms", locale="en", client_ip=None,
                                       rules=RULES)
        with pytest.raises(ValidationFailed):
            identity.check_login_code(db, challenge_id=revoked.challenge_id, code=last_code(db, "+85512345678"),
                                      rules=RULES)

    def test_an_unknown_number_looks_the_same_and_never_opens(self, db: Session) -> None:
        started = identity.start_login(db, identifier=civil.generate_nin(), channel="sms", locale="en",
                                       client_ip=None, rules=RULES)
        assert started.channel == "sms"
        with pytest.raises(ValidationFailed) as refused:
            identity.check_login_code(db, challenge_id=started.challenge_id, code="000000", rules=RULES)
        assert reason_of(refused) == "wrong_code"

    def test_brute_force_spends_the_code_then_locks_the_person_out_and_is_audited(self, db: Session) -> None:
        resident = make_citizen(db)
        reasons = []
        for _round in range(2):
            started = start(db, resident)
            for _guess in range(3):
                with pytest.raises(ValidationFailed) as wrong:
                    identity.check_login_code(db, challenge_id=started.challenge_id, code="999999", rules=RULES)
                reasons.append(reason_of(wrong))
        # three guesses spend a code; the fifth wrong code in a row locks the person out
        assert reasons == ["wrong_code", "wrong_code", "spent", "wrong_code", "locked", "locked"]
        # Locked: even the right code of a new challenge is refused, and no new code is sent.
        with pytest.raises(TooManyRequests):
            start(db, resident)
        refusals = audit.list_entries(db, SYSTEM, subject_type="civil_resident", subject_id=str(resident.id),
                                      limit=50).items
        assert sum(e.action == "citizen.sign_in_refused" for e in refusals) == 7
        assert any((e.after or {}).get("locked_until") for e in refusals)

    def test_codes_per_hour_and_starts_per_address_are_limited(self, db: Session) -> None:
        resident = make_citizen(db)
        for _ in range(RULES.codes_per_hour):
            identity.start_login(db, identifier=resident.nin or "", channel="sms", locale="en", client_ip=None,
                                 rules=RULES)
        with pytest.raises(TooManyRequests):
            identity.start_login(db, identifier=resident.nin or "", channel="sms", locale="en", client_ip=None,
                                 rules=RULES)
        for _ in range(RULES.logins_per_minute):
            identity.start_login(db, identifier=civil.generate_nin(), channel="sms", locale="en",
                                 client_ip="10.9.9.9", rules=RULES)
        with pytest.raises(TooManyRequests):
            identity.start_login(db, identifier=civil.generate_nin(), channel="sms", locale="en",
                                 client_ip="10.9.9.9", rules=RULES)

    def test_the_code_is_stored_only_as_a_keyed_hash(self, db: Session) -> None:
        resident = make_citizen(db)
        started = start(db, resident)
        code = last_code(db, "+85512345678")
        row = db.scalars(select(LoginChallenge).where(LoginChallenge.id == started.challenge_id)).one()
        assert code not in row.code_hash and len(row.code_hash) == 64


class TestTotp:
    def test_totp_is_asked_after_the_code_once_turned_on(self, db: Session) -> None:
        resident = make_citizen(db)
        _token, citizen = identity.open_session(db, resident_id=resident.id, methods=["otp"], rules=RULES)
        secret = identity.new_totp_secret()
        with pytest.raises(ValidationFailed):
            identity.enable_totp(db, citizen, secret=secret, code="000000")
        identity.enable_totp(db, citizen, secret=secret, code=pyotp.TOTP(secret).now())
        started = start(db, resident)
        outcome = identity.check_login_code(db, challenge_id=started.challenge_id,
                                            code=last_code(db, "+85512345678"), rules=RULES)
        assert outcome.needs_totp
        with pytest.raises(ValidationFailed):
            identity.check_login_totp(db, challenge_id=started.challenge_id, code="123456", rules=RULES)
        assert identity.check_login_totp(db, challenge_id=started.challenge_id, code=pyotp.TOTP(secret).now(),
                                         rules=RULES) == resident.id


class TestPages:
    def test_sign_in_my_data_and_sign_out(self, client: TestClient, db: Session) -> None:
        resident = make_citizen(db)
        db.commit()
        assert client.get("/my", headers=HTML, follow_redirects=False).headers["location"].startswith("/my/login")
        assert sign_in(client, db, resident) == "/my"
        page = client.get("/my", headers=HTML)
        assert page.status_code == 200 and "សុភា" in page.text and (resident.nin or "") in page.text
        logout = client.post("/my/logout", headers=HTML, follow_redirects=False,
                             data={"csrf_token": csrf_from(page.text)})
        assert logout.status_code == 303
        assert client.get("/my", headers=HTML, follow_redirects=False).status_code == 303

    def test_a_wrong_code_is_shown_beside_the_field_and_counted(self, client: TestClient, db: Session) -> None:
        resident = make_citizen(db)
        db.commit()
        page = client.get("/my/login", headers=HTML)
        started = client.post("/my/login", headers=HTML, data={"csrf_token": csrf_from(page.text),
                                                               "identifier": resident.nin, "channel": "sms"})
        challenge = re.search(r'name="challenge" value="([^"]+)"', started.text)
        assert challenge
        wrong = client.post("/my/login/code", headers=HTML, data={
            "csrf_token": csrf_from(started.text), "challenge": challenge.group(1), "code": "000001"})
        assert wrong.status_code == 422 and "not right" in wrong.text
        db.expire_all()
        row = db.get(LoginChallenge, uuid.UUID(challenge.group(1)))
        assert row is not None and row.attempts == 1

    def test_bad_identifier_is_shown_in_khmer(self, client: TestClient) -> None:
        page = client.get("/my/login?lang=km", headers=HTML)
        bad = client.post("/my/login?lang=km", headers=HTML, data={"csrf_token": csrf_from(page.text),
                                                                   "identifier": "abc", "channel": "sms"})
        assert bad.status_code == 422 and 'lang="km"' in bad.text
