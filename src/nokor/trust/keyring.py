"""The key stores and public addresses one Nokor process signs with, built from its settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from nokor.config import Settings
from nokor.trust.keys import FileKeyStore, KeyStore, Pkcs11KeyStore, SigningKey, derive_passphrase, open_key
from nokor.trust.pki import Publication


@dataclass
class KeyRing:
    """Where new keys are made (``backend``), how existing ones are opened, and the site's addresses."""

    stores: dict[str, KeyStore]
    backend: str
    publication: Publication
    organisation: str

    @property
    def store(self) -> KeyStore:
        return self.stores[self.backend]

    def open(self, ref: str) -> SigningKey:
        return open_key(self.stores, ref)


_rings: dict[tuple[str, ...], KeyRing] = {}
_lock = threading.Lock()


def key_ring(settings: Settings) -> KeyRing:
    """The key ring of these settings (one per process and configuration, so opened keys are reused)."""
    passphrase = (settings.trust_key_passphrase.get_secret_value() if settings.trust_key_passphrase
                  else None)
    pin = settings.trust_pkcs11_pin.get_secret_value() if settings.trust_pkcs11_pin else ""
    cache_key = (str(settings.data_dir.resolve()), settings.trust_key_backend, settings.trust_pkcs11_module,
                 settings.trust_pkcs11_token, settings.base_url, settings.site_name, passphrase or "", pin)
    with _lock:
        ring = _rings.get(cache_key)
        if ring is None:
            secret = passphrase.encode() if passphrase else derive_passphrase(settings.effective_secret_key)
            stores: dict[str, KeyStore] = {"file": FileKeyStore(settings.data_dir / "trust" / "keys", secret)}
            if settings.trust_key_backend == "pkcs11":
                stores["pkcs11"] = Pkcs11KeyStore(settings.trust_pkcs11_module, settings.trust_pkcs11_token, pin)
            ring = KeyRing(stores=stores, backend=settings.trust_key_backend,
                           publication=Publication(settings.base_url), organisation=settings.site_name)
            _rings[cache_key] = ring
    return ring
