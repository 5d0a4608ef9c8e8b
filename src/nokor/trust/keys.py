"""Access to private keys behind one small interface: an encrypted key file or a PKCS#11 (HSM) key.

Signing code (certificates, CRLs, OCSP answers, timestamps, PDF and JSON signatures) only ever asks a
``SigningKey`` for its public key and for a signature over a digest, so where the key lives is a
setting, not a code path.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

Curve = Literal["secp256r1", "secp384r1"]
HASH_FOR_CURVE: dict[str, str] = {"secp256r1": "sha256", "secp384r1": "sha384"}
SignatureHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512
_HASHES: dict[str, type[SignatureHash]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}


class KeyUnavailable(Exception):
    """A key cannot be created or opened (wrong passphrase, missing file, HSM not reachable)."""


def hash_algorithm(name: str) -> SignatureHash:
    try:
        return _HASHES[name]()
    except KeyError as exc:
        raise KeyUnavailable(f"unsupported digest {name}") from exc


def digest(data: bytes, name: str) -> bytes:
    return hashlib.new(name, data).digest()


class SigningKey(Protocol):
    """A private key that signs digests; the private half may never leave its store."""

    ref: str
    curve: Curve

    def public_key(self) -> ec.EllipticCurvePublicKey: ...

    def sign_digest(self, digest_bytes: bytes, hash_name: str) -> bytes:
        """An ECDSA signature (DER ``Ecdsa-Sig-Value``) over an already computed digest."""
        ...


def sign_data(key: SigningKey, data: bytes, hash_name: str) -> bytes:
    """Hash ``data`` and sign the digest with ``key``."""
    return key.sign_digest(digest(data, hash_name), hash_name)


def der_to_raw_ecdsa(signature: bytes, curve: Curve) -> bytes:
    """DER ``Ecdsa-Sig-Value`` → fixed-width r‖s, as JWS (RFC 7518) wants it."""
    r, s = utils.decode_dss_signature(signature)
    size = 32 if curve == "secp256r1" else 48
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


# --- encrypted key files ----------------------------------------------------------------------


@dataclass
class FileKey:
    """A key held in memory, read from a PKCS#8 file encrypted with the platform's key passphrase."""

    ref: str
    curve: Curve
    private: ec.EllipticCurvePrivateKey

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private.public_key()

    def sign_digest(self, digest_bytes: bytes, hash_name: str) -> bytes:
        return self.private.sign(digest_bytes, ec.ECDSA(utils.Prehashed(hash_algorithm(hash_name))))


def derive_passphrase(secret: str) -> bytes:
    """The passphrase of key files, derived from the platform secret so that no second secret is needed."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"nokor-trust", info=b"key files")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


class FileKeyStore:
    """Key files under ``folder``, each encrypted (AES-256, PBKDF2) with ``passphrase``."""

    def __init__(self, folder: Path, passphrase: bytes) -> None:
        self.folder = folder
        self.passphrase = passphrase
        self._cache: dict[str, FileKey] = {}
        self._lock = threading.Lock()

    def _path(self, label: str) -> Path:
        return self.folder / f"{label}.key.pem"

    def exists(self, label: str) -> bool:
        return self._path(label).exists()

    def generate(self, label: str, curve: Curve) -> FileKey:
        private = ec.generate_private_key(ec.SECP256R1() if curve == "secp256r1" else ec.SECP384R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self.passphrase),
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(label)
        # "x": never overwrite a key that exists; a CA key lost this way could not be recovered.
        try:
            with path.open("xb") as fh:
                fh.write(pem)
        except FileExistsError as exc:
            raise KeyUnavailable(f"key file {path} already exists") from exc
        path.chmod(0o600)
        key = FileKey(ref=f"file:{label}", curve=curve, private=private)
        with self._lock:
            self._cache[label] = key
        return key

    def load(self, label: str) -> FileKey:
        with self._lock:
            cached = self._cache.get(label)
        if cached is not None:
            return cached
        path = self._path(label)
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=self.passphrase)
        except FileNotFoundError as exc:
            raise KeyUnavailable(f"key file {path} is missing") from exc
        except (ValueError, TypeError) as exc:
            raise KeyUnavailable(f"key file {path} cannot be opened with the configured passphrase") from exc
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise KeyUnavailable(f"key file {path} does not hold an EC key")
        curve: Curve = "secp384r1" if private.curve.name == "secp384r1" else "secp256r1"
        key = FileKey(ref=f"file:{label}", curve=curve, private=private)
        with self._lock:
            self._cache[label] = key
        return key


# --- PKCS#11 ----------------------------------------------------------------------------------


@dataclass
class Pkcs11Key:
    """A key that lives in a PKCS#11 token; only digests go in and signatures come out."""

    ref: str
    curve: Curve
    store: Pkcs11KeyStore
    label: str
    _public: ec.EllipticCurvePublicKey

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def sign_digest(self, digest_bytes: bytes, hash_name: str) -> bytes:
        return self.store.sign(self.label, digest_bytes)


class Pkcs11KeyStore:
    """EC keys in one token of a PKCS#11 module (SoftHSM2 in tests, a network HSM in production)."""

    def __init__(self, module: str, token_label: str, pin: str) -> None:
        self.module = module
        self.token_label = token_label
        self.pin = pin
        self._session: Any = None
        self._lock = threading.RLock()
        self._keys: dict[str, Any] = {}

    def _open(self) -> Any:
        import pkcs11

        if self._session is None:
            try:
                lib = pkcs11.lib(self.module)
                token = lib.get_token(token_label=self.token_label)
                self._session = token.open(user_pin=self.pin, rw=True)
            except Exception as exc:  # the library raises many unrelated types for "not reachable"
                raise KeyUnavailable(f"PKCS#11 token {self.token_label!r} cannot be opened: {exc!r}") from exc
        return self._session

    def exists(self, label: str) -> bool:
        import pkcs11

        with self._lock:
            session = self._open()
            found = list(session.get_objects({pkcs11.Attribute.LABEL: label,
                                              pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY}))
        return bool(found)

    def generate(self, label: str, curve: Curve) -> Pkcs11Key:
        import pkcs11
        from pkcs11.util.ec import encode_named_curve_parameters

        with self._lock:
            if self.exists(label):
                raise KeyUnavailable(f"the token already holds a key labelled {label!r}")
            session = self._open()
            params = session.create_domain_parameters(
                pkcs11.KeyType.EC, {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True)
            params.generate_keypair(store=True, label=label, id=label.encode(),
                                    private_template={pkcs11.Attribute.SENSITIVE: True,
                                                      pkcs11.Attribute.EXTRACTABLE: False})
        return self.load(label)

    def load(self, label: str) -> Pkcs11Key:
        import pkcs11
        from pkcs11.util.ec import encode_ec_public_key

        with self._lock:
            session = self._open()
            try:
                private = session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=label)
                public = session.get_key(object_class=pkcs11.ObjectClass.PUBLIC_KEY, label=label)
            except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned) as exc:
                raise KeyUnavailable(f"the token holds no single key labelled {label!r}") from exc
            self._keys[label] = private
            spki = serialization.load_der_public_key(encode_ec_public_key(public))
        if not isinstance(spki, ec.EllipticCurvePublicKey):
            raise KeyUnavailable(f"token key {label!r} is not an EC key")
        curve: Curve = "secp384r1" if spki.curve.name == "secp384r1" else "secp256r1"
        return Pkcs11Key(ref=f"pkcs11:{label}", curve=curve, store=self, label=label, _public=spki)

    def sign(self, label: str, digest_bytes: bytes) -> bytes:
        import pkcs11
        from pkcs11.util.ec import encode_ecdsa_signature

        with self._lock:
            private = self._keys.get(label)
            if private is None:
                self.load(label)
                private = self._keys[label]
            raw = private.sign(digest_bytes, mechanism=pkcs11.Mechanism.ECDSA)
        return bytes(encode_ecdsa_signature(raw))


class KeyStore(Protocol):
    def exists(self, label: str) -> bool: ...
    def generate(self, label: str, curve: Curve) -> SigningKey: ...
    def load(self, label: str) -> SigningKey: ...


def open_key(stores: dict[str, KeyStore], ref: str) -> SigningKey:
    """The key named by a reference such as ``file:documents-ca`` or ``pkcs11:documents-ca``."""
    kind, _sep, label = ref.partition(":")
    store = stores.get(kind)
    if store is None:
        raise KeyUnavailable(f"no key store {kind!r} is configured for key {ref}")
    return store.load(label)
