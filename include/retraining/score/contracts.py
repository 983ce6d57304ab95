"""What the `score_<model>` tasks hand each other, typed (dataclasses turned into plain dicts only
at the XCom boundary), and how a step says the run stops. Outcomes are enums, not strings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from include.retraining.common import Window


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


@dataclass(frozen=True)
class ScoringPlan:
    """The interval a run scores and the versions that score it, pinned when the run starts."""

    interval: Window
    table: str
    champion: str
    challenger: str | None
    shadow: ShadowOutcome
    # The challenger is on canary (`serving.canary`): the share of rows it answers.
    canary: float | None = None

    def to_xcom(self) -> dict[str, Any]:
        return {
            "interval": self.interval.to_dict(),
            "table": self.table,
            "champion": self.champion,
            "challenger": self.challenger,
            "shadow": self.shadow.value,
            "canary": self.canary,
        }

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> ScoringPlan:
        return cls(
            Window.from_dict(data["interval"]),
            str(data["table"]),
            str(data["champion"]),
            data.get("challenger"),
            ShadowOutcome(data["shadow"]),
            data.get("canary"),
        )


@dataclass(frozen=True)
class AliasScored:
    """One alias's part of a run: its version, rows, and what the input held that training did not
    (`invalid`: values not of their column's type, scored as nulls under `scoring.nulls: impute`)."""

    alias: Alias
    version: str
    rows: int
    nulls: dict[str, int] = field(default_factory=dict)
    unseen: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)

    def to_xcom(self) -> dict[str, Any]:
        return {
            "alias": self.alias.value,
            "version": self.version,
            "rows": self.rows,
            "nulls": dict(self.nulls),
            "unseen": dict(self.unseen),
            "invalid": dict(self.invalid),
        }


@dataclass(frozen=True)
class ScoringResult:
    interval: Window
    table: str
    rows: int
    scored: list[AliasScored]
    shadow: ShadowOutcome
    shadow_error: str = ""
    # Rows older than retention.predictions_days deleted after the write.
    pruned: int = 0

    def to_xcom(self) -> dict[str, Any]:
        return {
            "interval": self.interval.to_dict(),
            "table": self.table,
            "rows": self.rows,
            "scored": [s.to_xcom() for s in self.scored],
            "shadow": self.shadow.value,
            "shadow_error": self.shadow_error,
            "pruned": self.pruned,
        }
