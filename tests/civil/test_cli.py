"""``nokor civil check-id``."""

from __future__ import annotations

from typer.testing import CliRunner

from nokor import civil
from nokor.cli import app


def test_check_id_exit_codes() -> None:
    good = civil.generate_nin()
    assert CliRunner().invoke(app, ["civil", "check-id", good]).exit_code == 0
    bad = CliRunner().invoke(app, ["civil", "check-id", good[:-1] + str((int(good[-1]) + 1) % 10)])
    assert bad.exit_code == 1 and "check digit" in bad.output
