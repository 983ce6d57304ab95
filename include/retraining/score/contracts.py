"""What the `score_<model>` tasks hand each other, and how a step says the run stops.

Plain JSON-able `TypedDict`s, so they cross XCom as the dicts they are; the interval travels as
`Window.to_dict()` and is read back with `Window.from_dict`. Outcomes are enums, not strings.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypedDict

from include.retraining.monitor.contracts import WindowDict


class Alias(StrEnum):
    """Who a row of the predictions table was scored by (the contract's `alias` column)."""

    CHAMPION = "champion"
    CHALLENGER = "challenger"


class ShadowOutcome(StrEnum):
    """What happened to the shadow challenger in a run."""

    SCORED = "scored"
    OFF = "off"  # scoring.shadow is false
    NONE = "none"  # no alias `challenger`, or it is the champion's version
    UNUSABLE = "unusable"  # it could not be loaded: alerted, the champion's rows written alone


class NoChampion(Exception):
    """The model has no alias `champion` yet: nothing to score, the run skips with this reason."""


class ScoringPlan(TypedDict):
    """The interval a run scores and the versions that score it, pinned when the run starts."""

    interval: WindowDict
    table: str
    champion: str
    challenger: str | None
    shadow: ShadowOutcome


class AliasScored(TypedDict):
    """One alias's part of a run: its version, rows, and what the input held that training did not."""

    alias: Alias
    version: str
    rows: int
    nulls: dict[str, int]
    unseen: dict[str, int]


class ScoringResult(TypedDict):
    interval: WindowDict
    table: str
    rows: int
    scored: list[AliasScored]
    shadow: ShadowOutcome
    shadow_error: str
