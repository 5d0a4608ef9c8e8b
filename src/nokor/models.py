"""Imports every domain's tables so that ``Base.metadata`` is complete (for Alembic and tests)."""

from nokor.accounts import models as accounts_models
from nokor.audit import models as audit_models
from nokor.civil import models as civil_models
from nokor.db import Base
from nokor.exchange import models as exchange_models
from nokor.identity import models as identity_models
from nokor.kit import outbox
from nokor.messaging import models as messaging_models
from nokor.payments import models as payments_models
from nokor.places import models as places_models
from nokor.registries import models as registries_models
from nokor.services import models as services_models
from nokor.trust import models as trust_models

metadata = Base.metadata

__all__ = ["accounts_models", "audit_models", "civil_models", "exchange_models", "identity_models",
           "messaging_models",
           "metadata", "outbox", "payments_models", "places_models", "registries_models", "services_models",
           "trust_models"]
