"""The GovStack Digital Registries Data API and Database API, in both path spellings."""

from __future__ import annotations

import pytest
from tests.conftest import issue_key
from tests.registries.factories import SME_SCHEMA, SYSTEM, business, make_registry

from nokor import registries

IDENTITY = "KH/GOV/MOC/sme-portal"
BASE = "/govstack/registries"
SPELLINGS = {
    "1.3.0": {"update_entries": "updateEntries", "update_or_create": "updateOrCreate", "read_value": "readValue",
              "usage": "/data/myPersonalDataUsage?userId={user}&databaseId={db}", "page_size": "pageSize",
              "create_entries": "/data/{db}/createEntries"},
    "QA": {"update_entries": "update-entries", "update_or_create": "update-or-create", "read_value": "read-value",
           "usage": "/data/MyPersonalDataUsage/1.0?userID={user}&DatabaseID={db}", "page_size": "page_size",
           "create_entries": "/data/{db}/1.0/create-entries"},
}


@pytest.fixture
def headers(db) -> dict[str, str]:
    make_registry(db)
    key = issue_key(db, permissions=["registries.read", "registries.write", "registries.manage"], identity=IDENTITY)
    registries.grant_access(db, SYSTEM, name="sme", client_identity=IDENTITY, can_write=True)
    db.commit()
    return {"Authorization": key, "Information-Mediator-Client": IDENTITY}


def create(client, headers, number: int, **overrides):
    answer = client.post(f"{BASE}/data/sme/1.0/create", headers=headers,
                         json={"write": {"content": business(number, **overrides)}})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
class TestDataApi:
    def test_create_read_exists_and_list(self, client, headers, spelling):
        names = SPELLINGS[spelling]
        created = create(client, headers, 1)
        assert created["content"]["name"] == "Angkor Rice Mill 1"
        create(client, headers, 2, province="Kampot")
        read = client.post(f"{BASE}/data/sme/1.0/read", headers=headers,
                           json={"query": {"content": {"registration_number": "00000002"}}})
        assert read.status_code == 200 and read.json()["content"]["province"] == "Kampot"
        missing = client.post(f"{BASE}/data/sme/1.0/read", headers=headers,
                              json={"query": {"content": {"registration_number": "99999999"}}})
        assert missing.status_code == 404 and missing.json() == {"detail": "no record found"}
        exists = client.post(f"{BASE}/data/sme/1.0/exists", headers=headers,
                             json={"query": {"content": {"province": "Siem Reap"}}})
        assert exists.json()["answer"]["status"] is True
        listed = client.get(f"{BASE}/data/sme/1.0?query.province=Kampot&{names['page_size']}=1", headers=headers)
        assert listed.status_code == 200
        assert listed.json()["count"] == 1 and listed.json()["results"][0]["registration_number"] == "00000002"
        paged = client.get(f"{BASE}/data/sme/1.0?{names['page_size']}=1&ordering=descending", headers=headers).json()
        assert paged["count"] == 2 and paged["next"] and paged["results"][0]["registration_number"] == "00000002"

    def test_update_update_entries_and_update_or_create(self, client, headers, spelling):
        names = SPELLINGS[spelling]
        create(client, headers, 1, province="Kep")
        create(client, headers, 2, province="Kep")
        updated = client.put(f"{BASE}/data/sme/1.0/update", headers=headers, json={
            "query": {"content": {"registration_number": "00000001"}}, "write": {"content": {"employees": 99}}})
        assert updated.status_code == 200
        many = client.put(f"{BASE}/data/sme/1.0/{names['update_entries']}", headers=headers, json={
            "query": {"content": {"province": "Kep"}}, "write": {"content": {"active": False}}})
        assert many.status_code == 200 and many.json()["count"] == 2
        made = client.post(f"{BASE}/data/sme/1.0/{names['update_or_create']}", headers=headers, json={
            "query": {"content": {"registration_number": "00000003"}},
            "write": {"content": {**business(3), "employees": 7}}})
        assert made.status_code == 200 and made.json()["created"] is True
        again = client.post(f"{BASE}/data/sme/1.0/{names['update_or_create']}", headers=headers, json={
            "query": {"content": {"registration_number": "00000003"}}, "write": {"content": {"employees": 8}}})
        assert again.json()["created"] is False and again.json()["content"]["employees"] == 8
        invalid = client.put(f"{BASE}/data/sme/1.0/{names['update_entries']}", headers=headers, json={
            "query": {"content": {"province": "Kep"}}, "write": {"content": {"employees": "lots"}}})
        assert invalid.status_code == 422
        assert invalid.json()["errors"][0]["pointer"] == "/write/content/employees"

    def test_read_value_and_delete(self, client, headers, spelling):
        names = SPELLINGS[spelling]
        created = create(client, headers, 1)
        as_json = client.get(f"{BASE}/data/sme/1.0/{created['id']}/{names['read_value']}/province.json",
                             headers=headers)
        assert as_json.json() == {"value": "Siem Reap"}
        by_key = client.get(f"{BASE}/data/sme/1.0/00000001/{names['read_value']}/employees.txt", headers=headers)
        assert by_key.text == "11"
        gone = client.delete(f"{BASE}/data/sme/1.0/{created['id']}/delete", headers=headers)
        assert gone.status_code == 204
        assert client.post(f"{BASE}/data/sme/1.0/exists", headers=headers, json={
            "query": {"content": {"registration_number": "00000001"}}}).json()["answer"]["status"] is False

    def test_create_entries(self, client, headers, spelling):
        path = SPELLINGS[spelling]["create_entries"].format(db="sme")
        answer = client.post(BASE + path, headers=headers,
                             json={"write": [{"content": business(1)}, {"content": business(2)}]})
        assert answer.status_code == 200 and len(answer.json()["ids"]) == 2

    def test_my_personal_data_usage(self, client, headers, spelling):
        create(client, headers, 1)
        client.post(f"{BASE}/data/sme/1.0/read?purpose=loan+check", headers=headers,
                    json={"query": {"content": {"registration_number": "00000001"}}})
        path = SPELLINGS[spelling]["usage"].format(user="KH000000001", db="sme")
        usage = client.get(BASE + path, headers=headers)
        assert usage.status_code == 200
        assert [(u["readerApplicationName"], u["purpose"]) for u in usage.json()] == [("Test system", "loan check")]
        if spelling == "1.3.0":  # the spec's path spells it "mypersonalDataUsage"
            exact = client.get(f"{BASE}/data/mypersonalDataUsage?userId=KH000000001&databaseId=sme", headers=headers)
            assert exact.status_code == 200 and exact.json() == usage.json()


class TestGovStackAccess:
    def test_the_information_mediator_header_is_required_and_must_match(self, client, headers):
        without = {"Authorization": headers["Authorization"]}
        assert client.get(f"{BASE}/data/sme/1.0", headers=without).status_code == 400
        spoofed = {**headers, "Information-Mediator-Client": "KH/GOV/MOI/police"}
        assert client.get(f"{BASE}/data/sme/1.0", headers=spoofed).status_code == 403

    def test_a_client_without_a_grant_gets_403(self, client, db, headers):
        key = issue_key(db, permissions=["registries.read"], identity="KH/GOV/MOH/clinic")
        db.commit()
        answer = client.get(f"{BASE}/data/sme/1.0", headers={"Authorization": key,
                                                            "Information-Mediator-Client": "KH/GOV/MOH/clinic"})
        assert answer.status_code == 403

    def test_unknown_registry_or_version_is_404(self, client, headers):
        assert client.get(f"{BASE}/data/nothing/1.0", headers=headers).status_code == 404
        assert client.get(f"{BASE}/data/sme/4.0", headers=headers).status_code == 404


class TestDatabaseApi:
    def test_databases_database_modify_and_delete(self, client, headers):
        listed = client.get(f"{BASE}/databases", headers=headers).json()
        sme = next(d for d in listed["databases"] if d["name"] == "sme")
        assert {t["name"] for t in sme["schemaTags"]} == {"registration_number", "name", "province", "employees"}
        one = client.get(f"{BASE}/database/{sme['id']}", headers=headers).json()
        assert one["fieldsUniques"] == [["registration_number"]] and one["isDraft"] is False
        for body in ({"groupName": "Health", "catalogName": "Clinics", "code": "clinics"},
                     {"group_name": "Health", "catalog_name": "Clinics", "code": "clinics"}):
            modified = client.post(f"{BASE}/database/modify", headers=headers, json={**body, "schema": {
                "type": "object", "properties": {"ID": {"type": "string", "primaryKey": True}}}})
            assert modified.status_code == 200, modified.text
        info = client.get(f"{BASE}/database/clinics", headers=headers).json()
        assert info["version"] == "2.0" and info["fieldsUniques"] == [["ID"]]
        assert client.delete(f"{BASE}/database/clinics", headers=headers).json() == "Success"
        assert client.get(f"{BASE}/database/clinics", headers=headers).json()["isArchived"] is True

    def test_the_qa_spelling_answers_in_snake_case(self, client, headers):
        qa = f"{BASE}/qa"
        listed = client.get(f"{qa}/databases", headers=headers)
        assert listed.status_code == 200
        body = listed.json()
        assert body["group_id"] == 1 and "groupId" not in body
        sme = next(d for d in body["databases"] if d["name"] == "sme")
        assert {"is_draft", "is_archived", "is_disabled", "fields_uniques", "schema_tags", "schema_flags",
                "modified_at", "by_user_name"} <= set(sme)
        assert not {"isDraft", "fieldsUniques", "schemaTags", "modifiedAt", "byUserName"} & set(sme)
        assert {"name": "name", "path": "/name", "is_fulltext": True} in sme["schema_tags"]
        # The registry's own schema keeps its spelling.
        assert sme["schema"]["properties"]["registration_number"]["x-key"] is True
        one = client.get(f"{qa}/database/{sme['id']}", headers=headers).json()
        assert one["fields_uniques"] == [["registration_number"]] and one["is_draft"] is False
        modified = client.post(f"{qa}/database/modify", headers=headers, json={
            "group_name": "Health", "catalog_name": "Clinics", "code": "clinics",
            "schema": {"type": "object", "properties": {"facility_code": {"type": "string", "primaryKey": True}}}})
        assert modified.status_code == 200, modified.text
        assert modified.json()["properties"]["facility_code"]["primaryKey"] is True
        assert client.get(f"{qa}/database/clinics", headers=headers).json()["fields_uniques"] == [["facility_code"]]
        assert client.delete(f"{qa}/database/clinics", headers=headers).json() == "Success"
        assert client.get(f"{qa}/database/clinics", headers=headers).json()["is_archived"] is True
        # The 1.3.0 spelling is unchanged beside it.
        assert client.get(f"{BASE}/database/clinics", headers=headers).json()["isArchived"] is True

    def test_the_qa_spelling_needs_the_same_credentials(self, client, headers):
        assert client.get(f"{BASE}/qa/databases", headers={"Authorization": headers["Authorization"]}
                          ).status_code == 400
        assert client.get(f"{BASE}/qa/databases").status_code == 401

    def test_modify_refuses_a_malformed_schema(self, client, headers):
        answer = client.post(f"{BASE}/database/modify", headers=headers, json={
            "code": "broken", "schema": {"type": "object", "properties": {"x": {"type": "nonsense"}}}})
        assert answer.status_code == 422
        assert SME_SCHEMA["type"] == "object"
