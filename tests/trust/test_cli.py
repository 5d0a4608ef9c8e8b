"""`nokor trust ...` as an operator runs it: a real process on a SQLite file and data dir of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.trust.conftest import birth_certificate_pdf

NOKOR = Path(sys.executable).with_name("nokor")
pytestmark = pytest.mark.slow


@pytest.fixture
def nokor(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOKOR_")}
    env.update({"NOKOR_DATA_DIR": str(tmp_path / "var"), "NOKOR_DATABASE_URL": f"sqlite:///{tmp_path / 'nokor.db'}",
                "NOKOR_LOG_LEVEL": "WARNING", "COLUMNS": "250"})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(NOKOR), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)

    assert run("db", "upgrade").returncode == 0
    return run


def test_init_sign_verify_and_refusals(nokor, tmp_path: Path):
    first = nokor("trust", "init")
    assert first.returncode == 0, first.stderr
    assert "trust hierarchy created" in first.stdout
    again = nokor("trust", "init")
    assert again.returncode == 2 and "exists already" in again.stderr

    (tmp_path / "in.pdf").write_bytes(birth_certificate_pdf())
    signed = nokor("trust", "sign-pdf", "in.pdf", "out.pdf")
    assert signed.returncode == 0, signed.stderr
    ok = nokor("trust", "verify", "out.pdf")
    assert ok.returncode == 0 and "Every signature holds." in ok.stdout

    data = (tmp_path / "out.pdf").read_bytes()
    position = data.index(b"Sok Dara")
    (tmp_path / "altered.pdf").write_bytes(data[:position] + b"X" + data[position + 1:])
    altered = nokor("trust", "verify", "altered.pdf")
    assert altered.returncode == 1 and "changed after it was signed" in altered.stdout

    (tmp_path / "notes.txt").write_text("not a signature")
    garbage = nokor("trust", "verify", "notes.txt")
    assert garbage.returncode == 2 and "not a compact JWS" in garbage.stderr


def test_demo_load_leaves_a_hierarchy_and_a_seal_that_signs(nokor, tmp_path: Path):
    first = nokor("demo", "load")
    assert first.returncode == 0, first.stderr
    [line] = [x for x in first.stdout.splitlines() if x.startswith("trust services:")]
    assert "hierarchy made" in line and "seal of MOI-GDI" in line and "certificate_officer" in line
    second = nokor("demo", "load")
    assert second.returncode == 0 and "trust services:" not in second.stdout
    listed = nokor("trust", "certificates")
    assert listed.stdout.count("root_ca") == 1 and listed.stdout.count("seal") == 2  # the platform's and MOI-GDI's
    (tmp_path / "in.pdf").write_bytes(birth_certificate_pdf())
    signed = nokor("trust", "sign-pdf", "in.pdf", "out.pdf", "--org", "MOI-GDI")
    assert signed.returncode == 0, signed.stderr
    ok = nokor("trust", "verify", "out.pdf")
    assert ok.returncode == 0 and "General Department of Identification Seal" in ok.stdout
