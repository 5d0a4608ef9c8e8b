"""The demo country's places: Cambodia's official lists, loaded when the places table is empty."""

from __future__ import annotations

from sqlalchemy.orm import Session

from nokor.kit.actor import Actor
from nokor.places import service, sources


def load_demo(session: Session) -> list[str]:
    """Load Cambodia's provinces, districts, communes and villages unless places are already loaded."""
    if service.has_divisions(session):
        return []
    report = service.load_divisions(session, Actor.system("demo"), divisions=sources.cambodia())
    return [f"places: {report.added} administrative divisions loaded from {report.source}"]
