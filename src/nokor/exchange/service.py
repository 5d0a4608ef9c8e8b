"""The exchange's directory: members, subsystems, services, access rights (deny by default), groups and
federated peers; and the snapshot of it that every gateway process caches.

Every change raises the configuration generation, so gateway processes reload their snapshot within
``exchange_cache_seconds`` (at once in the process that made the change).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nokor import audit
from nokor.exchange.models import AccessRight, Generation, Group, Member, Peer, Service, Subsystem
from nokor.exchange.schemas import (
    AccessRightCreate,
    AccessRightRead,
    Endpoint,
    GroupCreate,
    GroupRead,
    MemberCreate,
    MemberRead,
    PeerCreate,
    PeerRead,
    ServiceCreate,
    ServiceRead,
    SubsystemCreate,
    SubsystemRead,
    split_identifier,
)
from nokor.kit.actor import Actor, declare_permission
from nokor.kit.errors import NotFound, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.i18n import lazy_gettext as _l

EXCHANGE_MANAGE = declare_permission("exchange.manage", _l("Manage the data exchange: members, services, "
                                                           "access rights, subscriptions"))
EXCHANGE_MONITOR = declare_permission("exchange.monitor", _l("See the data exchange's message log and figures"))
INTERNAL_SCHEME = "nokor:"


def _fail(field_name: str, message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[field_error([field_name], message, code)])


def bump_generation(session: Session) -> None:
    """Tell every gateway process that the directory changed."""
    row = session.get(Generation, 1)
    if row is None:
        session.add(Generation(id=1, value=1))
    else:
        session.execute(update(Generation).where(Generation.id == 1).values(value=Generation.value + 1))
    session.flush()
    invalidate_local()


def current_generation(session: Session) -> int:
    """The directory's generation number (0 before any change)."""
    value = session.scalar(select(Generation.value).where(Generation.id == 1))
    return int(value or 0)


# --- members and subsystems ------------------------------------------------------------------


def _member_by_identifier(session: Session, identifier: str) -> Member | None:
    parts = split_identifier(identifier, 3)
    if parts is None:
        return None
    return session.scalar(select(Member).where(Member.instance == parts[0], Member.member_class == parts[1],
                                               Member.member_code == parts[2]))


def create_member(session: Session, actor: Actor, *, data: MemberCreate, instance: str) -> MemberRead:
    """Register an organisation as a member of the exchange (of this instance unless another is named)."""
    actor.require(EXCHANGE_MANAGE)
    chosen = data.instance or instance
    if _member_by_identifier(session, f"{chosen}/{data.member_class}/{data.member_code}") is not None:
        raise _fail("member_code", _("This member exists already."), "member_exists")
    member = Member(instance=chosen, member_class=data.member_class, member_code=data.member_code, name=data.name)
    session.add(member)
    session.flush()
    audit.record_change(session, actor, action="exchange.member.create", subject_type="exchange_member",
                        subject_id=member.id, after={"identifier": f"{chosen}/{data.member_class}/{data.member_code}",
                                                     "name": data.name})
    bump_generation(session)
    return MemberRead.model_validate(member)


def list_members(session: Session) -> list[MemberRead]:
    """Every member, by identifier."""
    rows = session.scalars(select(Member).order_by(Member.instance, Member.member_class, Member.member_code))
    return [MemberRead.model_validate(r) for r in rows]


def create_subsystem(session: Session, actor: Actor, *, data: SubsystemCreate) -> SubsystemRead:
    """Add a subsystem (an information system) or a publish/subscribe room to a member."""
    actor.require(EXCHANGE_MANAGE)
    member = _member_by_identifier(session, data.member)
    if member is None:
        raise _fail("member", _("There is no member %(member)s.", member=data.member), "unknown_member")
    identifier = f"{data.member}/{data.code}"
    if session.scalar(select(Subsystem).where(Subsystem.identifier == identifier)) is not None:
        raise _fail("code", _("This subsystem exists already."), "subsystem_exists")
    row = Subsystem(member_id=member.id, code=data.code, identifier=identifier, name=data.name, is_room=data.is_room,
                    publishers=data.publishers)
    session.add(row)
    session.flush()
    audit.record_change(session, actor, action="exchange.subsystem.create", subject_type="exchange_subsystem",
                        subject_id=row.id, after={"identifier": identifier, "room": data.is_room,
                                                  "publishers": data.publishers})
    bump_generation(session)
    return SubsystemRead.model_validate(row)


def ensure_subsystem(session: Session, actor: Actor, *, identifier: str, name: str, is_room: bool = False,
                     publishers: list[str] | None = None) -> SubsystemRead:
    """The subsystem ``identifier``, made (with its member) when missing; for demo data and Nokor's own."""
    found = session.scalar(select(Subsystem).where(Subsystem.identifier == identifier))
    if found is not None:
        return SubsystemRead.model_validate(found)
    parts = split_identifier(identifier, 4)
    if parts is None:
        raise _fail("identifier", _("An identifier is INSTANCE/CLASS/MEMBER/SUBSYSTEM."), "bad_identifier")
    member_id = "/".join(parts[:3])
    if _member_by_identifier(session, member_id) is None:
        create_member(session, actor, data=MemberCreate(instance=parts[0], member_class=parts[1],
                                                        member_code=parts[2], name=parts[2]), instance=parts[0])
    return create_subsystem(session, actor, data=SubsystemCreate(member=member_id, code=parts[3], name=name,
                                                                  is_room=is_room, publishers=publishers or []))


def list_subsystems(session: Session, *, rooms: bool | None = None) -> list[SubsystemRead]:
    """Every subsystem (or only the rooms, or only the information systems), by identifier."""
    stmt = select(Subsystem).order_by(Subsystem.identifier)
    if rooms is not None:
        stmt = stmt.where(Subsystem.is_room.is_(rooms))
    return [SubsystemRead.model_validate(r) for r in session.scalars(stmt)]


def get_subsystem(session: Session, identifier: str) -> SubsystemRead | None:
    """One subsystem by its identifier."""
    row = session.scalar(select(Subsystem).where(Subsystem.identifier == identifier))
    return SubsystemRead.model_validate(row) if row is not None else None


# --- services -----------------------------------------------------------------------------------


def _service_read(row: Service, subsystem: str) -> ServiceRead:
    read = ServiceRead.model_validate(row)
    read.subsystem = subsystem
    return read


def _service_row(session: Session, identifier: str) -> tuple[Service, Subsystem]:
    parts = split_identifier(identifier, 5)
    if parts is None:
        raise _fail("service", _("A service is INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE."), "bad_identifier")
    found = session.execute(select(Service, Subsystem).join(Subsystem, Service.subsystem_id == Subsystem.id)
                            .where(Subsystem.identifier == "/".join(parts[:4]), Service.code == parts[4])).first()
    if found is None:
        raise NotFound(_("There is no service %(service)s.", service=identifier))
    return found[0], found[1]


def publish_service(session: Session, actor: Actor, *, data: ServiceCreate) -> ServiceRead:
    """Publish a subsystem's REST service through the gateway (or replace its description and limits).

    Nobody may call it until access rights are granted.
    """
    actor.require(EXCHANGE_MANAGE)
    subsystem = session.scalar(select(Subsystem).where(Subsystem.identifier == data.subsystem))
    if subsystem is None:
        raise _fail("subsystem", _("There is no subsystem %(subsystem)s.", subsystem=data.subsystem),
                    "unknown_subsystem")
    if subsystem.is_room:
        raise _fail("subsystem", _("A room publishes events, not services."), "room")
    if data.openapi is not None and not isinstance(data.openapi.get("paths", {}), dict):
        raise _fail("openapi", _("The OpenAPI description has no paths object."), "bad_openapi")
    endpoints = [e.model_dump() for e in data.endpoints] or _endpoints_of(data.openapi)
    row = session.scalar(select(Service).where(Service.subsystem_id == subsystem.id, Service.code == data.code))
    before = None
    if row is None:
        row = Service(subsystem_id=subsystem.id, code=data.code)
        session.add(row)
    else:
        before = {"base_url": row.base_url, "version": row.version, "endpoints": row.endpoints}
    row.version, row.title, row.base_url, row.openapi = data.version, data.title, data.base_url, data.openapi
    row.endpoints, row.log_bodies, row.timeout_seconds = endpoints, data.log_bodies, data.timeout_seconds
    row.max_body_bytes, row.enabled = data.max_body_bytes, True
    session.flush()
    audit.record_change(session, actor, action="exchange.service.publish", subject_type="exchange_service",
                        subject_id=row.id, before=before,
                        after={"service": f"{data.subsystem}/{data.code}", "base_url": data.base_url,
                               "version": data.version, "endpoints": endpoints, "log_bodies": data.log_bodies})
    bump_generation(session)
    return _service_read(row, subsystem.identifier)


def _endpoints_of(openapi: dict[str, Any] | None) -> list[dict[str, str]]:
    """The endpoints an OpenAPI description declares (method + path, ``{param}`` as ``*``)."""
    out: list[dict[str, str]] = []
    for path, item in ((openapi or {}).get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        pattern = re.sub(r"\{[^/}]+\}", "*", str(path))
        for method in item:
            if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
                out.append({"method": method.upper(), "path": pattern})
    return out


def set_service_enabled(session: Session, actor: Actor, *, service: str, enabled: bool) -> ServiceRead:
    """Take a service out of use (callers get ``Server.ServerProxy.ServiceDisabled``) or back in."""
    actor.require(EXCHANGE_MANAGE)
    row, subsystem = _service_row(session, service)
    before = row.enabled
    row.enabled = enabled
    session.flush()
    audit.record_change(session, actor, action="exchange.service.enable" if enabled else "exchange.service.disable",
                        subject_type="exchange_service", subject_id=row.id, before={"enabled": before},
                        after={"enabled": enabled})
    bump_generation(session)
    return _service_read(row, subsystem.identifier)


def list_services(session: Session, *, subsystem: str | None = None) -> list[ServiceRead]:
    """Every published service (of one subsystem when named)."""
    stmt = (select(Service, Subsystem.identifier).join(Subsystem, Service.subsystem_id == Subsystem.id)
            .order_by(Subsystem.identifier, Service.code))
    if subsystem is not None:
        stmt = stmt.where(Subsystem.identifier == subsystem)
    return [_service_read(row, ident) for row, ident in session.execute(stmt)]


def get_service(session: Session, identifier: str) -> ServiceRead:
    """One service by its full identifier; 404 when unknown."""
    row, subsystem = _service_row(session, identifier)
    return _service_read(row, subsystem.identifier)


# --- access rights and groups -----------------------------------------------------------------


def grant_access(session: Session, actor: Actor, *, data: AccessRightCreate) -> AccessRightRead:
    """Allow a subsystem or a group to call a service (every endpoint, or one method and path pattern)."""
    actor.require(EXCHANGE_MANAGE)
    try:
        row_service, _subsystem = _service_row(session, data.service)
    except NotFound as exc:
        raise _fail("service", str(exc.detail), "unknown_service") from exc
    if data.subject.startswith("group:") and session.scalar(
            select(Group).where(Group.code == data.subject[6:])) is None:
        raise _fail("subject", _("There is no group %(group)s.", group=data.subject[6:]), "unknown_group")
    existing = session.scalar(select(AccessRight).where(
        AccessRight.service_id == row_service.id, AccessRight.subject == data.subject,
        AccessRight.method == data.method, AccessRight.path == data.path))
    if existing is not None:
        read = AccessRightRead.model_validate(existing)
        read.service = data.service
        return read
    row = AccessRight(service_id=row_service.id, subject=data.subject, method=data.method, path=data.path,
                      granted_by=actor.name)
    session.add(row)
    session.flush()
    audit.record_change(session, actor, action="exchange.access.grant", subject_type="exchange_service",
                        subject_id=row_service.id, after={"service": data.service, "subject": data.subject,
                                                          "method": data.method, "path": data.path})
    bump_generation(session)
    read = AccessRightRead.model_validate(row)
    read.service = data.service
    return read


def revoke_access(session: Session, actor: Actor, *, right_id: uuid.UUID, reason: str | None = None) -> None:
    """Withdraw an access right; calls it allowed are refused from then on."""
    actor.require(EXCHANGE_MANAGE)
    row = session.get(AccessRight, right_id)
    if row is None:
        raise NotFound(_("There is no such access right."))
    before = {"subject": row.subject, "method": row.method, "path": row.path}
    service_id = row.service_id
    session.delete(row)
    session.flush()
    audit.record_change(session, actor, action="exchange.access.revoke", subject_type="exchange_service",
                        subject_id=service_id, before=before, reason=reason)
    bump_generation(session)


def list_access_rights(session: Session, *, service: str | None = None) -> list[AccessRightRead]:
    """Access rights, with the service each one opens."""
    stmt = (select(AccessRight, Service.code, Subsystem.identifier)
            .join(Service, AccessRight.service_id == Service.id)
            .join(Subsystem, Service.subsystem_id == Subsystem.id)
            .order_by(Subsystem.identifier, Service.code, AccessRight.subject))
    out: list[AccessRightRead] = []
    for row, code, ident in session.execute(stmt):
        read = AccessRightRead.model_validate(row)
        read.service = f"{ident}/{code}"
        if service is None or read.service == service:
            out.append(read)
    return out


def save_group(session: Session, actor: Actor, *, data: GroupCreate) -> GroupRead:
    """Create a group of subsystems, or replace its members."""
    actor.require(EXCHANGE_MANAGE)
    row = session.scalar(select(Group).where(Group.code == data.code))
    before = None
    if row is None:
        row = Group(code=data.code)
        session.add(row)
    else:
        before = {"members": list(row.members)}
    row.name, row.members = data.name, data.members
    session.flush()
    audit.record_change(session, actor, action="exchange.group.save", subject_type="exchange_group",
                        subject_id=row.id, before=before, after={"name": data.name, "members": data.members})
    bump_generation(session)
    return GroupRead.model_validate(row)


def list_groups(session: Session) -> list[GroupRead]:
    return [GroupRead.model_validate(r) for r in session.scalars(select(Group).order_by(Group.code))]


# --- federation ---------------------------------------------------------------------------------


def add_peer(session: Session, actor: Actor, *, data: PeerCreate, own_instance: str) -> PeerRead:
    """Trust another instance: its root certificate, its gateway's address and identifier."""
    from cryptography import x509

    actor.require(EXCHANGE_MANAGE)
    if data.instance == own_instance:
        raise _fail("instance", _("This is the code of this instance itself."), "own_instance")
    if split_identifier(data.server_identity, 4)[0] != data.instance:  # type: ignore[index]
        raise _fail("server_identity", _("The gateway's identifier must belong to its instance."), "wrong_instance")
    try:
        cert = x509.load_pem_x509_certificate(data.root_pem.strip().encode())
    except ValueError as exc:
        raise _fail("root_pem", _("This is not a PEM certificate."), "bad_certificate") from exc
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value \
        if any(e.oid == x509.oid.ExtensionOID.BASIC_CONSTRAINTS for e in cert.extensions) else None
    if constraints is None or not constraints.ca:
        raise _fail("root_pem", _("The certificate is not a certification authority."), "not_a_ca")
    row = session.scalar(select(Peer).where(Peer.instance == data.instance))
    before = None
    if row is None:
        row = Peer(instance=data.instance)
        session.add(row)
    else:
        before = {"gateway_url": row.gateway_url, "server_identity": row.server_identity}
    row.gateway_url, row.server_identity, row.root_pem = data.gateway_url, data.server_identity, data.root_pem.strip()
    session.flush()
    audit.record_change(session, actor, action="exchange.peer.trust", subject_type="exchange_peer",
                        subject_id=row.id, before=before,
                        after={"instance": data.instance, "gateway_url": data.gateway_url,
                               "server_identity": data.server_identity})
    bump_generation(session)
    return PeerRead.model_validate(row)


def list_peers(session: Session) -> list[PeerRead]:
    return [PeerRead.model_validate(r) for r in session.scalars(select(Peer).order_by(Peer.instance))]


# --- the snapshot the gateway caches ----------------------------------------------------------


def compile_pattern(path: str) -> re.Pattern[str] | None:
    """A path pattern as a regular expression: ``*`` is one path segment, ``**`` any rest; None is every path."""
    if path in ("*", "/**"):
        return None
    out = ""
    for piece in re.split(r"(\*\*|\*)", path):
        if piece == "**":
            out += ".*"
        elif piece == "*":
            out += "[^/]+"
        else:
            out += re.escape(piece)
    return re.compile(out + "/?$")


@dataclass(frozen=True)
class Rule:
    """One access right, ready to check."""

    subject: str
    method: str
    pattern: re.Pattern[str] | None

    def covers(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and (self.pattern is None or self.pattern.match(path) is not None)


@dataclass(frozen=True)
class ServiceEntry:
    """What the gateway needs to know of one service on the hot path."""

    id: str
    identifier: str
    subsystem: str
    code: str
    version: str
    base_url: str
    timeout_seconds: float
    max_body_bytes: int
    log_bodies: bool
    enabled: bool
    endpoints: tuple[tuple[str, str], ...]
    rules: tuple[Rule, ...]


@dataclass
class Directory:
    """A read-only picture of the directory at one generation, kept by each gateway process."""

    generation: int
    services: dict[tuple[str, str], ServiceEntry] = field(default_factory=dict)
    subsystems: dict[str, str] = field(default_factory=dict)
    rooms: set[str] = field(default_factory=set)
    groups: dict[str, frozenset[str]] = field(default_factory=dict)
    peers: dict[str, PeerRead] = field(default_factory=dict)
    _allowed: dict[tuple[str, str, str, str], bool] = field(default_factory=dict)

    def allows(self, service: ServiceEntry, client: str, method: str, path: str) -> bool:
        """Whether ``client`` may call ``method path`` on ``service`` (deny unless a right covers it)."""
        key = (service.identifier, client, method, path)
        cached = self._allowed.get(key)
        if cached is not None:
            return cached
        verdict = False
        for rule in service.rules:
            member = rule.subject == client or (rule.subject.startswith("group:")
                                                and client in self.groups.get(rule.subject[6:], frozenset()))
            if member and rule.covers(method, path):
                verdict = True
                break
        if len(self._allowed) > 50_000:
            self._allowed.clear()
        self._allowed[key] = verdict
        return verdict


def load_directory(session: Session) -> Directory:
    """Read the directory into a snapshot for the gateway."""
    directory = Directory(generation=current_generation(session))
    for sub in session.scalars(select(Subsystem)):
        directory.subsystems[sub.identifier] = sub.name
        if sub.is_room:
            directory.rooms.add(sub.identifier)
    for group in session.scalars(select(Group)):
        directory.groups[group.code] = frozenset(group.members)
    rules: dict[uuid.UUID, list[Rule]] = {}
    for right in session.scalars(select(AccessRight)):
        rules.setdefault(right.service_id, []).append(Rule(right.subject, right.method, compile_pattern(right.path)))
    for row, ident in session.execute(select(Service, Subsystem.identifier)
                                      .join(Subsystem, Service.subsystem_id == Subsystem.id)):
        directory.services[(ident, row.code)] = ServiceEntry(
            id=str(row.id), identifier=f"{ident}/{row.code}", subsystem=ident, code=row.code, version=row.version,
            base_url=row.base_url, timeout_seconds=row.timeout_seconds, max_body_bytes=row.max_body_bytes,
            log_bodies=row.log_bodies, enabled=row.enabled,
            endpoints=tuple((e.get("method", "*"), e.get("path", "*")) for e in row.endpoints),
            rules=tuple(rules.get(row.id, ())))
    for peer in session.scalars(select(Peer)):
        directory.peers[peer.instance] = PeerRead.model_validate(peer)
    return directory


_LOCAL_LISTENERS: list[Any] = []


def on_local_change(callback: Any) -> None:
    """Call ``callback()`` whenever this process changes the directory (the gateway drops its cache)."""
    _LOCAL_LISTENERS.append(callback)


def invalidate_local() -> None:
    for callback in list(_LOCAL_LISTENERS):
        callback()


def openapi_of(session: Session, identifier: str) -> dict[str, Any]:
    """The OpenAPI description of a service (a minimal one from its endpoints when none was given)."""
    service = get_service(session, identifier)
    if service.openapi:
        return service.openapi
    paths: dict[str, Any] = {}
    for endpoint in service.endpoints:
        paths.setdefault(endpoint["path"], {})[endpoint["method"].lower()] = {"responses": {"200": {
            "description": "OK"}}}
    return {"openapi": "3.0.3", "info": {"title": service.title, "version": service.version}, "paths": paths}


def require_manage(actor: Actor) -> None:
    """Raise unless ``actor`` manages the exchange."""
    actor.require(EXCHANGE_MANAGE)


def publish_internal_service(session: Session, actor: Actor, *, subsystem: str, code: str, title: str,
                             path_prefix: str, openapi: dict[str, Any] | None = None,
                             endpoints: list[dict[str, str]] | None = None, log_bodies: bool = False) -> ServiceRead:
    """Publish one of Nokor's own APIs (``path_prefix``, e.g. ``/govstack/registries``) through the gateway.

    The gateway calls it in process, as the calling agency system (its API client), so the domain's own
    permission checks and personal-data access log apply to every cross-agency read.
    """
    if not path_prefix.startswith("/"):
        raise _fail("path_prefix", _("A path starts with /."), "bad_path")
    ensure_subsystem(session, actor, identifier=subsystem, name=subsystem.split("/")[-1])
    return publish_service(session, actor, data=ServiceCreate(
        subsystem=subsystem, code=code, title=title, base_url=INTERNAL_SCHEME + path_prefix, openapi=openapi,
        endpoints=[Endpoint(**e) for e in endpoints or []], log_bodies=log_bodies))
