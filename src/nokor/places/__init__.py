"""Places: administrative divisions (province → district → commune → village) as a versioned tree.

Other domains use only what is listed here. Place names are not personal data: reading them needs no actor.
"""

from nokor.places.demo import load_demo
from nokor.places.schemas import DivisionRead, Level, LevelCount, LoadReport, PickerState
from nokor.places.service import (
    PLACES_MANAGE,
    children_of,
    count_divisions,
    get_division,
    history_of,
    path_of,
    picker_state,
    search_divisions,
    village_codes,
)
from nokor.places.sources import ATTRIBUTION

__all__ = [
    "ATTRIBUTION",
    "PLACES_MANAGE",
    "DivisionRead",
    "Level",
    "LevelCount",
    "LoadReport",
    "PickerState",
    "children_of",
    "count_divisions",
    "get_division",
    "history_of",
    "load_demo",
    "path_of",
    "picker_state",
    "search_divisions",
    "village_codes",
]
