"""``nokor places load`` and ``nokor places stats`` as an operator runs them, on the test database."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nokor.cli import app

TINY = """level,code,parent_code,name_km,name_en
province,T1,,ខេត្តមួយ,Alpha Province
district,T101,T1,ស្រុកមួយ,Beta District
commune,T10101,T101,ឃុំមួយ,Gamma
village,T1010101,T10101,ភូមិមួយ,Delta
village,T1010102,T10101,ភូមិពីរ,Epsilon
"""


@pytest.fixture
def nokor(database_url, session_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("NOKOR_DATABASE_URL", database_url)
    monkeypatch.setenv("NOKOR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_a_csv_list_loads_once_and_stats_count_it(nokor, tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text(TINY, encoding="utf-8")
    first = nokor("places", "load", "--csv", str(path), "--country", "TL")
    assert first.exit_code == 0, first.output
    assert "5 added" in first.output
    again = nokor("places", "load", "--csv", str(path), "--country", "TL")
    assert "0 added, 0 changed, 0 closed, 5 unchanged" in again.output
    stats = nokor("places", "stats")
    assert stats.exit_code == 0
    assert [line.split()[1:4:2] for line in stats.output.splitlines() if "village" in line] == [["village", "2"]]
    assert "csv tiny.csv" in stats.output


def test_a_bad_csv_exits_2_and_names_the_line(nokor, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(TINY + "village,X1,NOPE,ក,K\n", encoding="utf-8")
    result = nokor("places", "load", "--csv", str(path), "--country", "TL")
    assert result.exit_code == 2 and "/rows/7/parent_code" in result.output


def test_cambodia_loads_with_its_attribution(nokor):
    result = nokor("places", "load")
    assert result.exit_code == 0, result.output
    assert "16472 added" in result.output and "data.mef.gov.kh" in result.output
    stats = nokor("places", "stats")
    assert "14,576" in stats.output and "1,661" in stats.output and "Ministry of Economy and Finance" in stats.output


def test_demo_load_adds_places_only_when_the_table_is_empty(nokor):
    from nokor.db import cli_session_scope
    from nokor.places import load_demo

    with cli_session_scope() as session:
        assert load_demo(session)[0].startswith("places: 16472")
    with cli_session_scope() as session:
        assert load_demo(session) == []
