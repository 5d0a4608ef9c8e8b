"""The registry pages as analysts and officers use them, without JavaScript."""

from __future__ import annotations

import json

from tests.conftest import csrf_from, make_admin, make_org_unit, sign_in
from tests.registries.factories import SME_SCHEMA, SYSTEM, business, make_registry

from nokor import registries

HTML = {"accept": "text/html"}


def signed_in(client, db) -> None:
    make_admin(db, org_unit=make_org_unit(db, code="MOC").code)
    db.commit()
    sign_in(client, "admin.test")


class TestDefineAndPublish:
    def test_define_preview_and_publish_a_registry(self, client, db):
        signed_in(client, db)
        page = client.get("/registries/new", headers=HTML)
        assert page.status_code == 200 and "x-searchable" in page.text
        created = client.post("/registries/new", headers=HTML, follow_redirects=False, data={
            "csrf_token": csrf_from(page.text), "name": "schools", "title.en": "Schools", "title.km": "សាលារៀន",
            "owner_org_unit_code": "MOC",
            "json_schema": json.dumps(SME_SCHEMA)})
        assert created.status_code == 303 and created.headers["location"] == "/registries/schools/draft"
        draft = client.get("/registries/schools/draft", headers=HTML)
        assert "Business name" in draft.text
        changed = {**SME_SCHEMA, "properties": {**SME_SCHEMA["properties"],
                                                 "phone": {"type": "string", "title": "Telephone"}}}
        preview = client.post("/registries/schools/draft", headers=HTML, data={
            "csrf_token": csrf_from(draft.text), "action": "preview", "json_schema": json.dumps(changed)})
        assert preview.status_code == 200 and "Telephone" in preview.text
        assert registries.get_version(db, SYSTEM, name="schools", version="1.0").json_schema == SME_SCHEMA
        db.rollback()
        published = client.post("/registries/schools/draft", headers=HTML, follow_redirects=False, data={
            "csrf_token": csrf_from(draft.text), "action": "publish", "json_schema": json.dumps(changed)})
        assert published.status_code == 303
        db.rollback()
        assert registries.get_registry(db, SYSTEM, name="schools").current_version == "1.0"

    def test_a_malformed_schema_is_shown_and_not_published(self, client, db):
        signed_in(client, db)
        make_registry(db, name="broken", publish=False)
        db.commit()
        draft = client.get("/registries/broken/draft", headers=HTML)
        refused = client.post("/registries/broken/draft", headers=HTML, data={
            "csrf_token": csrf_from(draft.text), "action": "publish",
            "json_schema": json.dumps({"type": "object", "properties": {"a": {"type": "text"}}})})
        assert refused.status_code == 422 and "/json_schema" in refused.text
        not_json = client.post("/registries/broken/draft", headers=HTML, data={
            "csrf_token": csrf_from(draft.text), "action": "save", "json_schema": "{oops"})
        assert not_json.status_code == 422
        db.rollback()
        assert registries.get_registry(db, SYSTEM, name="broken").state == "draft"


class TestBrowse:
    def test_search_view_history_and_diff(self, client, db):
        signed_in(client, db)
        make_registry(db)
        record = registries.create_record(db, SYSTEM, name="sme", data=business(1, province="Kampot",
                                                                                owner_name="Chan Sreymom"))
        registries.create_record(db, SYSTEM, name="sme", data=business(2, province="Kep"))
        registries.update_record(db, SYSTEM, name="sme", record_id=record.id, data={"employees": 77}, merge=True,
                                 reason="annual return")
        db.commit()
        listing = client.get("/registries", headers=HTML)
        assert "Registry sme" in listing.text
        found = client.get("/registries/sme/records?f.province=kampot", headers=HTML)
        assert "00000001" in found.text and "00000002" not in found.text
        page = client.get(f"/registries/sme/records/{record.id}", headers=HTML)
        assert "annual return" in page.text and "Chan Sreymom" not in page.text
        shown = client.get(f"/registries/sme/records/{record.id}?purpose=inspection", headers=HTML)
        assert "Chan Sreymom" in shown.text
        diff = client.get(f"/registries/sme/records/{record.id}/diff?from=1&to=2", headers=HTML)
        assert diff.status_code == 200 and "77" in diff.text and "11" in diff.text

    def test_import_reports_rejected_rows(self, client, db):
        signed_in(client, db)
        make_registry(db)
        db.commit()
        form = client.get("/registries/sme/import", headers=HTML)
        body = "\n".join([json.dumps(business(1)), json.dumps(business(2, province=5))]).encode()
        refused = client.post("/registries/sme/import", headers=HTML, data={"csrf_token": csrf_from(form.text)},
                              files={"file": ("firms.jsonl", body, "application/x-ndjson")})
        assert refused.status_code == 422 and "/province" in refused.text
        done = client.post("/registries/sme/import", headers=HTML,
                           data={"csrf_token": csrf_from(form.text), "skip_invalid": "yes"},
                           files={"file": ("firms.jsonl", body, "application/x-ndjson")})
        assert done.status_code == 200 and "/province" in done.text
        db.rollback()
        assert registries.count_records(db, SYSTEM, name="sme") == 1

    def test_pages_in_every_language_and_right_to_left(self, client, db):
        signed_in(client, db)
        make_registry(db)
        db.commit()
        for code in ("km", "ar", "de"):
            client.get(f"/language/{code}", follow_redirects=False)
            page = client.get("/registries/sme", headers=HTML)
            assert page.status_code == 200 and f'lang="{code}"' in page.text
            form = client.get("/registries/sme/records/new", headers=HTML)
            assert form.status_code == 200 and "Save the record" not in form.text and "New record" not in form.text
        client.get("/language/ar", follow_redirects=False)
        assert 'dir="rtl"' in client.get("/registries/sme/records", headers=HTML).text


class TestRecordByHand:
    def test_create_a_record_from_the_schemas_form(self, client, db):
        signed_in(client, db)
        make_registry(db)
        db.commit()
        listing = client.get("/registries/sme/records", headers=HTML)
        assert 'href="/registries/sme/records/new"' in listing.text
        form = client.get("/registries/sme/records/new", headers=HTML)
        assert form.status_code == 200 and "Business name" in form.text and 'name="data.sector"' in form.text
        saved = client.post("/registries/sme/records/new", headers=HTML, follow_redirects=False, data={
            "csrf_token": csrf_from(form.text), "data.registration_number": "00000042",
            "data.name": "Mekong Garments", "data.province": "Kandal", "data.employees": "120",
            "data.active": "yes", "data.sector": "manufacturing", "data.owner_name": "Keo Sophea",
            "reason": "paper application 2024/117"})
        assert saved.status_code == 303
        db.rollback()
        record = registries.read_record(db, SYSTEM, name="sme", record_id="00000042", purpose="test")
        assert record.data == {"registration_number": "00000042", "name": "Mekong Garments", "province": "Kandal",
                               "employees": 120, "active": True, "sector": "manufacturing",
                               "owner_name": "Keo Sophea"}
        assert record.reason == "paper application 2024/117" and saved.headers["location"].endswith(str(record.id))

    def test_errors_are_shown_beside_each_field_and_nothing_typed_is_lost(self, client, db):
        signed_in(client, db)
        make_registry(db)
        registries.create_record(db, SYSTEM, name="sme", data=business(7))
        db.commit()
        form = client.get("/registries/sme/records/new", headers=HTML)
        refused = client.post("/registries/sme/records/new", headers=HTML, data={
            "csrf_token": csrf_from(form.text), "data.registration_number": "12AB",
            "data.name": "Tonle Sap Fisheries ទន្លេសាប", "data.employees": "a dozen",
            "data.registered_on": "31/01/2024", "reason": "walk-in"})
        assert refused.status_code == 422
        page = refused.text
        for field in ("registration_number", "employees", "registered_on", "province"):
            assert f'id="error-data-{field}"' in page, field
        assert 'href="#field-data-employees"' in page
        assert 'value="Tonle Sap Fisheries ទន្លេសាប"' in page and 'value="a dozen"' in page
        assert 'value="12AB"' in page and 'value="31/01/2024"' in page and 'value="walk-in"' in page
        taken = client.post("/registries/sme/records/new", headers=HTML, data={
            "csrf_token": csrf_from(form.text), "data.registration_number": "00000007", "data.name": "Copy",
            "data.province": "Kep"})
        assert taken.status_code == 422 and 'id="error-data-registration_number"' in taken.text
        db.rollback()
        assert registries.count_records(db, SYSTEM, name="sme") == 1

    def test_edit_keeps_the_history_with_the_reason_and_refuses_a_stale_form(self, client, db):
        signed_in(client, db)
        make_registry(db)
        record = registries.create_record(db, SYSTEM, name="sme", data=business(3, owner_name="Chan Sreymom"))
        db.commit()
        page = client.get(f"/registries/sme/records/{record.id}", headers=HTML)
        assert f'href="/registries/sme/records/{record.id}/edit"' in page.text
        form = client.get(f"/registries/sme/records/{record.id}/edit", headers=HTML)
        assert form.status_code == 200 and 'value="Chan Sreymom"' in form.text
        assert '<option value="yes" selected>' in form.text
        fields = {"csrf_token": csrf_from(form.text), "revision": "1", "data.registration_number": "00000003",
                  "data.name": "Angkor Rice Mill 3", "data.province": "Siem Reap", "data.employees": "40",
                  "data.owner_name": "Chan Sreymom", "data.owner_national_id": "KH000000003",
                  "data.registered_on": "2024-03-15", "data.sector": "manufacturing", "data.active": "yes"}
        no_reason = client.post(f"/registries/sme/records/{record.id}/edit", headers=HTML, data=fields)
        assert no_reason.status_code == 422 and 'id="error-reason"' in no_reason.text
        assert 'value="40"' in no_reason.text
        saved = client.post(f"/registries/sme/records/{record.id}/edit", headers=HTML, follow_redirects=False,
                            data={**fields, "reason": "annual return"})
        assert saved.status_code == 303
        stale = client.post(f"/registries/sme/records/{record.id}/edit", headers=HTML,
                            data={**fields, "data.employees": "41", "reason": "late form"})
        assert stale.status_code == 422 and "revision 2" in stale.text and 'value="41"' in stale.text
        shown = client.get(f"/registries/sme/records/{record.id}", headers=HTML)
        assert "annual return" in shown.text
        db.rollback()
        history = registries.record_history(db, SYSTEM, name="sme", record_id=record.id)
        assert [(h.revision, h.reason, h.data.get("employees")) for h in history] == [
            (1, None, 13), (2, "annual return", 40)]
        usage = registries.personal_data_usage(db, SYSTEM, name="sme", subject_id="KH000000003")
        assert "editing the record" in [u.purpose for u in usage]

    def test_an_officer_who_may_only_read_gets_no_form(self, client, db):
        from tests.conftest import make_officer, make_role

        make_org_unit(db, code="MOC")
        make_registry(db, owner="MOC")
        role = make_role(db, permissions=["registries.read"])
        make_officer(db, org_unit="MOC", roles=[role.code], username="reader.test")
        db.commit()
        sign_in(client, "reader.test")
        assert 'records/new"' not in client.get("/registries/sme/records", headers=HTML).text
        assert client.get("/registries/sme/records/new", headers=HTML).status_code == 403
