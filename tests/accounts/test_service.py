"""Rules of the accounts domain, through its public service functions."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.conftest import PASSWORD, SYSTEM, make_officer, make_org_unit, make_role

from nokor import accounts, audit
from nokor.accounts.models import Officer
from nokor.kit.actor import Actor
from nokor.kit.errors import Forbidden, ValidationFailed

POLICY = accounts.LoginPolicy(max_failures=3, lockout_minutes=15, rate_per_minute=50, session_hours=8)


def _sign_in(db, username, password=PASSWORD, ip="10.0.0.1"):
    return accounts.sign_in(db, username=username, password=password, client_ip=ip, user_agent="pytest",
                            policy=POLICY)


class TestCreateOfficer:
    def test_password_is_stored_as_argon2_hash(self, db):
        officer = make_officer(db, username="dara")
        row = db.get(Officer, officer.id)
        assert row.password_hash.startswith("$argon2")
        assert PASSWORD not in row.password_hash

    def test_weak_password_is_refused_beside_the_field(self, db):
        unit = make_org_unit(db)
        with pytest.raises(ValidationFailed) as caught:
            accounts.create_officer(db, SYSTEM, data=accounts.OfficerCreate(
                username="vanna", full_name="Vanna", password="vanna-123456789", org_unit_code=unit.code))
        assert caught.value.errors[0]["pointer"] == "/password"

    def test_duplicate_username_is_refused(self, db):
        unit = make_org_unit(db)
        make_officer(db, username="sokha", org_unit=unit.code)
        with pytest.raises(ValidationFailed) as caught:
            make_officer(db, username="sokha", org_unit=unit.code)
        assert caught.value.errors[0]["code"] == "username_taken"

    def test_creation_is_audited_with_after_state(self, db):
        officer = make_officer(db, username="rithy")
        page = audit.list_entries(db, SYSTEM, subject_type="officer", subject_id=str(officer.id))
        created = [e for e in page.items if e.action == "officer.create"]
        assert created and created[0].after["username"] == "rithy"
        assert "password_hash" not in created[0].after


class TestPermissionsWithinOrgUnits:
    def test_grant_covers_the_unit_and_units_below_but_not_siblings(self, db):
        ministry = make_org_unit(db, code="MIN")
        province = make_org_unit(db, code="MIN-P1", parent="MIN", kind="provincial_office")
        other = make_org_unit(db, code="OTHER")
        role = make_role(db, permissions=["accounts.manage"])
        boss = make_officer(db, username="boss", org_unit="MIN", roles=[role.code])
        from nokor.accounts.service import actor_for_officer

        acting = actor_for_officer(db, db.get(Officer, boss.id))
        assert acting.can("accounts.manage", ministry.id)
        assert acting.can("accounts.manage", province.id)
        assert not acting.can("accounts.manage", other.id)
        # …and the service refuses an officer outside the actor's units.
        with pytest.raises(Forbidden):
            accounts.create_officer(db, acting, data=accounts.OfficerCreate(
                username="outsider", full_name="Out Sider", password=PASSWORD, org_unit_code="OTHER"))
        made = accounts.create_officer(db, acting, data=accounts.OfficerCreate(
            username="insider", full_name="In Sider", password=PASSWORD, org_unit_code="MIN-P1"))
        assert made.org_unit_id == province.id

    def test_nobody_grants_a_permission_they_do_not_hold(self, db):
        make_org_unit(db, code="MIN")
        manager_role = make_role(db, code="manager", permissions=["accounts.manage"])
        auditor_role = make_role(db, code="auditor_x", permissions=["audit.read"])
        manager = make_officer(db, username="manager", org_unit="MIN", roles=[manager_role.code])
        clerk = make_officer(db, username="clerk", org_unit="MIN")
        from nokor.accounts.service import actor_for_officer

        acting = actor_for_officer(db, db.get(Officer, manager.id))
        with pytest.raises(Forbidden):
            accounts.grant_role(db, acting, officer_id=clerk.id, role_code=auditor_role.code, org_unit_code="MIN")

    def test_role_with_unknown_permission_is_refused(self, db):
        with pytest.raises(ValidationFailed) as caught:
            make_role(db, permissions=["civil.teleport"])
        assert caught.value.errors[0]["code"] == "unknown_permission"

    def test_public_actor_cannot_list_officers(self, db):
        with pytest.raises(Forbidden):
            accounts.list_officers(db, Actor.public())


class TestSignIn:
    def test_right_password_opens_a_session_that_resolves_to_the_officer(self, db):
        officer = make_officer(db, username="mealea")
        outcome = _sign_in(db, "mealea")
        assert outcome.problem is None and outcome.opened is not None
        actor, read, csrf = accounts.resolve_session(db, token=outcome.opened.token)
        assert read.id == officer.id and actor.kind == "officer" and csrf == outcome.opened.csrf_token

    def test_wrong_password_is_refused_without_saying_which_part_was_wrong(self, db):
        make_officer(db, username="mealea")
        wrong_password = _sign_in(db, "mealea", "Not-The-Password-99")
        unknown_user = _sign_in(db, "nobody-here")
        assert wrong_password.problem.status == unknown_user.problem.status == 401
        assert wrong_password.problem.detail == unknown_user.problem.detail

    def test_account_locks_after_repeated_failures_even_with_the_right_password(self, db):
        make_officer(db, username="piseth")
        for _ in range(POLICY.max_failures):
            assert _sign_in(db, "piseth", "Wrong-Password-123").problem is not None
        locked = _sign_in(db, "piseth")
        assert locked.problem is not None and locked.problem.extensions["code"] == "account_locked"
        officer = db.scalars(select(Officer).where(Officer.username == "piseth")).one()
        assert officer.locked_until is not None

    def test_unlock_lets_the_officer_in_again(self, db):
        officer = make_officer(db, username="piseth")
        for _ in range(POLICY.max_failures):
            _sign_in(db, "piseth", "Wrong-Password-123")
        accounts.unlock_officer(db, SYSTEM, officer_id=officer.id)
        assert _sign_in(db, "piseth").opened is not None

    def test_too_many_attempts_from_one_address_are_rate_limited(self, db):
        policy = POLICY.model_copy(update={"rate_per_minute": 3, "max_failures": 100})
        make_officer(db, username="bopha")
        for _ in range(3):
            accounts.sign_in(db, username="bopha", password="Wrong-Password-123", client_ip="10.9.9.9",
                             user_agent=None, policy=policy)
        limited = accounts.sign_in(db, username="bopha", password=PASSWORD, client_ip="10.9.9.9",
                                   user_agent=None, policy=policy)
        assert limited.problem is not None and limited.problem.status == 429
        other_address = accounts.sign_in(db, username="bopha", password=PASSWORD, client_ip="10.9.9.10",
                                         user_agent=None, policy=policy)
        assert other_address.opened is not None

    def test_sign_out_ends_the_session(self, db):
        make_officer(db, username="kosal")
        opened = _sign_in(db, "kosal").opened
        accounts.close_session(db, token=opened.token)
        assert accounts.resolve_session(db, token=opened.token) is None

    def test_deactivated_officer_cannot_sign_in_and_loses_open_sessions(self, db):
        officer = make_officer(db, username="kosal")
        opened = _sign_in(db, "kosal").opened
        accounts.update_officer(db, SYSTEM, officer_id=officer.id, data=accounts.OfficerUpdate(is_active=False),
                                reason="left the ministry")
        assert accounts.resolve_session(db, token=opened.token) is None
        assert _sign_in(db, "kosal").problem is not None

    def test_password_change_ends_sessions(self, db):
        officer = make_officer(db, username="kosal")
        opened = _sign_in(db, "kosal").opened
        accounts.set_officer_password(db, SYSTEM, officer_id=officer.id, password="Another-Strong-Pass-77")
        assert accounts.resolve_session(db, token=opened.token) is None
        assert _sign_in(db, "kosal", "Another-Strong-Pass-77").opened is not None


class TestApiClients:
    def test_key_is_shown_once_and_stored_only_as_a_hash(self, db):
        issued = accounts.create_api_client(db, SYSTEM, data=accounts.ApiClientCreate(
            name="Hospital", identity="KH/GOV/MOH/births", permissions=["audit.read"]))
        from nokor.accounts.models import ApiClient

        row = db.get(ApiClient, issued.client.id)
        assert issued.api_key not in row.key_hash
        actor = accounts.authenticate_api_key(db, key=issued.api_key)
        assert actor is not None and actor.identity == "KH/GOV/MOH/births" and actor.can("audit.read")

    def test_revoked_or_altered_key_no_longer_works(self, db):
        issued = accounts.create_api_client(db, SYSTEM, data=accounts.ApiClientCreate(
            name="Bank", identity="KH/COM/ABA/payments"))
        assert accounts.authenticate_api_key(db, key=issued.api_key[:-1] + "x") is None
        accounts.revoke_api_client(db, SYSTEM, client_id=issued.client.id, reason="contract ended")
        assert accounts.authenticate_api_key(db, key=issued.api_key) is None

    @pytest.mark.parametrize("identity", ["KH/GOV/MOH", "not an identity", "KH/GOV/MOH/sub/extra", "/GOV/A/B"])
    def test_malformed_identity_is_refused(self, identity):
        with pytest.raises(ValueError):
            accounts.ApiClientCreate(name="X", identity=identity)
