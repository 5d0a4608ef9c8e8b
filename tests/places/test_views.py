"""The places page and the picker: browsing and searching work without JavaScript, and htmx gets fragments."""

from __future__ import annotations

import io
import re

import pytest
from tests.conftest import SYSTEM

from nokor.places import service, sources

TINY = """level,code,parent_code,name_km,name_en
province,T1,,ខេត្តមួយ,Alpha Province
province,T2,,ខេត្តពីរ,Omega Province
district,T101,T1,ស្រុកមួយ,Beta District
commune,T10101,T101,ឃុំមួយ,Gamma
village,T1010101,T10101,ភូមិមួយ,Delta
"""
HTML = {"accept": "text/html"}


@pytest.fixture
def loaded(db):
    service.load_divisions(db, SYSTEM, divisions=sources.from_csv(io.StringIO(TINY), country="TL", source="csv"))
    db.commit()


def selects(html: str) -> list[str]:
    return re.findall(r'<select[^>]* name="place\.(\w+)"', html)


class TestWithoutJavaScript:
    def test_the_page_starts_with_the_provinces(self, client, loaded):
        page = client.get("/places", headers=HTML)
        assert page.status_code == 200 and selects(page.text) == ["province"]
        assert "Alpha Province" in page.text and "Omega Province" in page.text

    def test_each_submitted_step_opens_the_next_level_until_a_village_is_chosen(self, client, loaded):
        page = client.get("/places", params={"place.province": "T1", "place.step": "1"}, headers=HTML)
        assert selects(page.text) == ["province", "district"] and "Beta District" in page.text
        page = client.get("/places", params={"place.province": "T1", "place.district": "T101",
                                             "place.commune": "T10101", "place.village": "T1010101"}, headers=HTML)
        assert selects(page.text) == ["province", "district", "commune", "village"]
        assert 'value="T1010101" selected' in page.text and "Delta, Gamma, Beta District, Alpha Province" in page.text

    def test_a_choice_that_does_not_belong_to_its_parent_stops_the_cascade(self, client, loaded):
        page = client.get("/places", params={"place.province": "T2", "place.district": "T101"}, headers=HTML)
        assert selects(page.text) == ["province", "district"] and 'value="T101" selected' not in page.text

    def test_search_lists_radio_buttons_and_choosing_one_fills_the_selects(self, client, loaded):
        page = client.get("/places", params={"place.q": "gamma", "place.search": "1"}, headers=HTML)
        assert re.search(r'type="radio"[^>]* name="place" value="T10101"', page.text)
        page = client.get("/places", params={"place": "T10101", "place.choose": "1"}, headers=HTML)
        assert selects(page.text) == ["province", "district", "commune", "village"]
        assert "Delta" in page.text  # the commune's villages are listed

    def test_a_search_with_no_match_says_so(self, client, loaded):
        page = client.get("/places?lang=de", params={"place.q": "zzz", "place.search": "1"}, headers=HTML)
        assert "zzz" in page.text and page.status_code == 200

    def test_khmer_readers_see_khmer_names(self, client, loaded):
        page = client.get("/places?lang=km", headers=HTML)
        assert "ខេត្តមួយ" in page.text and 'lang="km"' in page.text


class TestWithHtmx:
    def test_a_step_answers_the_picker_alone(self, client, loaded):
        fragment = client.get("/places/picker", params={"picker": "birth_place", "level": "commune",
                                                        "birth_place.province": "T1"}, headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and "<html" not in fragment.text
        assert 'name="birth_place.district"' in fragment.text and 'id="picker-body-birth_place"' in fragment.text

    def test_type_ahead_returns_the_results(self, client, loaded):
        fragment = client.get("/places/picker", params={"picker": "place", "place.q": "ome", "place.search": "1"})
        assert 'value="T2"' in fragment.text

    def test_a_strange_picker_name_is_refused(self, client, loaded):
        assert client.get("/places/picker", params={"picker": "<script>"}).status_code == 404
