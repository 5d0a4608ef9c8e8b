"""The rules of accounts: organisation units, officers, roles, API clients, sign-in and sessions."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from nokor import audit
from nokor.accounts import repository
from nokor.accounts.models import ApiClient, LoginAttempt, LoginSession, Officer, OrgUnit, Role, RoleGrant, as_dict
from nokor.accounts.schemas import (
    ApiClientCreate,
    ApiClientRead,
    GrantRead,
    IssuedApiKey,
    LoginPolicy,
    OfficerCreate,
    OfficerRead,
    OfficerUpdate,
    OpenedSession,
    OrgUnitCreate,
    OrgUnitRead,
    PermissionRead,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    SignInOutcome,
)
from nokor.kit.actor import PERMISSIONS, Actor, declare_permission
from nokor.kit.errors import Conflict, NotFound, TooManyRequests, Unauthorized, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.i18n import lazy_gettext as _l
from nokor.kit.pagination import Page, paginate
from nokor.kit.time import utcnow

ACCOUNTS_MANAGE = declare_permission(
    "accounts.manage", _l("Manage officers, roles, organisation units and API clients")
)
# The platform's own administration, which belongs to no business domain.
OUTBOX_MANAGE = declare_permission(
    "outbox.manage", _l("See outgoing messages and send dead letters again")
)

_hasher = PasswordHasher()
# Verifying against this when the username is unknown makes both answers take the same time.
_DUMMY_HASH = _hasher.hash("nokor-timing-equaliser")

OFFICER_FIELDS = ("username", "full_name", "email", "locale", "org_unit_id", "is_active")
API_KEY_PREFIX = "nk_"


# --- organisation units -----------------------------------------------------------------------


def _org_unit(session: Session, code: str, field: str) -> OrgUnit:
    unit = repository.org_unit_by_code(session, code)
    if unit is None:
        raise ValidationFailed(
            errors=[field_error([field], _("There is no organisation unit with this code."), "unknown_org_unit")]
        )
    return unit


def descendants(parents: dict[uuid.UUID, uuid.UUID | None], root: uuid.UUID) -> set[uuid.UUID]:
    """``root`` and every organisation unit below it."""
    children: dict[uuid.UUID, list[uuid.UUID]] = {}
    for child, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    found, stack = set(), [root]
    while stack:
        unit = stack.pop()
        if unit in found:
            continue
        found.add(unit)
        stack.extend(children.get(unit, []))
    return found


def create_org_unit(session: Session, actor: Actor, *, data: OrgUnitCreate) -> OrgUnitRead:
    """Add a ministry, department or provincial office to the organisation tree."""
    parent = _org_unit(session, data.parent_code, "parent_code") if data.parent_code else None
    if parent is None:
        # A top-level unit lies in no one's scope, so only a platform-wide administrator adds one.
        actor.require_everywhere(ACCOUNTS_MANAGE)
    else:
        actor.require(ACCOUNTS_MANAGE, parent.id)
    if repository.org_unit_by_code(session, data.code):
        raise Conflict(_("An organisation unit with this code already exists."))
    name = data.name.as_dict()
    if not name:
        raise ValidationFailed(errors=[field_error(["name"], _("Give at least one name."), "name_required")])
    unit = OrgUnit(code=data.code, kind=data.kind, name=name, parent_id=parent.id if parent else None)
    session.add(unit)
    session.flush()
    audit.record_change(
        session, actor, action="org_unit.create", subject_type="org_unit", subject_id=unit.id,
        after=as_dict(unit, "code", "kind", "name", "parent_id"),
    )
    return OrgUnitRead.model_validate(unit)


def list_org_units(session: Session, actor: Actor) -> list[OrgUnitRead]:
    """Every organisation unit (the tree is public within the administration)."""
    return [OrgUnitRead.model_validate(u) for u in repository.all_org_units(session)]


# --- officers ---------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_password_strength(password: str, username: str) -> None:
    problems = []
    if len(password) < 12:
        problems.append(_("Use at least 12 characters."))
    if username and username.lower() in password.lower():
        problems.append(_("The password must not contain the username."))
    if len(set(password)) < 5:
        problems.append(_("Use a less repetitive password."))
    if problems:
        raise ValidationFailed(
            errors=[field_error(["password"], " ".join(problems), "weak_password")]
        )


def create_officer(session: Session, actor: Actor, *, data: OfficerCreate) -> OfficerRead:
    """Create an officer account in an organisation unit the actor manages."""
    unit = _org_unit(session, data.org_unit_code, "org_unit_code")
    actor.require(ACCOUNTS_MANAGE, unit.id)
    _check_password_strength(data.password, data.username)
    if repository.officer_by_username(session, data.username):
        raise ValidationFailed(
            errors=[field_error(["username"], _("This username is already taken."), "username_taken")]
        )
    officer = Officer(
        username=data.username,
        full_name=data.full_name,
        email=data.email,
        password_hash=hash_password(data.password),
        locale=data.locale,
        org_unit_id=unit.id,
        is_active=True,
        failed_logins=0,
    )
    session.add(officer)
    session.flush()
    audit.record_change(
        session, actor, action="officer.create", subject_type="officer", subject_id=officer.id,
        after=as_dict(officer, *OFFICER_FIELDS),
    )
    return OfficerRead.model_validate(officer)


def _load_officer(session: Session, officer_id: uuid.UUID) -> Officer:
    officer = session.get(Officer, officer_id)
    if officer is None:
        raise NotFound(_("There is no such officer."))
    return officer


def get_officer(session: Session, actor: Actor, *, officer_id: uuid.UUID) -> OfficerRead:
    """One officer, for an administrator of their unit or for the officer themself."""
    officer = _load_officer(session, officer_id)
    if actor.id != officer.id:
        actor.require(ACCOUNTS_MANAGE, officer.org_unit_id)
    return OfficerRead.model_validate(officer)


def update_officer(
    session: Session, actor: Actor, *, officer_id: uuid.UUID, data: OfficerUpdate, reason: str | None = None
) -> OfficerRead:
    """Change an officer's details; deactivating one also ends their sessions."""
    officer = _load_officer(session, officer_id)
    actor.require(ACCOUNTS_MANAGE, officer.org_unit_id)
    before = as_dict(officer, *OFFICER_FIELDS)
    changes = data.model_dump(exclude_unset=True)
    if "org_unit_code" in changes:
        code = changes.pop("org_unit_code")
        if code is not None:
            unit = _org_unit(session, code, "org_unit_code")
            actor.require(ACCOUNTS_MANAGE, unit.id)
            officer.org_unit_id = unit.id
    for key, value in changes.items():
        if value is None and key in ("full_name", "locale", "is_active"):
            continue
        setattr(officer, key, value)
    if officer.is_active is False:
        repository.delete_sessions_of(session, officer.id)
    session.flush()
    after = as_dict(officer, *OFFICER_FIELDS)
    if after != before:
        audit.record_change(
            session, actor, action="officer.update", subject_type="officer", subject_id=officer.id,
            before=before, after=after, reason=reason,
        )
    return OfficerRead.model_validate(officer)


def set_officer_password(
    session: Session, actor: Actor, *, officer_id: uuid.UUID, password: str, reason: str | None = None
) -> OfficerRead:
    """Set a new password (an administrator's reset, or an officer changing their own); ends other sessions."""
    officer = _load_officer(session, officer_id)
    if actor.id != officer.id:
        actor.require(ACCOUNTS_MANAGE, officer.org_unit_id)
    _check_password_strength(password, officer.username)
    officer.password_hash = hash_password(password)
    officer.failed_logins = 0
    officer.locked_until = None
    repository.delete_sessions_of(session, officer.id)
    session.flush()
    audit.record_change(
        session, actor, action="officer.set_password", subject_type="officer", subject_id=officer.id,
        reason=reason,
    )
    return OfficerRead.model_validate(officer)


def unlock_officer(session: Session, actor: Actor, *, officer_id: uuid.UUID) -> OfficerRead:
    """Lift a lockout after too many failed sign-ins."""
    officer = _load_officer(session, officer_id)
    actor.require(ACCOUNTS_MANAGE, officer.org_unit_id)
    officer.failed_logins = 0
    officer.locked_until = None
    session.flush()
    audit.record_change(session, actor, action="officer.unlock", subject_type="officer", subject_id=officer.id)
    return OfficerRead.model_validate(officer)


def _managed_units(session: Session, actor: Actor) -> set[uuid.UUID] | None:
    if actor.kind == "system":
        return None
    actor.require(ACCOUNTS_MANAGE)
    units = actor.grants.get(ACCOUNTS_MANAGE)
    return set(units) if units is not None else None


def list_officers(
    session: Session, actor: Actor, *, search: str | None = None, cursor: str | None = None, limit: int = 50
) -> Page[OfficerRead]:
    """Officers of the units the actor manages, oldest account first."""
    units = _managed_units(session, actor)
    stmt = repository.officers_query(org_unit_ids=units, search=search)
    rows, next_cursor = paginate(session, stmt, Officer.id, cursor=cursor, limit=limit)
    return Page[OfficerRead](items=[OfficerRead.model_validate(r) for r in rows], next_cursor=next_cursor)


# --- roles and grants ------------------------------------------------------------------------


def list_permissions() -> list[PermissionRead]:
    """The catalogue of named permissions, in the reader's language."""
    return [PermissionRead(name=n, description=str(d)) for n, d in sorted(PERMISSIONS.items())]


def _check_permissions(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in PERMISSIONS]
    if unknown:
        raise ValidationFailed(
            errors=[
                field_error(["permissions", names.index(n)], _("Unknown permission: %(name)s", name=n),
                            "unknown_permission")
                for n in unknown
            ]
        )
    return sorted(set(names))


def create_role(session: Session, actor: Actor, *, data: RoleCreate) -> RoleRead:
    """Define a role as a named set of permissions."""
    actor.require(ACCOUNTS_MANAGE)
    if repository.role_by_code(session, data.code):
        raise ValidationFailed(errors=[field_error(["code"], _("This code is already used."), "code_taken")])
    name = data.name.as_dict()
    if not name:
        raise ValidationFailed(errors=[field_error(["name"], _("Give at least one name."), "name_required")])
    role = Role(code=data.code, name=name, permissions=_check_permissions(data.permissions))
    session.add(role)
    session.flush()
    audit.record_change(
        session, actor, action="role.create", subject_type="role", subject_id=role.id,
        after=as_dict(role, "code", "name", "permissions"),
    )
    return RoleRead.model_validate(role)


def update_role(session: Session, actor: Actor, *, role_code: str, data: RoleUpdate) -> RoleRead:
    """Rename a role or change its permissions; holders gain or lose them at their next request."""
    actor.require(ACCOUNTS_MANAGE)
    role = repository.role_by_code(session, role_code)
    if role is None:
        raise NotFound(_("There is no such role."))
    before = as_dict(role, "code", "name", "permissions")
    if data.name is not None:
        name = data.name.as_dict()
        if not name:
            raise ValidationFailed(errors=[field_error(["name"], _("Give at least one name."), "name_required")])
        role.name = name
    if data.permissions is not None:
        role.permissions = _check_permissions(data.permissions)
    session.flush()
    after = as_dict(role, "code", "name", "permissions")
    if after != before:
        audit.record_change(
            session, actor, action="role.update", subject_type="role", subject_id=role.id,
            before=before, after=after,
        )
    return RoleRead.model_validate(role)


def list_roles(session: Session, actor: Actor) -> list[RoleRead]:
    actor.require(ACCOUNTS_MANAGE)
    return [RoleRead.model_validate(r) for r in repository.all_roles(session)]


def grant_role(
    session: Session, actor: Actor, *, officer_id: uuid.UUID, role_code: str, org_unit_code: str
) -> GrantRead:
    """Let an officer hold a role within an organisation unit (and every unit below it)."""
    officer = _load_officer(session, officer_id)
    unit = _org_unit(session, org_unit_code, "org_unit_code")
    actor.require(ACCOUNTS_MANAGE, unit.id)
    role = repository.role_by_code(session, role_code)
    if role is None:
        raise ValidationFailed(errors=[field_error(["role_code"], _("There is no such role."), "unknown_role")])
    # Nobody hands out more than they hold: every permission of the role must be the actor's there.
    for permission in role.permissions:
        actor.require(permission, unit.id)
    grant = repository.find_grant(session, officer.id, role.id, unit.id)
    if grant is None:
        grant = RoleGrant(officer_id=officer.id, role_id=role.id, org_unit_id=unit.id)
        session.add(grant)
        session.flush()
        audit.record_change(
            session, actor, action="officer.grant_role", subject_type="officer", subject_id=officer.id,
            after={"role": role.code, "org_unit": unit.code},
        )
    return GrantRead(
        id=grant.id, role_code=role.code, role_name=role.name, org_unit_code=unit.code, org_unit_name=unit.name
    )


def revoke_grant(session: Session, actor: Actor, *, grant_id: uuid.UUID) -> None:
    """Take a role away from an officer."""
    grant = session.get(RoleGrant, grant_id)
    if grant is None:
        raise NotFound(_("There is no such role grant."))
    actor.require(ACCOUNTS_MANAGE, grant.org_unit_id)
    role = session.get(Role, grant.role_id)
    unit = session.get(OrgUnit, grant.org_unit_id)
    session.delete(grant)
    session.flush()
    audit.record_change(
        session, actor, action="officer.revoke_role", subject_type="officer", subject_id=grant.officer_id,
        before={"role": role.code if role else None, "org_unit": unit.code if unit else None},
    )


def grants_of_officer(session: Session, actor: Actor, *, officer_id: uuid.UUID) -> list[GrantRead]:
    officer = _load_officer(session, officer_id)
    if actor.id != officer.id:
        actor.require(ACCOUNTS_MANAGE, officer.org_unit_id)
    return [
        GrantRead(id=g.id, role_code=r.code, role_name=r.name, org_unit_code=o.code, org_unit_name=o.name)
        for g, r, o in repository.grants_of(session, officer_id)
    ]


def actor_for_officer(session: Session, officer: Officer) -> Actor:
    """The actor an officer acts as: their roles' permissions, each over its unit and units below."""
    parents = repository.org_unit_parents(session)
    scopes: dict[str, set[uuid.UUID]] = {}
    for grant, role, _unit in repository.grants_of(session, officer.id):
        covered = descendants(parents, grant.org_unit_id)
        for permission in role.permissions:
            scopes.setdefault(permission, set()).update(covered)
    return Actor(
        kind="officer",
        id=officer.id,
        name=officer.username,
        grants={p: frozenset(units) for p, units in scopes.items()},
        org_unit_id=officer.org_unit_id,
        locale=officer.locale,
    )


# --- sign-in and sessions -----------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(
    session: Session,
    *,
    username: str,
    password: str,
    client_ip: str,
    user_agent: str | None,
    policy: LoginPolicy,
) -> SignInOutcome:
    """Check a username and password and open a session, with rate limiting and account lockout.

    A refusal is returned, not raised, so the caller commits the record of the failed attempt:
    otherwise a rollback would let guessing go on without ever counting towards a lockout.
    """
    now = utcnow()
    recent = repository.recent_failures_from(session, client_ip, now - timedelta(minutes=1))
    if recent >= policy.rate_per_minute:
        return SignInOutcome(problem=TooManyRequests(headers={"Retry-After": "60"}))
    username = username.strip().lower()[:64]
    officer = repository.officer_by_username(session, username)
    ok = False
    if officer is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
    else:
        try:
            ok = _hasher.verify(officer.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    session.add(LoginAttempt(username=username, client_ip=client_ip, succeeded=ok, at=now))
    if officer is not None and officer.locked_until is not None and officer.locked_until > now:
        session.flush()
        return SignInOutcome(problem=Unauthorized(
            _("This account is locked after too many failed sign-ins. Try again later."), code="account_locked"
        ))
    if officer is None or not ok or not officer.is_active:
        if officer is not None and not ok:
            officer.failed_logins += 1
            if officer.failed_logins >= policy.max_failures:
                officer.locked_until = now + timedelta(minutes=policy.lockout_minutes)
                officer.failed_logins = 0
                audit.record_change(
                    session, Actor.system(), action="officer.locked", subject_type="officer",
                    subject_id=officer.id, reason="too many failed sign-ins",
                )
        session.flush()
        return SignInOutcome(
            problem=Unauthorized(_("The username or password is incorrect."), code="bad_credentials")
        )
    if _hasher.check_needs_rehash(officer.password_hash):
        officer.password_hash = hash_password(password)
    officer.failed_logins = 0
    officer.locked_until = None
    officer.last_login_at = now
    repository.prune_attempts(session, now - timedelta(days=1))
    repository.prune_sessions(session, now)
    token = secrets.token_urlsafe(32)
    login = LoginSession(
        token_hash=_token_hash(token),
        officer_id=officer.id,
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + timedelta(hours=policy.session_hours),
        client_ip=client_ip,
        user_agent=(user_agent or "")[:400] or None,
    )
    session.add(login)
    session.flush()
    actor = actor_for_officer(session, officer)
    audit.record_change(session, actor, action="session.login", subject_type="officer", subject_id=officer.id)
    return SignInOutcome(
        opened=OpenedSession(
            token=token, csrf_token=login.csrf_token, officer=OfficerRead.model_validate(officer),
            expires_at=login.expires_at,
        )
    )


def resolve_session(session: Session, *, token: str) -> tuple[Actor, OfficerRead, str] | None:
    """The actor, officer and CSRF token of a live session, or None for an unknown or expired token."""
    login = repository.session_by_token_hash(session, _token_hash(token))
    if login is None or login.expires_at <= utcnow():
        return None
    officer = session.get(Officer, login.officer_id)
    if officer is None or not officer.is_active:
        return None
    return actor_for_officer(session, officer), OfficerRead.model_validate(officer), login.csrf_token


def close_session(session: Session, *, token: str) -> None:
    """Sign out: the session token stops working at once."""
    login = repository.session_by_token_hash(session, _token_hash(token))
    if login is None:
        return
    officer = session.get(Officer, login.officer_id)
    repository.delete_session(session, login.token_hash)
    if officer is not None:
        audit.record_change(
            session, actor_for_officer(session, officer), action="session.logout", subject_type="officer",
            subject_id=officer.id,
        )
    session.flush()


# --- API clients -------------------------------------------------------------------------------


def create_api_client(session: Session, actor: Actor, *, data: ApiClientCreate) -> IssuedApiKey:
    """Register an agency system and issue its API key (shown once; only a hash is stored)."""
    unit = _org_unit(session, data.org_unit_code, "org_unit_code") if data.org_unit_code else None
    actor.require(ACCOUNTS_MANAGE, unit.id if unit else None)
    permissions = _check_permissions(data.permissions)
    for permission in permissions:
        actor.require(permission, unit.id if unit else None)
    if repository.api_client_by_identity(session, data.identity):
        raise ValidationFailed(
            errors=[field_error(["identity"], _("A client with this identity already exists."), "identity_taken")]
        )
    prefix = secrets.token_hex(4)
    while repository.api_client_by_prefix(session, prefix):
        prefix = secrets.token_hex(4)
    key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    client = ApiClient(
        name=data.name.strip(),
        identity=data.identity,
        key_prefix=prefix,
        key_hash=_token_hash(key),
        permissions=permissions,
        org_unit_id=unit.id if unit else None,
    )
    session.add(client)
    session.flush()
    audit.record_change(
        session, actor, action="api_client.create", subject_type="api_client", subject_id=client.id,
        after=as_dict(client, "name", "identity", "key_prefix", "permissions", "org_unit_id"),
    )
    return IssuedApiKey(client=ApiClientRead.model_validate(client), api_key=key)


def revoke_api_client(
    session: Session, actor: Actor, *, client_id: uuid.UUID, reason: str | None = None
) -> ApiClientRead:
    """Stop a client's key from working, at once and for good."""
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(_("There is no such API client."))
    actor.require(ACCOUNTS_MANAGE, client.org_unit_id)
    _verified_keys.forget(client.id)
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        session.flush()
        audit.record_change(
            session, actor, action="api_client.revoke", subject_type="api_client", subject_id=client.id,
            reason=reason,
        )
    return ApiClientRead.model_validate(client)


def list_api_clients(session: Session, actor: Actor) -> list[ApiClientRead]:
    actor.require(ACCOUNTS_MANAGE)
    return [ApiClientRead.model_validate(c) for c in repository.all_api_clients(session)]


class _VerifiedKeys:
    """API keys this process checked against the database a moment ago, by the SHA-256 of the key.

    A busy agency system then costs no database round trip per call for its key. A revoked client is
    never cached again in this process, so a revocation here takes effect at once; other processes
    stop accepting the key when their entry expires.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Actor, float]] = {}
        self._revoked: set[uuid.UUID] = set()
        self._lock = threading.Lock()

    def get(self, digest: str) -> Actor | None:
        found = self._entries.get(digest)
        if found is None:
            return None
        actor, expires = found
        if expires <= time.monotonic() or actor.id in self._revoked:
            with self._lock:
                self._entries.pop(digest, None)
            return None
        return actor

    def put(self, digest: str, actor: Actor, seconds: float) -> None:
        with self._lock:
            if actor.id in self._revoked:
                return
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (actor, time.monotonic() + seconds)

    def forget(self, client_id: uuid.UUID) -> None:
        with self._lock:
            self._revoked.add(client_id)
            for digest in [d for d, (actor, _expires) in self._entries.items() if actor.id == client_id]:
                del self._entries[digest]


_verified_keys = _VerifiedKeys()


def cached_api_key(key: str) -> Actor | None:
    """The actor of an API key this process verified less than ``api_key_cache_seconds`` ago, or None (then
    call ``authenticate_api_key``); never touches the database."""
    return _verified_keys.get(_token_hash(key))


def authenticate_api_key(session: Session, *, key: str, cache_seconds: float = 0.0) -> Actor | None:
    """The actor of a live API key, or None when the key is unknown, wrong or revoked.

    With ``cache_seconds`` a key found good is trusted that long without asking the database again.
    """
    digest = _token_hash(key)
    if cache_seconds > 0:
        cached = _verified_keys.get(digest)
        if cached is not None:
            return cached
    if not key.startswith(API_KEY_PREFIX) or key.count("_") < 2:
        return None
    prefix = key[len(API_KEY_PREFIX):].split("_", 1)[0]
    client = repository.api_client_by_prefix(session, prefix)
    if client is None or client.revoked_at is not None:
        return None
    if not hmac.compare_digest(client.key_hash, digest):
        return None
    now = utcnow()
    # Written at most once a minute, so reads by a busy client do not each become a write.
    if client.last_used_at is None or now - client.last_used_at > timedelta(minutes=1):
        client.last_used_at = now
    scope: frozenset[uuid.UUID] | None = None
    if client.org_unit_id is not None:
        scope = frozenset(descendants(repository.org_unit_parents(session), client.org_unit_id))
    actor = Actor(
        kind="client",
        id=client.id,
        name=client.name,
        grants={p: scope for p in client.permissions},
        org_unit_id=client.org_unit_id,
        identity=client.identity,
    )
    if cache_seconds > 0:
        _verified_keys.put(digest, actor, cache_seconds)
    return actor
