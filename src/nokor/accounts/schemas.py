"""Create, update and read schemas of the accounts domain."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nokor.kit.errors import Problem
from nokor.kit.i18n import gettext as _

# GovStack/X-Road client identity: INSTANCE/CLASS/MEMBER/SUBSYSTEM (member class such as GOV or COM).
IDENTITY_RE = re.compile(
    r"^[A-Za-z0-9._-]{1,64}/[A-Z]{2,16}/[A-Za-z0-9._-]{1,64}/[A-Za-z0-9._-]{1,64}$"
)
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")

OrgUnitKind = Literal["government", "ministry", "department", "provincial_office", "agency"]


class LocalizedName(BaseModel):
    """A name written by officers, in each language they provide; English or Khmer is required."""

    km: str | None = Field(None, max_length=200)
    en: str | None = Field(None, max_length=200)
    ar: str | None = Field(None, max_length=200)
    de: str | None = Field(None, max_length=200)

    @field_validator("km", "en", "ar", "de")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value or None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}


class OrgUnitCreate(BaseModel):
    code: str = Field(min_length=2, max_length=64, pattern=r"^[A-Z0-9][A-Z0-9_-]*$")
    kind: OrgUnitKind
    name: LocalizedName
    parent_code: str | None = None


class OrgUnitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    kind: str
    name: dict[str, str]
    parent_id: uuid.UUID | None


class OfficerCreate(BaseModel):
    username: str = Field(min_length=2, max_length=63)
    full_name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254)
    password: str = Field(min_length=12, max_length=1024)
    locale: Literal["km", "en", "ar", "de"] = "km"
    org_unit_code: str

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        value = value.strip().lower()
        if not USERNAME_RE.match(value):
            raise ValueError(_("Use lower-case Latin letters, digits, dots, dashes or underscores."))
        return value

    @field_validator("full_name")
    @classmethod
    def _full_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError(_("A name is required."))
        return value


class OfficerUpdate(BaseModel):
    full_name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254)
    locale: Literal["km", "en", "ar", "de"] | None = None
    is_active: bool | None = None
    org_unit_code: str | None = None


class GrantRead(BaseModel):
    id: uuid.UUID
    role_code: str
    role_name: dict[str, str]
    org_unit_code: str
    org_unit_name: dict[str, str]


class OfficerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    full_name: str
    email: str | None
    locale: str
    org_unit_id: uuid.UUID
    is_active: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


class RoleCreate(BaseModel):
    code: str = Field(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    name: LocalizedName
    permissions: list[str] = Field(default_factory=list)


class RoleUpdate(BaseModel):
    name: LocalizedName | None = None
    permissions: list[str] | None = None


class RoleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: dict[str, str]
    permissions: list[str]


class ApiClientCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    identity: str = Field(
        max_length=400,
        description="GovStack client identity INSTANCE/CLASS/MEMBER/SUBSYSTEM, e.g. KH/GOV/MOI/civil-registry",
    )
    permissions: list[str] = Field(default_factory=list)
    org_unit_code: str | None = None

    @field_validator("identity")
    @classmethod
    def _identity(cls, value: str) -> str:
        value = value.strip()
        if not IDENTITY_RE.match(value):
            raise ValueError(_("Use the form INSTANCE/CLASS/MEMBER/SUBSYSTEM, for example KH/GOV/MOI/civil-registry."))
        return value


class ApiClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    identity: str
    key_prefix: str
    permissions: list[str]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class IssuedApiKey(BaseModel):
    """A new client and its key; the key is shown this once and only its hash is kept."""

    client: ApiClientRead
    api_key: str


class LoginPolicy(BaseModel):
    max_failures: int = 5
    lockout_minutes: int = 15
    rate_per_minute: int = 20
    session_hours: int = 8


class OpenedSession(BaseModel):
    token: str
    csrf_token: str
    officer: OfficerRead
    expires_at: datetime


class SignInOutcome(BaseModel):
    """Either an opened session or the reason sign-in was refused."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    opened: OpenedSession | None = None
    problem: Problem | None = None


class PermissionRead(BaseModel):
    name: str
    description: str
