"""`nokor payments qr ...` as an operator runs it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nokor.cli import app

EXPIRED = ("00020101021229180014vandoeurn@devb52045999530384054031015802KH5909Vandoeurn6010Phnom Penh"
           "9934001317272493649740113172724948497463047BD0")


class TestQrDecode:
    def test_prints_the_fields_as_json(self) -> None:
        done = CliRunner().invoke(app, ["payments", "qr", "decode", EXPIRED])
        assert done.exit_code == 0
        out = json.loads(done.output)
        assert out["scheme"] == "KHQR" and out["fields"]["29"] == {"00": "vandoeurn@devb"}
        assert out["currency"] == "USD" and out["amount_minor"] == 10100

    def test_strict_names_the_expiry_and_exits_1(self) -> None:
        done = CliRunner().invoke(app, ["payments", "qr", "decode", "--strict", EXPIRED])
        assert done.exit_code == 1
        assert [r["khqr_error"] for r in json.loads(done.output)["broken_rules"]] == [46]

    def test_at_fixes_the_clock(self) -> None:
        done = CliRunner().invoke(app, ["payments", "qr", "decode", "--strict", "--at", "2024-09-25T07:30:00Z",
                                        EXPIRED])
        assert done.exit_code == 0 and json.loads(done.output)["valid"] is True

    def test_bad_crc_exits_1(self) -> None:
        done = CliRunner().invoke(app, ["payments", "qr", "decode", EXPIRED[:-4] + "FFFF"])
        assert done.exit_code == 1
        assert json.loads(done.output)["broken_rules"][0]["code"] == "crc_mismatch"


def test_qr_image_writes_svg_and_png(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["payments", "qr", "image", EXPIRED, "--out", str(tmp_path / "a.svg")]).exit_code == 0
    assert runner.invoke(app, ["payments", "qr", "image", EXPIRED, "--out", str(tmp_path / "a.png")]).exit_code == 0
    assert (tmp_path / "a.svg").read_text().startswith("<svg")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
