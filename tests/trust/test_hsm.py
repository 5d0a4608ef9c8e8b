"""The PKCS#11 path with SoftHSM2: the whole hierarchy's keys live in the token and never leave it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from cryptography import x509
from pydantic import SecretStr
from tests.trust.conftest import SYSTEM, birth_certificate_pdf

from nokor import trust
from nokor.config import Settings

SOFTHSM_UTIL = shutil.which("softhsm2-util")
MODULE = "/usr/lib/softhsm/libsofthsm2.so"
# CI installs softhsm2 (see .ci/run); only a developer machine without it may skip.
pytestmark = pytest.mark.skipif(SOFTHSM_UTIL is None and not os.environ.get("CI"),
                                reason="softhsm2-util is not installed")


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run([str(SOFTHSM_UTIL), "--init-token", "--free", "--label", "nokor-test", "--pin", "1234",
                    "--so-pin", "5678"], check=True, capture_output=True)
    yield {"label": "nokor-test", "pin": "1234"}
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture
def hsm_settings(settings: Settings, token: dict[str, str]) -> Settings:
    return settings.model_copy(update={
        "trust_key_backend": "pkcs11", "trust_pkcs11_module": MODULE, "trust_pkcs11_token": token["label"],
        "trust_pkcs11_pin": SecretStr(token["pin"])})


def test_hierarchy_signing_and_revocation_with_keys_in_the_hsm(db, hsm_settings: Settings):
    ring = trust.key_ring(hsm_settings)
    made = trust.init_hierarchy(db, SYSTEM, ring=ring)
    assert made.root.pem and all(c.serial for c in made.issuing)
    # No key file was written: every key reference points into the token.
    assert not (hsm_settings.data_dir / "trust" / "keys").exists()
    root = x509.load_pem_x509_certificate(made.root.pem.encode())
    for ca in made.issuing:
        x509.load_pem_x509_certificate(ca.pem.encode()).verify_directly_issued_by(root)

    signed = trust.sign_pdf(db, SYSTEM, ring=ring, data=birth_certificate_pdf())
    assert trust.verify_pdf(db, data=signed.pdf).holds
    token = trust.sign_json(db, SYSTEM, ring=ring, payload=b'{"nid":"1"}')
    assert trust.verify_jws(db, token=token.jws).holds

    trust.set_certificate_status(db, SYSTEM, ring=ring, serial=made.platform_seal.serial, status="revoked")
    crl = x509.load_der_x509_crl(trust.current_crl(db, ring=ring, slug="documents"))
    documents_ca = next(x509.load_pem_x509_certificate(c.pem.encode())
                        for c in made.issuing if c.kind == "documents_ca")
    assert crl.is_signature_valid(documents_ca.public_key())
    assert crl.get_revoked_certificate_by_serial_number(int(made.platform_seal.serial, 16)) is not None
    assert trust.verify_pdf(db, data=signed.pdf).holds  # timestamped before the revocation
