"""Nokor's own domains publish their APIs through the gateway: a registry read by another agency's
system goes through /r1/..., is allowed by an exchange access right, keeps the registry's own checks
and lands in the message log."""

from __future__ import annotations

from tests.conftest import issue_key
from tests.identity.factories import make_citizen
from tests.registries.factories import business, make_registry

from nokor import accounts, audit, exchange, registries
from nokor.exchange.demo import load_demo
from nokor.exchange.messagelog import wait_until_written
from nokor.exchange.models import LogRecord
from nokor.kit.actor import Actor

SYSTEM = Actor.system("tests")
HOSPITAL = "KH/GOV/MOH/hospital-registry"
SERVICE = "KH/GOV/NOKOR/registries/registries"


def test_a_registry_read_through_the_gateway(client, db, app):
    make_registry(db)
    registries.create_record(db, SYSTEM, name="sme", data=business(1))
    key = issue_key(db, permissions=["registries.read"], identity=HOSPITAL)
    exchange.publish_internal_service(db, SYSTEM, subsystem="KH/GOV/NOKOR/registries", code="registries",
                                      title="Registry reads", path_prefix="/govstack/registries",
                                      endpoints=[{"method": "GET", "path": "/data/**"}])
    db.commit()
    path = f"/r1/{SERVICE}/data/sme/1.0?query.province=Siem%20Reap"
    headers = {"Authorization": f"Bearer {key}", "X-Road-Client": HOSPITAL}
    denied = client.get(path, headers=headers)
    assert denied.status_code == 403 and denied.json()["code"] == "Server.ServerProxy.AccessDenied"
    exchange.grant_access(db, SYSTEM, data=exchange.AccessRightCreate(service=SERVICE, subject=HOSPITAL,
                                                                      method="GET", path="/data/**"))
    db.commit()
    # the exchange lets it through; the registry still wants its own grant
    assert client.get(path, headers=headers).status_code == 403
    registries.grant_access(db, SYSTEM, name="sme", client_identity=HOSPITAL)
    db.commit()
    answer = client.get(path, headers=headers)
    assert answer.status_code == 200, answer.text
    assert "Angkor Rice Mill 1" in answer.text
    assert answer.headers["x-road-service"] == SERVICE
    wait_until_written(app.state.exchange.log)
    db.expire_all()
    logged = [r for r in db.query(LogRecord) if r.service == SERVICE]
    assert [r.status for r in logged] == [403, 403, 200]
    writes = client.post(f"/r1/{SERVICE}/data/sme/1.0/create", headers=headers,
                         json={"write": {"content": business(2)}})
    assert writes.status_code == 403 and writes.json()["code"] == "Server.ServerProxy.AccessDenied"


def test_an_agency_verifies_an_identity_through_the_gateway_and_the_person_sees_who_asked(client, db, app):
    load_demo(db)  # publishes identity verification as KH/GOV/NOKOR/identity/verify for the demo bank
    resident = make_citizen(db)
    bank = "KH/BANK/TONLE/kyc"
    key = accounts.create_api_client(db, SYSTEM, data=accounts.ApiClientCreate(
        name="Tonle Bank", identity=bank, permissions=["identity.verify"])).api_key
    db.commit()
    path = "/r1/KH/GOV/NOKOR/identity/verify/verify"
    body = {"individual_id": resident.nin, "name": "Sophea Chan", "birth_date": "1992-04-09"}
    answer = client.post(path, json=body, headers={"Authorization": f"Bearer {key}", "X-Road-Client": bank})
    assert answer.status_code == 200, answer.text
    assert answer.json()["match"] is True and set(answer.json()) == {"transaction_id", "match"}
    assert answer.headers["x-road-service"] == "KH/GOV/NOKOR/identity/verify"
    db.expire_all()
    log = audit.list_entries(db, SYSTEM, subject_type="civil_resident", subject_id=str(resident.id),
                             category="access").items
    entry = next(e for e in log if answer.json()["transaction_id"] in (e.reason or ""))
    assert entry.actor_kind == "client" and entry.after == {"fields": ["birth_date", "name"]}
    assert entry.actor_name == "Tonle Bank"  # what the person reads under "My data": who asked
    # another agency, or another path of the service, is refused by the exchange before identity sees it
    other = issue_key(db, permissions=["identity.verify"], identity="KH/GOV/MOH/hospital-registry")
    db.commit()
    refused = client.post(path, json=body, headers={"Authorization": f"Bearer {other}"})
    assert refused.status_code == 403 and refused.json()["code"] == "Server.ServerProxy.AccessDenied"
    refused = client.post("/r1/KH/GOV/NOKOR/identity/verify/ekyc", json={},
                          headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403 and refused.json()["code"] == "Server.ServerProxy.AccessDenied"
    wait_until_written(app.state.exchange.log)
    db.expire_all()
    logged = [(r.client, r.status) for r in db.query(LogRecord) if r.service == "KH/GOV/NOKOR/identity/verify"]
    assert logged == [(bank, 200), ("KH/GOV/MOH/hospital-registry", 403), (bank, 403)]
