"""Registries, schema versions, records, history and personal-data logging through the services."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event
from tests.conftest import make_officer, make_org_unit, make_role
from tests.registries.factories import SME_SCHEMA, SYSTEM, business, make_registry

from nokor import accounts, audit, registries
from nokor.kit.actor import Actor
from nokor.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed


def pointers(problem: ValidationFailed) -> set[str]:
    return {e["pointer"] for e in problem.errors or []}


class TestSchemas:
    def test_publishing_freezes_a_version_and_a_new_draft_becomes_the_next_version(self, db):
        make_registry(db)
        draft = registries.save_schema_draft(db, SYSTEM, name="sme", json_schema={
            **SME_SCHEMA, "properties": {**SME_SCHEMA["properties"], "phone": {"type": "string"}}})
        assert draft.version == "2.0" and draft.state == "draft"
        registry = registries.get_registry(db, SYSTEM, name="sme")
        assert registry.current_version == "1.0" and registry.draft_version == "2.0"
        first = registries.get_version(db, SYSTEM, name="sme", version="1.0")
        assert "phone" not in first.json_schema["properties"]
        assert first.searchable_fields == ["registration_number", "name", "province", "employees"]
        assert first.personal_fields == ["owner_name", "owner_national_id"]
        assert first.subject_field == "owner_national_id" and first.key_field == "registration_number"

    def test_a_malformed_schema_is_refused_before_publishing(self, db):
        make_registry(db, name="bad", schema={"type": "object", "properties": {
            "when": {"type": "strin"}, "nested": {"type": "object", "x-searchable": True}}}, publish=False)
        with pytest.raises(ValidationFailed) as caught:
            registries.publish_version(db, SYSTEM, name="bad")
        assert any(p.startswith("/json_schema") for p in pointers(caught.value))
        assert registries.get_registry(db, SYSTEM, name="bad").state == "draft"

    def test_schema_rules_name_the_bad_keyword(self):
        errors = registries.check_schema({"type": "object", "properties": {
            "nested": {"type": "object", "x-searchable": True}, "a": {"type": "string", "x-subject": True},
            "b": {"type": "string", "x-subject": True}}})
        found = {e["pointer"] for e in errors}
        assert "/json_schema/properties/nested/x-searchable" in found
        assert "/json_schema/properties/b/x-subject" in found

    def test_unknown_registry_and_version_are_404(self, db):
        make_registry(db)
        with pytest.raises(NotFound):
            registries.get_registry(db, SYSTEM, name="nope")
        with pytest.raises(NotFound):
            registries.create_record(db, SYSTEM, name="sme", version="9.0", data=business())

    def test_deprecated_versions_take_no_new_records(self, db):
        make_registry(db)
        registries.set_version_state(db, SYSTEM, name="sme", version="1.0", state="deprecated")
        with pytest.raises(Conflict):
            registries.create_record(db, SYSTEM, name="sme", version="1.0", data=business())


class TestRecords:
    def test_schema_violations_name_each_bad_field(self, db):
        make_registry(db)
        bad = business(registration_number="12", employees=-1, registered_on="2024-13-40", colour="red")
        del bad["province"]
        with pytest.raises(ValidationFailed) as caught:
            registries.create_record(db, SYSTEM, name="sme", data=bad)
        assert {"/data/registration_number", "/data/employees", "/data/registered_on", "/data/province",
                "/data/colour"} <= pointers(caught.value)
        assert registries.count_records(db, SYSTEM, name="sme") == 0

    def test_the_business_key_is_unique(self, db):
        make_registry(db)
        registries.create_record(db, SYSTEM, name="sme", data=business(1))
        with pytest.raises(Conflict):
            registries.create_record(db, SYSTEM, name="sme", data=business(1, name="Other"))

    def test_every_version_is_kept_with_who_when_why_and_a_diff(self, db):
        make_registry(db)
        created = registries.create_record(db, SYSTEM, name="sme", data=business(), reason="registration")
        updated = registries.update_record(db, SYSTEM, name="sme", record_id=created.id, revision=1,
                                           data={"employees": 40, "province": "Kampot"}, merge=True,
                                           reason="annual return")
        assert updated.revision == 2
        deleted = registries.delete_record(db, SYSTEM, name="sme", record_id=created.id, reason="closed down")
        assert deleted.deleted and deleted.revision == 3
        history = registries.record_history(db, SYSTEM, name="sme", record_id=created.id, purpose="audit")
        assert [(h.revision, h.operation, h.reason) for h in history] == [
            (1, "create", "registration"), (2, "update", "annual return"), (3, "delete", "closed down")]
        assert history[0].data["employees"] == 11 and history[1].data["employees"] == 40
        diff = registries.diff_record(db, SYSTEM, name="sme", record_id=created.id, from_revision=1, to_revision=2)
        assert {(c.field, c.before, c.after) for c in diff.changes} == {
            ("employees", 11, 40), ("province", "Siem Reap", "Kampot")}
        page = registries.search_records(db, SYSTEM, name="sme")
        assert page.items == []

    def test_a_stale_revision_is_a_conflict(self, db):
        make_registry(db)
        created = registries.create_record(db, SYSTEM, name="sme", data=business())
        registries.update_record(db, SYSTEM, name="sme", record_id=created.id, revision=1,
                                 data={"employees": 12}, merge=True)
        with pytest.raises(Conflict):
            registries.update_record(db, SYSTEM, name="sme", record_id=created.id, revision=1,
                                     data={"employees": 13}, merge=True)

    def test_records_keep_the_version_they_were_written_under(self, db):
        make_registry(db)
        old = registries.create_record(db, SYSTEM, name="sme", data=business(1))
        registries.save_schema_draft(db, SYSTEM, name="sme", json_schema={
            **SME_SCHEMA, "properties": {**SME_SCHEMA["properties"], "phone": {"type": "string"}}})
        registries.publish_version(db, SYSTEM, name="sme")
        new = registries.create_record(db, SYSTEM, name="sme", data=business(2, phone="012 345 678"))
        assert registries.read_record(db, SYSTEM, name="sme", record_id=old.id).version == "1.0"
        assert registries.read_record(db, SYSTEM, name="sme", record_id=new.id).version == "2.0"

    def test_update_entries_changes_every_match_or_none(self, db):
        make_registry(db)
        for n in range(1, 4):
            registries.create_record(db, SYSTEM, name="sme", data=business(n, province="Kep"))
        changed = registries.update_matching(db, SYSTEM, name="sme", query={"province": "Kep"},
                                             changes={"active": False}, many=True)
        assert changed == 3
        with pytest.raises(ValidationFailed):
            registries.update_matching(db, SYSTEM, name="sme", query={"province": "Kep"},
                                       changes={"employees": "many"}, many=True)
        assert not registries.record_exists(db, SYSTEM, name="sme", query={"active": True})


class TestSearch:
    def test_filters_sorting_and_cursor_pages(self, db):
        make_registry(db)
        for n in range(1, 8):
            registries.create_record(db, SYSTEM, name="sme", data=business(
                n, province="Kampot" if n % 2 else "Takeo", employees=100 - n))
        kampot = registries.search_records(
            db, SYSTEM, name="sme", filters=[registries.SearchFilter(field="province", value="kampot")],
            sort="employees", limit=2)
        assert [r.data["employees"] for r in kampot.items] == [93, 95]
        second = registries.search_records(
            db, SYSTEM, name="sme", filters=[registries.SearchFilter(field="province", value="kampot")],
            sort="employees", limit=2, cursor=kampot.next_cursor)
        assert [r.data["employees"] for r in second.items] == [97, 99] and second.next_cursor is None
        ranged = registries.search_records(db, SYSTEM, name="sme", filters=[
            registries.SearchFilter(field="employees", op="gte", value=97)], sort="-employees")
        assert [r.data["employees"] for r in ranged.items] == [99, 98, 97]
        named = registries.search_records(db, SYSTEM, name="sme", text="angkor rice mill 3")
        assert [r.data["registration_number"] for r in named.items] == ["00000003"]

    def test_equality_filters_page_in_creation_order_both_ways(self, db):
        make_registry(db)
        created = [registries.create_record(db, SYSTEM, name="sme", data=business(
            n, province="Kampot" if n % 3 else "Takeo", employees=n % 2)) for n in range(1, 12)]
        kampot = [r.data["registration_number"] for r in created if r.data["province"] == "Kampot"]
        seen: list[str] = []
        cursor = None
        while True:
            page = registries.search_records(db, SYSTEM, name="sme", limit=3, cursor=cursor, filters=[
                registries.SearchFilter(field="province", value="KAMPOT")])
            seen += [r.data["registration_number"] for r in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == kampot
        newest = registries.search_records(db, SYSTEM, name="sme", sort="-id", limit=2, filters=[
            registries.SearchFilter(field="province", value="kampot"),
            registries.SearchFilter(field="employees", value="1")])
        odd = [n for n in kampot if int(n) % 2]
        assert [r.data["registration_number"] for r in newest.items] == odd[::-1][:2]
        total, first = registries.list_records_page(db, SYSTEM, name="sme", page=2, page_size=2, filters=[
            registries.SearchFilter(field="province", value="kampot")])
        assert total == len(kampot) and [r.data["registration_number"] for r in first] == kampot[2:4]

    def test_starts_with_finds_exactly_the_values_beginning_with_the_text(self, db):
        make_registry(db)
        names = ["Angkor 50% Mill", "Angkor 5 Mill", "Angkor_Mill", "AngkorXMill", "Angkor\\Mill", "Angkos Mill",
                 "angkor", "Angkoq", "ហាងលក់បាយ", "ហាងលក់ចាប់", "ហាង", "ហាញ", "Zebra \U0010ffff", "Zebrb"]
        for n, name in enumerate(names, start=1):
            registries.create_record(db, SYSTEM, name="sme", data=business(n, name=name))

        def starting(prefix: str, *, as_filter: bool) -> list[str]:
            if as_filter:
                page = registries.search_records(db, SYSTEM, name="sme", sort="name", filters=[
                    registries.SearchFilter(field="name", op="prefix", value=prefix)])
            else:
                page = registries.search_records(db, SYSTEM, name="sme", sort="name", text=prefix, text_field="name")
            return [r.data["name"] for r in page.items]

        for as_filter in (True, False):
            assert starting("Angkor 5", as_filter=as_filter) == ["Angkor 5 Mill", "Angkor 50% Mill"]
            assert starting("angkor 50%", as_filter=as_filter) == ["Angkor 50% Mill"]  # % is a character here
            assert starting("angkor_", as_filter=as_filter) == ["Angkor_Mill"]  # and _ is not "any character"
            assert starting("angkor\\", as_filter=as_filter) == ["Angkor\\Mill"]
            assert starting("ANGKOR", as_filter=as_filter) == [
                "angkor", "Angkor 5 Mill", "Angkor 50% Mill", "Angkor\\Mill", "Angkor_Mill", "AngkorXMill"]
            assert starting("ហាងលក់", as_filter=as_filter) == ["ហាងលក់ចាប់", "ហាងលក់បាយ"]
            assert starting("ហាង", as_filter=as_filter) == ["ហាង", "ហាងលក់ចាប់", "ហាងលក់បាយ"]
            assert starting("zebra \U0010ffff", as_filter=as_filter) == ["Zebra \U0010ffff"]
            assert starting("Angkor Rice", as_filter=as_filter) == []

    def test_the_least_text_after_a_prefix_in_code_point_order(self):
        from nokor.registries.repository import prefix_upper_bound

        assert prefix_upper_bound("abc") == "abd"
        assert prefix_upper_bound("ហាង") == "ហាច"  # U+1784, U+1785
        assert prefix_upper_bound("a\U0010ffff\U0010ffff") == "b"
        assert prefix_upper_bound("\U0010ffff") is None
        assert prefix_upper_bound("x\ud7ff") == "x\ue000"  # over the surrogates, which UTF-8 cannot hold

    @pytest.mark.parametrize("as_filter", [True, False])
    def test_a_prefix_search_is_a_range_of_the_values_index_on_postgresql(self, db, as_filter):
        if db.get_bind().dialect.name != "postgresql":
            pytest.skip("the plan is PostgreSQL's")
        make_registry(db)
        for n in range(1, 4):
            registries.create_record(db, SYSTEM, name="sme", data=business(n))
        seen: list[tuple[str, object]] = []

        def remember(conn, cursor, statement, parameters, context, executemany):
            if "registries_field_value" in statement and "LIKE" in statement:
                seen.append((statement, parameters))

        engine = db.get_bind()
        event.listen(engine, "before_cursor_execute", remember)
        try:
            if as_filter:
                page = registries.search_records(db, SYSTEM, name="sme", filters=[
                    registries.SearchFilter(field="name", op="prefix", value="Angkor Rice Mill 2")])
            else:
                page = registries.search_records(db, SYSTEM, name="sme", text="angkor rice mill 2")
        finally:
            event.remove(engine, "before_cursor_execute", remember)
        assert [r.data["registration_number"] for r in page.items] == ["00000002"]
        statement, parameters = seen[-1]
        cursor = db.connection().connection.driver_connection.cursor()
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few rows would be read whole otherwise
        cursor.execute("EXPLAIN " + statement, parameters)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        # The index is entered at the prefix: the value is part of the index condition, not a filter
        # applied to every value of the field.
        conditions = [line for line in plan.splitlines() if "Index Cond" in line and "value_text" in line]
        assert conditions and ">=" in conditions[0] and "<" in conditions[0].replace(">=", ""), plan

    def test_only_searchable_fields_can_be_filtered(self, db):
        make_registry(db)
        with pytest.raises(ValidationFailed):
            registries.search_records(db, SYSTEM, name="sme",
                                      filters=[registries.SearchFilter(field="owner_name", value="x")])


class TestPersonalData:
    def test_personal_fields_are_withheld_without_a_purpose_and_logged_with_one(self, db):
        make_registry(db)
        created = registries.create_record(db, SYSTEM, name="sme", data=business())
        reader = Actor(kind="officer", id=None, name="inspector.kampot", grants={"registries.read": None})
        plain = registries.read_record(db, reader, name="sme", record_id=created.id)
        assert "owner_name" not in plain.data and set(plain.withheld_fields) == {"owner_name", "owner_national_id"}
        shown = registries.read_record(db, reader, name="sme", record_id=created.id, purpose="tax inspection")
        assert shown.data["owner_name"] == "Sok Dara"
        usage = registries.personal_data_usage(db, SYSTEM, name="sme", subject_id="KH000000001")
        assert [(u.reader_name, u.purpose) for u in usage] == [("inspector.kampot", "tax inspection")]
        assert usage[0].fields == ["owner_name", "owner_national_id"]
        assert audit.verify_chain(db).ok

    def test_reading_one_personal_value_needs_a_purpose(self, db):
        make_registry(db)
        created = registries.create_record(db, SYSTEM, name="sme", data=business())
        with pytest.raises(ValidationFailed):
            registries.read_value(db, SYSTEM, name="sme", record_id=str(created.id), field="owner_name")
        assert registries.read_value(db, SYSTEM, name="sme", record_id="00000001", field="province") == "Siem Reap"


class TestPermissions:
    def test_officers_need_the_permission_in_the_owner_unit(self, db):
        ministry = make_org_unit(db, code="MOC")
        other = make_org_unit(db, code="MOH2")
        make_registry(db, owner=ministry.code)
        role = make_role(db, permissions=["registries.read"])
        inside = make_officer(db, org_unit=ministry.code, roles=[role.code])
        outside = make_officer(db, org_unit=other.code, roles=[role.code])
        from nokor.accounts.models import Officer
        from nokor.accounts.service import actor_for_officer

        assert registries.count_records(db, actor_for_officer(db, db.get(Officer, inside.id)), name="sme") == 0
        with pytest.raises(Forbidden):
            registries.count_records(db, actor_for_officer(db, db.get(Officer, outside.id)), name="sme")
        with pytest.raises(Forbidden):
            registries.create_record(db, actor_for_officer(db, db.get(Officer, inside.id)), name="sme",
                                     data=business())

    def test_agency_systems_need_a_grant_for_the_registry(self, db):
        make_registry(db)
        issued = accounts.create_api_client(db, SYSTEM, data=accounts.ApiClientCreate(
            name="Tax office", identity="KH/GOV/GDT/tax", permissions=["registries.read", "registries.write"]))
        client = accounts.authenticate_api_key(db, key=issued.api_key)
        assert client is not None
        with pytest.raises(Forbidden):
            registries.count_records(db, client, name="sme")
        registries.grant_access(db, SYSTEM, name="sme", client_identity="KH/GOV/GDT/tax")
        assert registries.count_records(db, client, name="sme") == 0
        with pytest.raises(Forbidden):
            registries.create_record(db, client, name="sme", data=business())
        registries.grant_access(db, SYSTEM, name="sme", client_identity="KH/GOV/GDT/tax", can_write=True)
        assert registries.create_record(db, client, name="sme", data=business()).revision == 1


class TestDefinitionsKeptInMemory:
    """Each process keeps registries, versions and grants in memory; a change anywhere must show at once."""

    def _client(self, db):
        issued = accounts.create_api_client(db, SYSTEM, data=accounts.ApiClientCreate(
            name="Tax office", identity="KH/GOV/GDT/tax", permissions=["registries.read"]))
        client = accounts.authenticate_api_key(db, key=issued.api_key)
        assert client is not None
        return client

    def test_a_revoked_grant_is_refused_at_the_next_read(self, db):
        make_registry(db)
        client = self._client(db)
        record = registries.create_record(db, SYSTEM, name="sme", data=business())
        registries.grant_access(db, SYSTEM, name="sme", client_identity="KH/GOV/GDT/tax")
        assert registries.read_record(db, client, name="sme", record_id=record.id).revision == 1
        registries.revoke_access(db, SYSTEM, name="sme", client_identity="KH/GOV/GDT/tax")
        with pytest.raises(Forbidden):
            registries.read_record(db, client, name="sme", record_id=record.id)

    def test_a_change_made_by_another_process_is_seen(self, db):
        from sqlalchemy import text

        make_registry(db)
        client = self._client(db)
        record = registries.create_record(db, SYSTEM, name="sme", data=business())
        registries.grant_access(db, SYSTEM, name="sme", client_identity="KH/GOV/GDT/tax")
        assert registries.read_record(db, client, name="sme", record_id=record.id).revision == 1
        # What revoke_access does in another process: this process's memory is not told.
        db.execute(text("DELETE FROM registries_access_grant"))
        db.execute(text("UPDATE registries_registry SET definition_tag = 'other process'"))
        with pytest.raises(Forbidden):
            registries.read_record(db, client, name="sme", record_id=record.id)

    def test_a_search_sees_a_change_made_by_another_process(self, db):
        from sqlalchemy import text

        make_registry(db)
        client = self._client(db)
        registries.create_record(db, SYSTEM, name="sme", data=business())
        registries.grant_access(db, SYSTEM, name="sme", client_identity="KH/GOV/GDT/tax")
        assert len(registries.search_records(db, client, name="sme").items) == 1  # the definition is in memory
        assert registries.search_records(db, client, name="sme", filters=[
            registries.SearchFilter(field="province", value="Nowhere")]).items == []
        db.execute(text("DELETE FROM registries_access_grant"))
        db.execute(text("UPDATE registries_registry SET definition_tag = 'other process'"))
        with pytest.raises(Forbidden):
            registries.search_records(db, client, name="sme")
        with pytest.raises(Forbidden):  # an empty page is no way around it
            registries.search_records(db, client, name="sme", filters=[
                registries.SearchFilter(field="province", value="Nowhere")])

    def test_a_search_on_a_field_made_searchable_by_another_process_is_answered(self, db):
        from sqlalchemy import text

        make_registry(db)
        registries.create_record(db, SYSTEM, name="sme", data=business())
        registries.search_records(db, SYSTEM, name="sme")  # the definition is in memory
        # What publishing a version with one more searchable field does in another process.
        db.execute(text("UPDATE registries_schema_version SET searchable_fields = :fields"),
                   {"fields": json.dumps(["name", "province", "employees", "owner_name"])})
        db.execute(text("UPDATE registries_registry SET definition_tag = 'other process'"))
        page = registries.search_records(db, SYSTEM, name="sme", filters=[
            registries.SearchFilter(field="owner_name", value="nothing like it")])
        assert page.items == []

    def test_a_newly_published_version_is_used_for_writes_and_reads(self, db):
        make_registry(db)
        record = registries.create_record(db, SYSTEM, name="sme", data=business())
        assert registries.read_record(db, SYSTEM, name="sme", record_id=record.id).version == "1.0"
        registries.save_schema_draft(db, SYSTEM, name="sme", json_schema={
            **SME_SCHEMA, "properties": {**SME_SCHEMA["properties"], "website": {"type": "string"}}})
        registries.publish_version(db, SYSTEM, name="sme")
        changed = registries.update_record(db, SYSTEM, name="sme", record_id=record.id,
                                           data={"website": "https://rice.example.kh"}, merge=True)
        assert changed.version == "2.0"
        assert registries.read_record(db, SYSTEM, name="sme", record_id=record.id, version="1.0").version == "2.0"
        page = registries.search_records(db, SYSTEM, name="sme", version="2.0")
        assert [r.data.get("website") for r in page.items] == ["https://rice.example.kh"]
