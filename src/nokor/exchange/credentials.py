"""The gateway's own key and certificate: it signs message-log batches with them and shows them in
mutual TLS to federated instances. The certificate is issued by the trust services' agency CA."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.orm import Session

from nokor import trust
from nokor.config import Settings
from nokor.kit.actor import Actor


@dataclass(frozen=True)
class GatewayCredentials:
    """The gateway's key, its certificate, the chain up to (and with) its root, and the file paths."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key_path: Path
    cert_path: Path
    chain_path: Path
    root_path: Path

    @property
    def fullchain_path(self) -> Path:
        return self.cert_path.with_name("gateway-fullchain.pem")

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def root(self) -> x509.Certificate:
        return self.chain[-1]

    def sign(self, data: bytes) -> bytes:
        """An ECDSA (SHA-256) signature, DER encoded."""
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))


def _folder(settings: Settings) -> Path:
    return settings.data_dir / "exchange"


def _passphrase(settings: Settings) -> bytes:
    return hashlib.sha256(b"nokor-exchange-key:" + settings.effective_secret_key.encode()).hexdigest().encode()


_cache: dict[str, GatewayCredentials] = {}
_lock = threading.Lock()


def load_credentials(settings: Settings) -> GatewayCredentials | None:
    """The gateway's credentials from the data dir, or None when they were never made."""
    folder = _folder(settings)
    cached = _cache.get(str(folder))
    if cached is not None:
        return cached
    paths = [folder / n for n in ("gateway-key.pem", "gateway-cert.pem", "gateway-chain.pem", "trusted-roots.pem")]
    if not all(p.exists() for p in paths[:3]):
        return None
    key = serialization.load_pem_private_key(paths[0].read_bytes(), password=_passphrase(settings))
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert = x509.load_pem_x509_certificate(paths[1].read_bytes())
    chain = tuple(x509.load_pem_x509_certificates(paths[2].read_bytes()))
    found = GatewayCredentials(key=key, certificate=cert, chain=chain, key_path=paths[0], cert_path=paths[1],
                               chain_path=paths[2], root_path=paths[3])
    _cache[str(folder)] = found
    return found


def ensure_credentials(session: Session, settings: Settings) -> GatewayCredentials:
    """The gateway's credentials, made the first time: a P-256 key (encrypted on disk) and a certificate
    for ``settings.gateway_identity`` from the agency CA. Needs the trust hierarchy (``nokor trust init``)."""
    with _lock:
        found = load_credentials(settings)
        if found is not None:
            return found
        folder = _folder(settings)
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        identity = settings.gateway_identity
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
               .sign(key, hashes.SHA256()))
        issued = trust.issue_agency_certificate(
            session, Actor.system("exchange"), ring=trust.key_ring(settings),
            csr_pem=csr.public_bytes(serialization.Encoding.PEM).decode(), identity=identity)
        agencies = x509.load_der_x509_certificate(trust.ca_certificate(session, slug="agencies"))
        root = x509.load_der_x509_certificate(trust.ca_certificate(session, slug="root"))
        key_path = folder / "gateway-key.pem"
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.BestAvailableEncryption(_passphrase(settings))))
        key_path.chmod(0o600)
        (folder / "gateway-cert.pem").write_text(issued.pem)
        (folder / "gateway-chain.pem").write_bytes(b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in (agencies, root)))
        # What the gateway shows in TLS: its certificate and the agency CA, so peers can reach the root.
        (folder / "gateway-fullchain.pem").write_text(
            issued.pem.strip() + "\n" + agencies.public_bytes(serialization.Encoding.PEM).decode())
        write_trusted_roots(settings, [root.public_bytes(serialization.Encoding.PEM).decode()])
        found = load_credentials(settings)
        assert found is not None
        return found


def write_trusted_roots(settings: Settings, pems: list[str]) -> Path:
    """Write the roots whose certificates the TLS server accepts (own root first, then federated ones)."""
    folder = _folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trusted-roots.pem"
    path.write_text("".join(p.strip() + "\n" for p in pems))
    return path


def unencrypted_key_file(settings: Settings, credentials: GatewayCredentials) -> Path:
    """The key in a file only the owner can read, for the TLS libraries that need it plain (uvicorn, httpx)."""
    path = _folder(settings) / "gateway-key.tls.pem"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_bytes(credentials.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return path
