"""The message log: chained, signed and timestamped in batches; archived into containers that
`nokor exchange verify-archive` checks offline, naming a record that was tampered with."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import httpx
from tests.conftest import issue_key
from tests.exchange.conftest import SYSTEM, grant, publish

from nokor import exchange
from nokor.exchange import evidence
from nokor.exchange.messagelog import wait_until_written
from nokor.exchange.models import LogBatch, LogRecord
from nokor.kit.time import utcnow

SERVICE = "KH/GOV/MOI/population/persons"
CLIENT = "KH/GOV/MOH/hospital"
ROOT = Path(__file__).resolve().parents[2]


def _calls(db, app, provider, nokor_server, n: int = 5, log_bodies: bool = True) -> None:  # type: ignore[no-untyped-def]
    key = issue_key(db, permissions=[], identity=CLIENT)
    exchange.ensure_subsystem(db, SYSTEM, identifier=CLIENT, name="Hospital")
    db.commit()
    publish(db, provider.url, log_bodies=log_bodies)
    grant(db, SERVICE, CLIENT)
    with httpx.Client(base_url=nokor_server.url, headers={"Authorization": f"Bearer {key}"}) as client:
        for i in range(n):
            assert client.post(f"/r1/{SERVICE}/echo", content=f"body {i}".encode()).status_code == 200
    wait_until_written(app.state.exchange.log)


def _verify_cli(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "nokor"), "exchange", "verify-archive", str(path), *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


class TestLog:
    def test_records_are_chained_signed_and_timestamped(self, db, app, provider, nokor_server):
        _calls(db, app, provider, nokor_server)
        db.expire_all()
        rows = list(db.query(LogRecord).order_by(LogRecord.seq))
        assert len(rows) == 5
        assert [r.prev_hash for r in rows[1:]] == [r.record_hash for r in rows[:-1]]
        batches = list(db.query(LogBatch))
        assert batches and all(b.signature and b.timestamp_token for b in batches)
        assert rows[0].data["request_digest"].startswith("sha256:") and rows[0].data["request_body"]


class TestArchive:
    def test_a_container_verifies_offline_and_tampering_is_named(self, db, app, provider, nokor_server, settings,
                                                               tmp_path):
        _calls(db, app, provider, nokor_server)
        path, count, batches = evidence.archive_log(db, settings, before=utcnow() + timedelta(days=1),
                                                    folder=tmp_path / "archive")
        db.commit()
        assert path is not None and count == 5 and batches >= 1
        assert db.query(LogRecord).count() == 0  # moved out of the database
        report = evidence.verify_archive(path)
        assert report.holds, report.problems
        assert report.timestamps == batches
        result = _verify_cli(path, "--root", str(settings.data_dir / "exchange" / "trusted-roots.pem"))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "holds: 5 records" in result.stdout

        tampered = tmp_path / "tampered.zip"
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
            for name in source.namelist():
                data = source.read(name)
                if name == "records.jsonl":
                    lines = data.decode().splitlines()
                    record = json.loads(lines[2])
                    record["status"] = 404
                    lines[2] = json.dumps(record, sort_keys=True)
                    data = ("\n".join(lines) + "\n").encode()
                target.writestr(name, data)
        result = _verify_cli(tampered)
        assert result.returncode == 1
        assert f"#{record['seq']}" in result.stdout and "was altered" in result.stdout
        assert "records.jsonl was changed" in result.stdout

    def test_a_wrong_root_is_reported(self, db, app, provider, nokor_server, settings, tmp_path):
        _calls(db, app, provider, nokor_server, n=2, log_bodies=False)
        path, _count, _batches = evidence.archive_log(db, settings, before=utcnow() + timedelta(days=1),
                                                      folder=tmp_path)
        assert path is not None
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Someone else")])
        other = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                 .serial_number(1).not_valid_before(utcnow()).not_valid_after(utcnow() + timedelta(days=1))
                 .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                 .sign(key, hashes.SHA256()))
        report = evidence.verify_archive(path, root_pem=other.public_bytes(serialization.Encoding.PEM))
        assert not report.holds
        assert "the container's root is not the root you trust" in report.problems

    def test_nothing_to_archive(self, db, settings, tmp_path, pki):
        assert evidence.archive_log(db, settings, before=utcnow(), folder=tmp_path) == (None, 0, 0)

    def test_a_file_that_is_not_a_container(self, tmp_path):
        junk = tmp_path / "junk.zip"
        junk.write_bytes(b"not a zip")
        result = _verify_cli(junk)
        assert result.returncode == 1 and "not a readable container" in result.stdout
