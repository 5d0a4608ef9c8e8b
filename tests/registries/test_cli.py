"""`nokor registries ...` as an operator runs it, and the demo registries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.registries.factories import SME_SCHEMA, business
from tests.test_cli import Nokor

pytestmark = pytest.mark.slow


@pytest.fixture
def nokor(tmp_path: Path) -> Nokor:
    runner = Nokor(tmp_path)
    runner("db", "upgrade")
    return runner


def test_create_import_export_from_the_command_line(nokor: Nokor, tmp_path: Path):
    schema = tmp_path / "sme.json"
    schema.write_text(json.dumps(SME_SCHEMA))
    created = nokor("registries", "create", "sme", "--schema", str(schema), "--publish")
    assert "version 1.0 published" in created.stdout
    source = tmp_path / "sme.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in [business(1), business(2, employees=-1), business(3)]))
    refused = nokor("registries", "import", "sme", str(source), check=False)
    assert refused.returncode == 2
    assert "row 2 /employees" in refused.stderr and "nothing was imported" in refused.stderr
    assert nokor.rows("SELECT count(*) FROM registries_record") == [(0,)]
    done = nokor("registries", "import", "sme", str(source), "--skip-invalid")
    assert "2 records imported" in done.stdout and "1 rejected" in done.stdout
    assert "row" in (tmp_path / "sme.rejected.jsonl").read_text()
    out = tmp_path / "out.csv"
    exported = nokor("registries", "export", "sme", str(out))
    assert "2 records" in exported.stdout
    lines = out.read_text().splitlines()
    assert lines[0].startswith("registration_number,name,province") and len(lines) == 3
    assert "owner_name" not in lines[0]


def test_demo_load_adds_the_sme_and_health_facility_registries(nokor: Nokor):
    first = nokor("demo", "load")
    assert "registry sme: 60 records" in first.stdout and "registry health-facilities" in first.stdout
    nokor("demo", "load")
    counts = dict(nokor.rows("SELECT r.name, count(*) FROM registries_record x JOIN registries_registry r "
                             "ON r.id = x.registry_id GROUP BY r.name"))
    assert counts == {"sme": 60, "health-facilities": 77}
    # The SME register gets version 2.0 (owners by their 12-digit national ID number) once; the demo's
    # records stay under 1.0, which stays published.
    versions = sorted(nokor.rows(
        "SELECT v.version, v.state, (SELECT count(*) FROM registries_record x WHERE x.schema_version_id = v.id) "
        "FROM registries_schema_version v JOIN registries_registry r ON r.id = v.registry_id WHERE r.name = 'sme'"))
    assert [tuple(v) for v in versions] == [("1.0", "published", 60), ("2.0", "published", 0)]
    provinces = {json.loads(d)["province"] for (d,) in nokor.rows("SELECT data FROM registries_record")}
    assert {"Phnom Penh", "Siem Reap", "Battambang", "Kep", "Tboung Khmum"} <= provinces
