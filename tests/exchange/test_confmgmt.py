"""GovStack IM Configuration Management API over the directory: status, configuration, access rights listed
page by page, allowed and denied, in the newest spelling and in the branch-1.0-QA one, with the permission of
the administration API."""

from __future__ import annotations

import pytest
from tests.conftest import issue_key
from tests.exchange.conftest import SYSTEM

from nokor import audit, exchange

NEW = "/govstack/im/api/v1"
QA = "/govstack/im/qa/api/v1"
HOSPITAL = "KH/GOV/MOH/hospital"
BANK = "KH/BANK/TONLE/kyc"


@pytest.fixture
def directory(db):  # type: ignore[no-untyped-def]
    exchange.ensure_subsystem(db, SYSTEM, identifier="KH/GOV/MOI/population", name="Population register")
    for identifier, name in ((HOSPITAL, "Hospital"), (BANK, "Tonle Bank")):
        exchange.ensure_subsystem(db, SYSTEM, identifier=identifier, name=name)
    for code in ("persons", "addresses"):
        exchange.publish_service(db, SYSTEM, data=exchange.ServiceCreate(
            subsystem="KH/GOV/MOI/population", code=code, title=code, base_url="http://127.0.0.1:9/api"))
    exchange.grant_access(db, SYSTEM, data=exchange.AccessRightCreate(
        service="KH/GOV/MOI/population/persons", subject=HOSPITAL))
    exchange.grant_access(db, SYSTEM, data=exchange.AccessRightCreate(
        service="KH/GOV/MOI/population/persons", subject=BANK, method="GET", path="/persons/*"))
    db.commit()


@pytest.fixture
def admin(db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    key = issue_key(db, permissions=["exchange.manage"])
    db.commit()
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("prefix", [NEW, QA])
def test_every_endpoint_wants_the_administrators_permission(client, db, directory, prefix):  # type: ignore[no-untyped-def]
    nobody = {"Authorization": f"Bearer {issue_key(db, permissions=['registries.read'])}"}
    db.commit()
    for method, path in (("GET", "/status"), ("GET", "/config"), ("GET", "/rights/allow"),
                         ("PATCH", "/rights/allow"), ("PATCH", "/rights/deny")):
        kwargs = {"json": []} if method == "PATCH" else {}
        anonymous = client.request(method, prefix + path, **kwargs)
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        refused = client.request(method, prefix + path, headers=nobody, **kwargs)
        assert refused.status_code == 403, (method, path)
        assert refused.headers["content-type"].startswith("application/problem+json")


def test_status_counts_the_instance(client, directory, admin):  # type: ignore[no-untyped-def]
    for prefix in (NEW, QA):
        body = client.get(prefix + "/status", headers=admin).json()
        assert body["status"] == "OK" and body["instance"] == "KH"
        assert body["services"] == 2 and body["accessRights"] == 2 and body["applications"] == 3


def test_the_configuration_names_members_applications_services_and_rights(client, directory, admin):  # type: ignore[no-untyped-def]
    body = client.get(NEW + "/config", headers=admin).json()
    assert body["instance"] == "KH" and body["domain"]
    moi = next(m for m in body["members"] if m["code"] == "MOI")
    assert moi["class"] == "GOV"
    population = next(a for a in moi["applications"] if a["id"] == "population")
    persons = next(s for s in population["services"] if s["id"] == "persons")
    assert persons["serviceUrl"] == "http://127.0.0.1:9/api"
    assert persons["specUrl"] == "/r1/KH/GOV/MOI/population/getOpenAPI?serviceCode=persons"
    assert {(r["member"], r["application"]) for r in persons["rights"]} == {("MOH", "hospital"), ("TONLE", "kyc")}
    qa = client.get(QA + "/config", headers=admin).json()
    qa_persons = next(s for m in qa["members"] if m["code"] == "MOI" for a in m["applications"]
                      for s in a["services"] if s["id"] == "persons")
    assert qa_persons["service_url"] == "http://127.0.0.1:9/api" and "spec_url" in qa_persons


def test_rights_are_listed_page_by_page_and_filtered(client, directory, admin):  # type: ignore[no-untyped-def]
    first = client.get(NEW + "/rights/allow", params={"pageSize": 1}, headers=admin).json()
    assert len(first["allowList"]) == 1 and first["nextPageToken"]
    seen = [(i["serviceId"], r.get("applicationId")) for i in first["allowList"] for r in i["rights"] or [{}]]
    token = first["nextPageToken"]
    while token:
        following = client.get(NEW + "/rights/allow", params={"pageSize": 1, "nextPageToken": token},
                               headers=admin).json()
        seen += [(i["serviceId"], r.get("applicationId")) for i in following["allowList"] for r in i["rights"] or [{}]]
        token = following.get("nextPageToken")
    # (service, application) pairs, a service without rights counted once
    assert sorted(seen) == [("addresses", None), ("persons", "hospital"), ("persons", "kyc")]
    only = client.get(NEW + "/rights/allow", params={"serviceId": "persons"}, headers=admin).json()
    assert [i["serviceId"] for i in only["allowList"]] == ["persons"] and "nextPageToken" not in only
    assert {"memberClass": "GOV", "memberCode": "MOH", "applicationId": "hospital"} in only["allowList"][0]["rights"]
    qa = client.get(QA + "/rights/allow", params={"service_id": "persons", "page_size": 1}, headers=admin).json()
    assert qa["allow_list"][0]["service_id"] == "persons" and qa["next_page_token"]
    bad = client.get(NEW + "/rights/allow", params={"nextPageToken": "not-a-token"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/query/nextPageToken"
    assert client.get(NEW + "/rights/allow", params={"pageSize": 0}, headers=admin).status_code == 422


def test_allow_then_deny_changes_who_may_call(client, db, app, directory, admin):  # type: ignore[no-untyped-def]
    change = [{"memberClass": "GOV", "memberCode": "MOI", "applicationId": "population", "serviceId": "addresses",
               "rights": [{"memberClass": "BANK", "memberCode": "TONLE", "applicationId": "kyc"}]}]
    allowed = client.patch(NEW + "/rights/allow", json=change, headers=admin)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["allowList"][0]["rights"] == [{"memberClass": "BANK", "memberCode": "TONLE",
                                                         "applicationId": "kyc"}]
    db.expire_all()
    assert [(r.subject, r.method, r.path) for r in
            exchange.list_access_rights(db, service="KH/GOV/MOI/population/addresses")] == [(BANK, "*", "*")]
    db.rollback()  # SQLite: the test's read must not hold the database while the app writes
    # the spelling the specification's required fields use (member, application) works too
    denied = client.patch(NEW + "/rights/deny", json=[
        {**change[0], "rights": [{"memberClass": "BANK", "member": "TONLE", "application": "kyc"}]},
        {**change[0], "serviceId": "persons", "rights": [{"memberClass": "BANK", "member": "TONLE",
                                                          "application": "kyc"}]}], headers=admin)
    assert denied.status_code == 200, denied.text
    db.expire_all()
    assert exchange.list_access_rights(db, service="KH/GOV/MOI/population/addresses") == []
    assert [r.subject for r in exchange.list_access_rights(db, service="KH/GOV/MOI/population/persons")] == [HOSPITAL]
    trail = audit.list_entries(db, SYSTEM, category="change", limit=50).items
    assert {e.action for e in trail} >= {"exchange.access.grant", "exchange.access.revoke"}


def test_qa_spelling_allows_and_denies(client, db, directory, admin):  # type: ignore[no-untyped-def]
    change = [{"member_class": "GOV", "member_code": "MOI", "application_id": "population", "service_id": "addresses",
               "rights": [{"member_class": "GOV", "member_code": "MOH", "application_id": "hospital"}]}]
    allowed = client.patch(QA + "/rights/allow", json=change, headers=admin)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["allow_list"][0]["rights"] == [{"member_class": "GOV", "member_code": "MOH",
                                                          "application_id": "hospital"}]
    assert client.patch(QA + "/rights/deny", json=change, headers=admin).status_code == 200
    db.expire_all()
    assert exchange.list_access_rights(db, service="KH/GOV/MOI/population/addresses") == []


def test_bad_changes_are_problems_and_change_nothing(client, db, directory, admin):  # type: ignore[no-untyped-def]
    unknown = [{"memberClass": "GOV", "memberCode": "MOI", "applicationId": "population", "serviceId": "taxes",
                "rights": [{"memberClass": "GOV", "memberCode": "MOH", "applicationId": "hospital"}]}]
    for path in ("/rights/allow", "/rights/deny"):
        answer = client.patch(NEW + path, json=unknown, headers=admin)
        assert answer.status_code in (404, 422), answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    incomplete = [{"memberClass": "GOV", "memberCode": "MOI", "applicationId": "population", "serviceId": "addresses",
                   "rights": [{"memberClass": "GOV", "memberCode": "MOH"}]}]
    answer = client.patch(NEW + "/rights/allow", json=incomplete, headers=admin)
    assert answer.status_code == 422 and answer.json()["errors"][0]["code"] == "bad_application"
    assert client.patch(NEW + "/rights/allow", json=[{"serviceId": "x"}], headers=admin).status_code == 422
    db.expire_all()
    assert exchange.list_access_rights(db, service="KH/GOV/MOI/population/addresses") == []
