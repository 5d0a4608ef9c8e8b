"""The public places API: children, one place, its path and history, search; bad input answers 422/404."""

from __future__ import annotations

import io

import pytest
from tests.conftest import SYSTEM

from nokor.places import service, sources

TINY = """level,code,parent_code,name_km,name_en
province,T1,,ខេត្តមួយ,Alpha Province
district,T101,T1,ស្រុកមួយ,Beta District
commune,T10101,T101,ឃុំមួយ,Gamma
village,T1010101,T10101,ភូមិមួយ,Delta
"""


@pytest.fixture
def loaded(db):
    service.load_divisions(db, SYSTEM, divisions=sources.from_csv(io.StringIO(TINY), country="TL", source="csv"))
    db.commit()


def test_anyone_lists_provinces_and_children_with_cache_headers(client, loaded):
    answer = client.get("/api/v1/places")
    assert answer.status_code == 200 and [p["code"] for p in answer.json()] == ["T1"]
    assert "max-age" in answer.headers["cache-control"]
    assert [d["name_en"] for d in client.get("/api/v1/places?parent=T1").json()] == ["Beta District"]
    assert client.get("/api/v1/places/T101/children").json()[0]["code"] == "T10101"


def test_one_place_its_path_and_history(client, loaded):
    village = client.get("/api/v1/places/T1010101").json()
    assert village == {"code": "T1010101", "level": "village", "name_km": "ភូមិមួយ", "name_en": "Delta",
                       "parent_code": "T10101", "valid_from": village["valid_from"], "valid_to": None}
    assert [p["level"] for p in client.get("/api/v1/places/T1010101/path").json()] == [
        "province", "district", "commune", "village"]
    assert len(client.get("/api/v1/places/T1010101/history").json()) == 1


def test_search_in_both_scripts(client, loaded):
    assert client.get("/api/v1/places", params={"q": "gam"}).json()[0]["code"] == "T10101"
    assert client.get("/api/v1/places", params={"q": "ឃុំ"}).json()[0]["code"] == "T10101"
    assert client.get("/api/v1/places", params={"q": "a", "level": "village"}).json()[0]["code"] == "T1010101"


@pytest.mark.parametrize("url", ["/api/v1/places/NOPE", "/api/v1/places?parent=NOPE", "/api/v1/places/NOPE/path",
                                 "/api/v1/places/NOPE/history", "/api/v1/places/NOPE/children"])
def test_unknown_codes_answer_404_problem(client, loaded, url):
    answer = client.get(url)
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("params", [{"q": "x" * 101}, {"q": "a", "level": "hamlet"}, {"q": "a", "limit": 0},
                                    {"q": "a", "limit": 1000}])
def test_bad_queries_answer_422(client, loaded, params):
    assert client.get("/api/v1/places", params=params).status_code == 422
