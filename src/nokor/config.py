"""One typed settings object for the whole platform.

Every option is read from the environment with the prefix ``NOKOR_`` (or from a ``.env`` file) and
carries a description, so ``nokor config show`` can explain what each one does.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCALES: tuple[str, ...] = ("km", "en", "ar", "de")
RTL_LOCALES: frozenset[str] = frozenset({"ar"})


class Settings(BaseSettings):
    """The effective configuration of one Nokor process."""

    model_config = SettingsConfigDict(env_prefix="NOKOR_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development",
        description="Where this process runs; production refuses to start without an https base URL and "
        "always sends Secure cookies and HSTS.",
    )
    data_dir: Path = Field(
        Path("./var"),
        description="Folder for the SQLite database, the generated secret key, uploads and key files.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database; empty means a SQLite file nokor.db in the data dir. "
        "PostgreSQL: postgresql+psycopg://user@host/dbname.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key for signing cookies and tokens; when unset it is generated once into "
        "DATA_DIR/secret_key and reused.",
    )
    site_name: str = Field("Nokor", description="Name shown in the page header and e-mails.")
    base_url: str = Field("http://127.0.0.1:8000", description="Public address of the site, used in links.")
    default_locale: Literal["km", "en", "ar", "de"] = Field(
        "km", description="Language of pages when the reader has not chosen one."
    )
    timezone: str = Field("Asia/Phnom_Penh", description="Zone in which times are shown to people.")
    currency: str = Field("KHR", description="ISO 4217 code of the default currency.")
    force_https: bool = Field(
        False,
        description="Treat every request as TLS: Secure cookies and HSTS even when the proxy does not "
        "say https.",
    )
    trusted_proxies: str = Field(
        "127.0.0.1",
        description="Comma-separated addresses whose X-Forwarded-For/Proto headers are believed.",
    )
    max_body_bytes: int = Field(
        1_048_576, description="Largest request body accepted, in bytes; larger bodies get 413."
    )
    session_hours: int = Field(8, description="How long an officer's login session lasts without use.")
    api_key_cache_seconds: float = Field(2.0, ge=0, description="How long a process trusts an API key it checked "
                                         "against the database (0: check at every call); a key revoked in this "
                                         "process stops working at once, in others within this time.")
    login_max_failures: int = Field(
        5, description="Failed logins in a row after which an officer account is locked."
    )
    login_lockout_minutes: int = Field(15, description="How long a locked officer account stays locked.")
    login_rate_per_minute: int = Field(
        20, description="Login attempts allowed from one client address per minute."
    )
    outbox_max_attempts: int = Field(
        8, description="Delivery attempts before an outbox message is moved to the dead letters."
    )
    outbox_backoff_seconds: float = Field(
        2.0, description="First retry delay of an outbox message; it doubles with every failed attempt."
    )
    outbox_batch_size: int = Field(50, description="Outbox messages the worker claims at a time.")
    outbox_lease_seconds: int = Field(
        120, description="How long a claimed message stays reserved before another worker may retry it."
    )
    worker_poll_seconds: float = Field(1.0, description="How often the worker looks for due messages.")
    audit_seal_seconds: float = Field(
        2.0, description="How often the worker seals newly written audit entries into the hash chain."
    )
    webhook_timeout_seconds: float = Field(10.0, description="Time limit of one webhook delivery.")
    trust_key_backend: Literal["file", "pkcs11"] = Field(
        "file", description="Where new signing keys of the trust services are made: encrypted files in the data "
        "dir, or a PKCS#11 HSM token."
    )
    trust_key_passphrase: SecretStr | None = Field(
        None, description="Passphrase of the trust services' key files; when unset it is derived from the secret key."
    )
    trust_pkcs11_module: str = Field(
        "/usr/lib/softhsm/libsofthsm2.so", description="PKCS#11 library of the HSM (trust_key_backend=pkcs11)."
    )
    trust_pkcs11_token: str = Field("nokor", description="Label of the HSM token that holds the signing keys.")
    trust_pkcs11_pin: SecretStr | None = Field(None, description="User PIN of the HSM token.")
    trust_public_rate_per_minute: int = Field(
        30, description="Verification uploads and timestamp requests allowed from one client address per minute."
    )
    payments_webhook_secret: SecretStr | None = Field(
        None, description="Shared secret of the HMAC-SHA256 signature on payment provider callbacks; when unset it "
        "is derived from the secret key (the sandbox bank started by `make run` derives the same)."
    )
    payments_bakong_url: str = Field(
        "http://127.0.0.1:8070", description="Base URL of the Bakong-style provider API (status checks by MD5); "
        "the sandbox bank listens here by default."
    )
    payments_bakong_token: SecretStr | None = Field(None, description="Bearer token for the Bakong-style API.")
    payments_qr_minutes: int = Field(1440, description="How long a bill's dynamic KHQR stays payable, in minutes.")
    payments_bill_days: int = Field(30, description="Days from issue to the due date of a new bill.")
    payments_four_eyes_above: str = Field(
        "KHR 400000, USD 100", description="Refunds above these amounts need a second officer's approval "
        "(comma-separated 'CURRENCY amount')."
    )
    civil_nin_length: int = Field(12, ge=8, le=20, description="Digits of a national ID number (the last is "
                                  "its Verhoeff check digit).")
    civil_late_birth_days: int = Field(30, description="A birth declared more than this many days after it "
                                       "happened is late and needs a supervisor's approval.")
    civil_min_parent_age: int = Field(12, description="Youngest age, in years, at which a parent is accepted.")
    civil_max_mother_age: int = Field(60, description="Oldest age, in years, at which a mother is accepted.")
    messaging_email_transport: Literal["catcher", "smtp"] = Field(
        "catcher", description="How e-mail leaves: 'catcher' keeps it in the local mailbox page /messaging/mailbox "
        "(development and demos, never in production), 'smtp' sends it through the SMTP server below.")
    messaging_smtp_host: str = Field("127.0.0.1", description="SMTP server for e-mail notifications.")
    messaging_smtp_port: int = Field(25, description="Port of the SMTP server (587 for STARTTLS, 465 for TLS).")
    messaging_smtp_security: Literal["none", "starttls", "tls"] = Field(
        "none", description="Transport security to the SMTP server: none, starttls or tls (implicit).")
    messaging_smtp_username: str | None = Field(None, description="SMTP login, when the server asks for one.")
    messaging_smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    messaging_from_address: str = Field("no-reply@nokor.example", description="Sender address of e-mail "
                                        "notifications.")
    messaging_sms_transport: Literal["sandbox", "http"] = Field(
        "sandbox", description="How SMS leave: 'sandbox' keeps them in the local mailbox page, 'http' posts them "
        "to the SMS gateway below.")
    messaging_sms_gateway_url: str = Field("http://127.0.0.1:8000/messaging/sandbox-sms", description="URL the "
                                           "SMS gateway takes messages at (JSON POST: to, from, text, reference).")
    messaging_sms_gateway_token: SecretStr | None = Field(None, description="Bearer token of the SMS gateway.")
    messaging_sms_sender: str = Field("Nokor", description="Sender name or number shown on SMS.")
    messaging_timeout_seconds: float = Field(10.0, description="Time limit of one SMTP or SMS gateway delivery.")
    exchange_instance: str = Field("KH", description="Code of this data-exchange instance (the first part of "
                                   "every INSTANCE/CLASS/MEMBER/SUBSYSTEM identifier it serves).")
    exchange_server_identity: str = Field("", description="Identifier of this gateway in its own certificate; "
                                          "empty means INSTANCE/GOV/NOKOR/gateway.")
    exchange_timeout_seconds: float = Field(30.0, description="Default time limit of a call forwarded by the "
                                            "gateway (a service may set its own).")
    exchange_max_body_bytes: int = Field(4_194_304, description="Default largest request or response body the "
                                         "gateway forwards, in bytes (a service may set its own).")
    exchange_log_flush_seconds: float = Field(0.5, description="How often the message log writes, signs and "
                                              "timestamps the records queued since the last time.")
    exchange_log_retention_days: int = Field(180, description="Message-log records older than this are moved "
                                             "into signed archive containers by `nokor exchange archive`.")
    exchange_archive_dir: Path | None = Field(None, description="Folder of the message-log archive containers; "
                                              "empty means DATA_DIR/exchange/archive.")
    exchange_cache_seconds: float = Field(2.0, description="How long a gateway process trusts its cached "
                                          "services, access rights and API keys before checking for changes.")
    exchange_civil_room: str = Field("", description="Room that receives the civil register's events; empty "
                                     "means INSTANCE/GOV/MOI/civil-events.")
    civil_duplicate_threshold: float = Field(0.8, ge=0.5, le=1.0, description="A declared birth or new resident "
                                             "scoring at least this much (0-1) against a resident waits for an "
                                             "officer's decision on the possible duplicate.")
    civil_demo_residents: int = Field(50000, ge=0, description="Synthetic residents `nokor demo load` adds to the "
                                      "register (0: none).")
    identity_code_minutes: int = Field(5, description="How long a one-time sign-in code stays valid, in minutes.")
    identity_code_attempts: int = Field(3, description="Wrong guesses one one-time code allows before it is spent.")
    identity_codes_per_hour: int = Field(5, description="One-time codes sent to one person per hour, at most.")
    identity_logins_per_minute: int = Field(10, description="Sign-in starts allowed from one client address per "
                                            "minute.")
    identity_max_failures: int = Field(5, description="Wrong codes in a row after which a citizen's sign-in is "
                                       "locked.")
    identity_lockout_minutes: int = Field(15, description="How long a citizen's sign-in stays locked.")
    identity_session_minutes: int = Field(30, description="How long a citizen's session lasts.")
    identity_token_minutes: int = Field(10, description="Lifetime of OIDC access and ID tokens, in minutes.")
    identity_name_threshold: int = Field(85, ge=50, le=100, description="Default similarity (0-100) at which "
                                         "a name given for verification matches the register, in any script.")
    log_level: str = Field("INFO", description="Lowest level written to the log.")
    log_json: bool = Field(True, description="Write logs as JSON lines (false: readable console lines).")

    @model_validator(mode="after")
    def _safe_in_production(self) -> Settings:
        if self.environment == "production" and not self.base_url.startswith("https://"):
            raise ValueError("in production NOKOR_BASE_URL must be an https:// address")
        if self.environment == "production":
            self.force_https = True
        return self

    @cached_property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'nokor.db').resolve()}"

    @cached_property
    def effective_secret_key(self) -> str:
        """The secret key; generated once into the data dir when not configured."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            with path.open("x") as fh:
                fh.write(key)
            path.chmod(0o600)
        except FileExistsError:
            return path.read_text().strip()
        return key

    @property
    def gateway_identity(self) -> str:
        """This gateway's own identifier (in its certificate, and as the sender of pushed events)."""
        return self.exchange_server_identity or f"{self.exchange_instance}/GOV/NOKOR/gateway"

    @property
    def civil_room(self) -> str:
        """The room civil events are published in."""
        return self.exchange_civil_room or f"{self.exchange_instance}/GOV/MOI/civil-events"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, effective value with secrets masked, description) for every option."""
        rows: list[tuple[str, str, str]] = []
        for name, field in type(self).model_fields.items():
            value: Any = getattr(self, name)
            if name == "database_url":
                value = _mask_url(self.effective_database_url)
            elif isinstance(value, SecretStr) or name == "secret_key":
                value = "********" if (value or self.effective_secret_key) else ""
            rows.append((f"NOKOR_{name.upper()}", str(value), field.description or ""))
        return rows


def _mask_url(url: str) -> str:
    """Hide the password in a database URL."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":********"
    return f"{scheme}://{creds}@{host}"


def get_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment, with optional overrides (tests)."""
    return Settings(**overrides)
