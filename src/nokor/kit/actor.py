"""Who is acting: an officer, an agency system (API client), the platform itself, or the public.

Services receive an ``Actor`` and check permissions themselves, so a route that forgets a check
cannot open a door the service keeps shut.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from nokor.kit.errors import Forbidden
from nokor.kit.i18n import LazyString
from nokor.kit.i18n import gettext as _

ActorKind = Literal["officer", "client", "system", "public", "citizen"]

PERMISSIONS: dict[str, LazyString] = {}


def declare_permission(name: str, description: LazyString) -> str:
    """Add a named permission (``domain.action``) to the catalogue roles are built from."""
    if "." not in name:
        raise ValueError("permission names are domain.action")
    PERMISSIONS[name] = description
    return name


@dataclass(frozen=True)
class Actor:
    """The identity behind a request, with the permissions it holds and where it holds them.

    ``grants`` maps a permission to the organisation units where it applies (a grant in a unit
    covers every unit below it, already expanded), or to ``None`` when it applies everywhere.
    """

    kind: ActorKind
    id: uuid.UUID | None
    name: str
    grants: Mapping[str, frozenset[uuid.UUID] | None] = field(default_factory=dict)
    org_unit_id: uuid.UUID | None = None
    identity: str | None = None
    locale: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        """The platform itself (CLI commands run by the operator, scheduled jobs): every permission."""
        return cls(kind="system", id=None, name=name, grants={p: None for p in PERMISSIONS})

    @classmethod
    def public(cls) -> Actor:
        return cls(kind="public", id=None, name="public")

    def can(self, permission: str, org_unit_id: uuid.UUID | None = None) -> bool:
        if self.kind == "system":
            return True
        if permission not in self.grants:
            return False
        units = self.grants[permission]
        if units is None or org_unit_id is None:
            return True
        return org_unit_id in units

    def require(self, permission: str, org_unit_id: uuid.UUID | None = None) -> None:
        """Raise ``Forbidden`` unless the actor holds ``permission`` (in ``org_unit_id``, when given)."""
        if not self.can(permission, org_unit_id):
            raise Forbidden(_("This needs the permission “%(permission)s”.", permission=permission))

    def require_everywhere(self, permission: str) -> None:
        """Raise ``Forbidden`` unless the actor holds ``permission`` without any limit of scope."""
        if self.kind != "system" and (permission not in self.grants or self.grants[permission] is not None):
            raise Forbidden(_("This needs the permission “%(permission)s”.", permission=permission))
