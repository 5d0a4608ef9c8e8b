"""An agency system authenticates at the gateway with the client certificate the trust services issued
it (mutual TLS), instead of an API key; a revoked certificate no longer opens the door."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.exchange.conftest import SYSTEM, ServerThread, grant, publish

from nokor import exchange, trust
from nokor.exchange import operations
from nokor.exchange.credentials import ensure_credentials, unencrypted_key_file
from nokor.exchange.tls import MutualTlsProtocol

SERVICE = "KH/GOV/MOI/population/persons"
CLIENT = "KH/GOV/MOH/hospital"


class TlsServerThread(ServerThread):
    """The app served over TLS, asking for (not requiring) a client certificate, as `nokor serve --tls`."""

    def __init__(self, app, settings, credentials) -> None:  # type: ignore[no-untyped-def]
        super().__init__(app)
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="error", lifespan="on",
            ssl_certfile=str(credentials.fullchain_path), ssl_keyfile=str(unencrypted_key_file(settings, credentials)),
            ssl_ca_certs=str(credentials.root_path), ssl_cert_reqs=ssl.CERT_OPTIONAL, http=MutualTlsProtocol))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.root = credentials.root_path


@pytest.fixture
def tls_server(app, db, settings, pki) -> Iterator[TlsServerThread]:  # type: ignore[no-untyped-def]
    credentials = ensure_credentials(db, settings)
    db.commit()
    server = TlsServerThread(app, settings, credentials).start()
    yield server
    server.stop()


def _client_certificate(db, settings, folder: Path) -> tuple[Path, Path, str]:  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CLIENT)])).sign(key, hashes.SHA256()))
    issued = trust.issue_agency_certificate(db, SYSTEM, ring=trust.key_ring(settings), identity=CLIENT,
                                            csr_pem=csr.public_bytes(serialization.Encoding.PEM).decode())
    db.commit()
    cert_path, key_path = folder / "client.pem", folder / "client.key"
    agencies = x509.load_der_x509_certificate(trust.ca_certificate(db, slug="agencies"))
    cert_path.write_text(issued.pem.strip() + "\n" + agencies.public_bytes(serialization.Encoding.PEM).decode())
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    db.rollback()
    return cert_path, key_path, issued.serial


def _tls_client(server: TlsServerThread, cert: tuple[Path, Path] | None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(server.root))
    context.check_hostname = False
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    return httpx.Client(base_url=f"https://127.0.0.1:{server.port}", verify=context, timeout=20)


def test_a_client_certificate_authenticates_and_a_revoked_one_does_not(db, settings, provider, tls_server, tmp_path):
    publish(db, provider.url)
    grant(db, SERVICE, CLIENT)
    cert_path, key_path, serial = _client_certificate(db, settings, tmp_path)
    with _tls_client(tls_server, (cert_path, key_path)) as client:
        answer = client.get(f"/r1/{SERVICE}/persons/7", headers={"X-Road-Client": CLIENT})
        assert answer.status_code == 200, answer.text
        assert answer.json()["seen_headers"]["x-road-client"] == CLIENT
        forged = client.get(f"/r1/{SERVICE}/persons/7", headers={"X-Road-Client": "KH/GOV/MOI/police"})
        assert forged.json()["code"] == "Server.ClientProxy.ForgedClientIdentifier"
    with _tls_client(tls_server, None) as anonymous:
        assert anonymous.get(f"/r1/{SERVICE}/persons/7").json()["code"] == "Server.ClientProxy.AuthenticationFailed"
    trust.set_certificate_status(db, SYSTEM, ring=trust.key_ring(settings), serial=serial, status="revoked",
                                 reason="the hospital's server was stolen")
    db.commit()
    time.sleep(2.2)  # the gateway's certificate cache lasts exchange_cache_seconds
    with _tls_client(tls_server, (cert_path, key_path)) as client:
        refused = client.get(f"/r1/{SERVICE}/persons/7", headers={"X-Road-Client": CLIENT})
        assert refused.status_code == 401


def _foreign_gateway(folder: Path, identity: str) -> tuple[str, Path, Path]:
    """Another instance's root (PEM) and a gateway certificate and key it issued, as files."""
    now = datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LT root")])
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
            .issuer_name(root_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    cert_path, key_path = folder / "lt-gateway.pem", folder / "lt-gateway.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return root.public_bytes(serialization.Encoding.PEM).decode(), cert_path, key_path


def test_an_instance_trusted_while_the_server_runs_is_accepted_without_a_restart(db, settings, tls_server,
                                                                                 tmp_path):
    gateway = "LT/GOV/NOKOR/gateway"
    root_pem, cert_path, key_path = _foreign_gateway(tmp_path, gateway)
    with _tls_client(tls_server, (cert_path, key_path)) as client, pytest.raises(httpx.TransportError):
        client.get("/listClients", headers={"X-Road-Client": "LT/GOV/POST/parcels"})  # TLS refuses an unknown root
    # what `nokor exchange trust lt.json` (or POST /api/v1/exchange/peers) does, while the server keeps running
    exchange.add_peer(db, SYSTEM, data=exchange.PeerCreate(instance="LT", gateway_url="https://127.0.0.1:9",
                                                           server_identity=gateway, root_pem=root_pem),
                      own_instance="KH")
    operations.refresh_trusted_roots(db, settings)
    db.commit()
    with _tls_client(tls_server, (cert_path, key_path)) as client:
        answer = client.get("/listClients", headers={"X-Road-Client": "LT/GOV/POST/parcels"})
        assert answer.status_code == 200, answer.text
        forged = client.get("/listClients", headers={"X-Road-Client": "KH/GOV/MOH/hospital"})
        assert forged.json()["code"] == "Server.ClientProxy.ForgedClientIdentifier"
