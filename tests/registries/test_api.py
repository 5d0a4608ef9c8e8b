"""Nokor's registry API as agency systems call it: records, optimistic locking, history, export, import."""

from __future__ import annotations

import csv
import io
import json

from tests.conftest import issue_key
from tests.registries.factories import SME_SCHEMA, SYSTEM, business, make_registry

from nokor import registries


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def writer_key(db, *, identity: str = "KH/GOV/MOC/sme-portal", registry: str = "sme") -> str:
    key = issue_key(db, permissions=["registries.read", "registries.write"], identity=identity)
    registries.grant_access(db, SYSTEM, name=registry, client_identity=identity, can_write=True)
    return key


class TestRegistryDefinition:
    def test_define_publish_and_get_the_generated_openapi(self, client, db):
        key = issue_key(db, permissions=["registries.manage", "registries.read"])
        db.commit()
        created = client.post("/api/v1/registries", headers=auth(key), json={
            "name": "schools", "title": {"en": "Schools", "km": "សាលារៀន"}, "json_schema": {
                "type": "object", "properties": {"name": {"type": "string", "x-searchable": True}}}})
        assert created.status_code == 201, created.text
        assert created.json()["state"] == "draft"
        published = client.post("/api/v1/registries/schools/publish", headers=auth(key))
        assert published.status_code == 200 and published.json()["state"] == "published"
        document = client.get("/api/v1/registries/schools/versions/1.0/openapi.json", headers=auth(key))
        assert document.status_code == 200
        body = document.json()
        assert body["openapi"] == "3.1.0"
        assert body["components"]["schemas"]["Record"]["properties"]["name"]["type"] == "string"
        assert "/govstack/registries/data/schools/1.0/create" in body["paths"]

    def test_a_malformed_schema_is_refused_with_the_path_of_the_problem(self, client, db):
        key = issue_key(db, permissions=["registries.manage"])
        db.commit()
        client.post("/api/v1/registries", headers=auth(key), json={
            "name": "broken", "title": {"en": "Broken"},
            "json_schema": {"type": "object", "properties": {"n": {"type": 5}}}})
        answer = client.post("/api/v1/registries/broken/publish", headers=auth(key))
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"][0]["pointer"].startswith("/json_schema")

    def test_unknown_registry_and_version_are_404(self, client, db):
        make_registry(db)
        key = issue_key(db, permissions=["registries.read", "registries.manage"])
        db.commit()
        assert client.get("/api/v1/registries/nothing", headers=auth(key)).status_code == 404
        assert client.get("/api/v1/registries/sme/versions/7.0", headers=auth(key)).status_code == 404


class TestRecordsApi:
    def test_create_with_schema_violations_gives_422_with_json_paths(self, client, db):
        make_registry(db)
        key = writer_key(db)
        db.commit()
        answer = client.post("/api/v1/registries/sme/records", headers=auth(key),
                             json={"data": business(employees="many", province=None)})
        assert answer.status_code == 422
        assert {"/data/employees", "/data/province"} <= {e["pointer"] for e in answer.json()["errors"]}

    def test_update_with_a_stale_revision_gives_409(self, client, db):
        make_registry(db)
        key = writer_key(db)
        db.commit()
        created = client.post("/api/v1/registries/sme/records", headers=auth(key), json={"data": business()}).json()
        url = f"/api/v1/registries/sme/records/{created['id']}"
        first = client.patch(url, headers=auth(key), json={"data": {"employees": 50}, "revision": 1})
        assert first.status_code == 200 and first.json()["revision"] == 2
        stale = client.patch(url, headers={**auth(key), "If-Match": '"1"'}, json={"data": {"employees": 60}})
        assert stale.status_code == 409
        assert stale.headers["content-type"] == "application/problem+json"

    def test_history_and_diff_between_versions(self, client, db):
        make_registry(db)
        key = writer_key(db)
        db.commit()
        created = client.post("/api/v1/registries/sme/records", headers=auth(key),
                              json={"data": business(), "reason": "registration"}).json()
        url = f"/api/v1/registries/sme/records/{created['id']}"
        client.patch(url, headers=auth(key), json={"data": {"province": "Kep"}, "reason": "moved"})
        history = client.get(url + "/history", headers=auth(key)).json()
        assert [(h["revision"], h["reason"], h["data"]["province"]) for h in history] == [
            (1, "registration", "Siem Reap"), (2, "moved", "Kep")]
        assert "owner_name" not in history[0]["data"]
        diff = client.get(url + "/diff?from=1&to=2", headers=auth(key)).json()
        assert diff["changes"] == [{"field": "province", "change": "changed", "before": "Siem Reap",
                                    "after": "Kep"}]

    def test_personal_data_needs_a_purpose_and_is_logged(self, client, db):
        make_registry(db)
        key = writer_key(db)
        record = registries.create_record(db, SYSTEM, name="sme", data=business())
        db.commit()
        url = f"/api/v1/registries/sme/records/{record.id}"
        plain = client.get(url, headers=auth(key)).json()
        assert "owner_name" not in plain["data"] and "owner_name" in plain["withheld_fields"]
        shown = client.get(url + "?purpose=licence+renewal", headers=auth(key)).json()
        assert shown["data"]["owner_name"] == "Sok Dara"
        usage = client.get("/api/v1/registries/sme/personal-data-usage?subject_id=KH000000001",
                           headers=auth(key)).json()
        assert [(u["reader_name"], u["purpose"]) for u in usage] == [("Test system", "licence renewal")]

    def test_search_with_filters_and_cursor(self, client, db):
        make_registry(db)
        key = writer_key(db)
        for n in range(1, 6):
            registries.create_record(db, SYSTEM, name="sme", data=business(n, province="Kampot" if n < 4 else "Kep"))
        db.commit()
        first = client.get("/api/v1/registries/sme/records?f.province=kampot&sort=-employees&limit=2",
                           headers=auth(key)).json()
        assert [r["data"]["employees"] for r in first["items"]] == [13, 12]
        rest = client.get(f"/api/v1/registries/sme/records?f.province=kampot&sort=-employees&limit=2"
                          f"&cursor={first['next_cursor']}", headers=auth(key)).json()
        assert [r["data"]["employees"] for r in rest["items"]] == [11] and rest["next_cursor"] is None
        bad = client.get("/api/v1/registries/sme/records?f.owner_name=x", headers=auth(key))
        assert bad.status_code == 422


class TestAccess:
    def test_a_client_without_access_to_the_registry_gets_403(self, client, db):
        make_registry(db)
        make_registry(db, name="other")
        granted = writer_key(db, identity="KH/GOV/MOC/a", registry="other")
        db.commit()
        answer = client.get("/api/v1/registries/sme/records", headers=auth(granted))
        assert answer.status_code == 403
        assert client.get("/api/v1/registries/other/records", headers=auth(granted)).status_code == 200
        assert [r["name"] for r in client.get("/api/v1/registries", headers=auth(granted)).json()] == ["other"]

    def test_read_only_grant_cannot_write(self, client, db):
        make_registry(db)
        key = issue_key(db, permissions=["registries.read", "registries.write"], identity="KH/GOV/X/reader")
        registries.grant_access(db, SYSTEM, name="sme", client_identity="KH/GOV/X/reader")
        db.commit()
        answer = client.post("/api/v1/registries/sme/records", headers=auth(key), json={"data": business()})
        assert answer.status_code == 403


class TestImportExportApi:
    def test_import_is_all_or_nothing_and_reports_each_bad_row(self, client, db):
        make_registry(db)
        key = writer_key(db)
        db.commit()
        lines = [json.dumps(business(1)), json.dumps(business(2, employees=-5)), json.dumps(business(3))]
        answer = client.post("/api/v1/registries/sme/import?format=jsonl", headers=auth(key),
                             content="\n".join(lines).encode())
        assert answer.status_code == 422
        assert [e["pointer"] for e in answer.json()["errors"]] == ["/rows/2/employees"]
        assert registries.count_records(db, SYSTEM, name="sme") == 0
        db.rollback()
        skipped = client.post("/api/v1/registries/sme/import?format=jsonl&skip_invalid=true", headers=auth(key),
                              content="\n".join(lines).encode())
        assert skipped.status_code == 200 and skipped.json()["written"] == 2 and skipped.json()["rejected"] == 1

    def test_export_streams_csv_and_jsonl_without_personal_data_unless_a_purpose_is_given(self, client, db):
        make_registry(db)
        key = writer_key(db)
        for n in range(1, 4):
            registries.create_record(db, SYSTEM, name="sme", data=business(n))
        db.commit()
        exported = client.get("/api/v1/registries/sme/export.csv", headers=auth(key))
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [r["registration_number"] for r in rows] == ["00000001", "00000002", "00000003"]
        assert "owner_name" not in rows[0]
        full = client.get("/api/v1/registries/sme/export.jsonl?purpose=statistics", headers=auth(key))
        assert [json.loads(line)["owner_name"] for line in full.text.splitlines()] == ["Sok Dara"] * 3

    def test_export_parquet(self, client, db):
        import pyarrow.parquet as pq

        make_registry(db)
        key = writer_key(db)
        registries.create_record(db, SYSTEM, name="sme", data=business(1))
        db.commit()
        exported = client.get("/api/v1/registries/sme/export.parquet", headers=auth(key))
        assert exported.status_code == 200
        table = pq.read_table(io.BytesIO(exported.content))
        assert table.column("employees").to_pylist() == [11]
        assert set(table.column_names) == set(SME_SCHEMA["properties"]) - {"owner_name", "owner_national_id"}
