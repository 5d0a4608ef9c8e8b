"""Every civil test that touches the database finds the villages of ``factories.PLACES_CSV`` loaded."""

from __future__ import annotations

import pytest
from tests.civil.factories import load_places


@pytest.fixture(autouse=True)
def _places(request: pytest.FixtureRequest) -> None:
    if "db" in request.fixturenames:
        db = request.getfixturevalue("db")
        load_places(db)
        db.commit()
