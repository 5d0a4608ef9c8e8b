"""``nokor civil check-id``, ``import``, ``match`` and ``generate`` as an operator runs them."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.civil.factories import SYSTEM, make_resident
from typer.testing import CliRunner

from nokor import civil
from nokor.civil import service
from nokor.civil.bulk import CSV_COLUMNS
from nokor.civil.models import LifeEvent, Resident
from nokor.cli import app


def test_check_id_exit_codes() -> None:
    good = civil.generate_nin()
    assert CliRunner().invoke(app, ["civil", "check-id", good]).exit_code == 0
    bad = CliRunner().invoke(app, ["civil", "check-id", good[:-1] + str((int(good[-1]) + 1) % 10)])
    assert bad.exit_code == 1 and "check digit" in bad.output


# --- import, match, generate (on the test database) ---------------------------------------------

IMPORT_CSV = ",".join(CSV_COLUMNS) + """
ស្រីនាង,សុខ,Sreyneang,Sok,F,1994-03-12,12010101,ចាន់ ធីតា,សុខ វិបុល
محمد,علي,Mohamed,Ali,M,1980,12010102,,
Vibol,Chan,,,M,1991-08,,,
"""


@pytest.fixture
def nokor(db, database_url, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NOKOR_DATABASE_URL", database_url)
    monkeypatch.setenv("NOKOR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        db.rollback()  # the command writes through its own connection: let go of ours
        return runner.invoke(app, list(args))

    return invoke


def residents(db: Session) -> list[Resident]:
    db.expire_all()
    return list(db.scalars(select(Resident).order_by(Resident.family_name_latin)))


class TestImport:
    def test_rows_become_residents_with_numbers_and_history(self, nokor, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
        path = tmp_path / "people.csv"
        path.write_text(IMPORT_CSV, encoding="utf-8")
        done = nokor("civil", "import", str(path))
        assert done.exit_code == 0, done.output
        assert "imported 3 of 3 rows (0 held" in done.output
        people = residents(db)
        assert [(p.family_name_latin, p.birth_date_precision, p.status) for p in people] == [
            ("Ali", "year", "alive"), ("Chan", "month", "alive"), ("Sok", "day", "alive")]
        assert all(p.nin and civil.validate_nin(p.nin) == [] for p in people)
        sok = people[2]
        assert (sok.mother_name, sok.birth_place_code, sok.address_code) == ("ចាន់ ធីតា", "12010101", "12010101")
        history = civil.resident_history(db, SYSTEM, resident_id=sok.id, purpose="test")
        assert [v.action for v in history] == ["import"] and history[0].after["nin"] == sok.nin

    def test_a_bad_row_rejects_the_file_and_the_report_names_row_and_column(self, nokor, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
        path = tmp_path / "bad.csv"
        path.write_text(IMPORT_CSV + "Dara,Keo,,,Q,1990-02-30,99999999,,\n", encoding="utf-8")
        report = tmp_path / "report.csv"
        done = nokor("civil", "import", str(path), "--report", str(report))
        assert done.exit_code == 1
        assert "row 5, sex" in done.output and "row 5, birth_date" in done.output
        assert "row 5, village_code" in done.output and "nothing was imported" in done.output
        assert residents(db) == []
        assert report.read_text(encoding="utf-8").count("\n5,") == 3

    def test_skip_invalid_keeps_the_good_rows(self, nokor, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
        path = tmp_path / "bad.csv"
        path.write_text(IMPORT_CSV + ",Keo,,,F,1990-02-03,,,\n", encoding="utf-8")
        done = nokor("civil", "import", str(path), "--skip-invalid")
        assert done.exit_code == 0 and "imported 3 of 4 rows (0 held as possible duplicates, 1 invalid)" in done.output
        assert len(residents(db)) == 3

    def test_a_row_like_a_resident_is_held_for_an_officer(self, nokor, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
        make_resident(db, given_name="ស្រីនាង", family_name="សុខ", birth_date=date(1994, 12, 3))
        db.commit()
        path = tmp_path / "people.csv"
        path.write_text(IMPORT_CSV, encoding="utf-8")
        done = nokor("civil", "import", str(path))
        assert "(1 held as possible duplicates" in done.output, done.output
        held = [p for p in residents(db) if p.status == "held"]
        assert len(held) == 1 and held[0].nin is None
        assert service.list_duplicate_cases(db, SYSTEM, resident_id=held[0].id)


class TestMatch:
    def test_one_json_line_per_row_with_scored_candidates(self, nokor, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
        known = make_resident(db, given_name="ស្រីនាង", family_name="សុខ", given_name_latin="Sreyneang",
                              family_name_latin="Sok", birth_date=date(1994, 3, 12))
        db.commit()
        path = tmp_path / "look.csv"
        path.write_text("given_name,family_name,sex,birth_date,duplicate_of\n"
                        f"Sreinang,Sokh,F,1994-12-03,{known.nin}\nVibol,Chan,M,1991-08-02,\n,,,,\n",
                        encoding="utf-8")
        done = nokor("civil", "match", str(path))
        assert done.exit_code == 0, done.output
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert [line["row"] for line in lines] == [2, 3, 4]
        assert lines[0]["candidates"][0]["nin"] == known.nin and lines[0]["duplicate_of"] == known.nin
        assert lines[0]["candidates"][0]["score"] >= 0.8 and "birth_date" in lines[0]["candidates"][0]["parts"]
        assert lines[1]["candidates"] == []
        assert {e["column"] for e in lines[2]["errors"]} == {"given_name", "family_name", "sex", "birth_date"}


class TestGenerate:
    def test_families_with_numbers_households_and_events(self, nokor, db) -> None:  # type: ignore[no-untyped-def]
        done = nokor("civil", "generate", "--residents", "60")
        assert done.exit_code == 0, done.output
        people = residents(db)
        assert len(people) == 60 and len({p.nin for p in people}) == 60
        assert {p.address_code for p in people} <= {"12010101", "12010102"}
        children = [p for p in people if p.mother_id]
        assert children and all(c.mother_name for c in children)
        assert any(not p.given_name.isascii() and p.given_name_latin.isascii() for p in people)
        assert db.scalar(select(func.count()).select_from(LifeEvent).where(LifeEvent.kind == "birth")) == len(children)
        spouses = {p.id: p.spouse_id for p in people if p.spouse_id}
        assert spouses and all(spouses.get(other) == me for me, other in spouses.items())

    def test_csv_and_probe_files(self, nokor, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
        out = tmp_path / "people.csv"
        assert nokor("civil", "generate", "--residents", "30", "--csv", str(out)).exit_code == 0
        assert residents(db) == [] and len(out.read_text(encoding="utf-8").splitlines()) == 31
        assert nokor("civil", "import", str(out)).exit_code == 0
        probe = tmp_path / "probe.csv"
        done = nokor("civil", "generate", "--probe", str(probe), "--rows", "40", "--duplicate-share", "0.5")
        assert done.exit_code == 0, done.output
        rows = list(csv.DictReader(probe.open(encoding="utf-8")))
        nins = {p.nin for p in residents(db)}
        planted = [r for r in rows if r["duplicate_of"]]
        assert len(rows) == 40 and planted and all(r["duplicate_of"] in nins for r in planted)
        assert {r["perturbation"] for r in rows} - {"new", "sibling"}
