"""What the gate decided and what promote did, typed: one dataclass per result, turned into a plain
dict only at the XCom boundary (`to_xcom`) and parsed back once (`from_xcom`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Evaluated:
    """The gate's decision with its figures, and which champion it compared against.

    `champion_version` is the version that was `champion` when evaluation began: promotion moves
    the alias only if it still is (compare-and-set). `compared_with` names the version actually
    scored: the champion, `previous_champion` when the champion was unusable, or None.
    """

    champion_version: str | None
    promote: bool
    reason: str
    metric: str
    challenger_value: float | None = None
    champion_value: float | None = None
    interval: dict[str, Any] | None = None
    guardrails: list[dict[str, Any]] | None = None
    already_decided: bool = False
    challenger_metrics: dict[str, float] | None = None
    champion_metrics: dict[str, float] | None = None
    compared_with: str | None = None
    champion_unusable: str | None = None
    # With gate.pooled_windows > 1: the rows and windows the interval was measured on.
    pooled: dict[str, Any] | None = None
    # What the leakage guard found (gate.leakage), each a LeakageSuspect as a dict; any one blocks.
    leakage: list[dict[str, Any]] | None = None

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> Evaluated:
        return _from_dict(cls, data)

    def figures(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "challenger_value": self.challenger_value,
            "champion_value": self.champion_value,
            "interval": self.interval,
            **({"pooled": self.pooled} if self.pooled else {}),
        }


class PromotionOutcome(StrEnum):
    """What promote did to the registry; every outcome that left `champion` alone skips the task."""

    PROMOTED = "promoted"
    BLOCKED = "blocked"
    UNCHANGED = "unchanged"
    DRY_RUN_PROMOTE = "dry_run_promote"
    DRY_RUN_BLOCK = "dry_run_block"
    # Not promoted, but a move the promotion log recorded and the registry lost was completed.
    REPAIRED = "repaired"
    # Passed the gate with `serving.canary` set: alias `challenger` on canary, the monitor decides.
    CANARY = "canary"

    @property
    def changed_champion(self) -> bool:
        return self in (PromotionOutcome.PROMOTED, PromotionOutcome.REPAIRED)


@dataclass(frozen=True)
class Promotion:
    action: PromotionOutcome
    version: str | None
    reason: str
    previous: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        return {"action": self.action.value, "version": self.version, "reason": self.reason, "previous": self.previous}

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> Promotion:
        return cls(PromotionOutcome(data["action"]), data.get("version"), data["reason"], data.get("previous"))
