"""Paired per-row evidence of gate decisions, and pooling it across consecutive retrains.

One holdout of 1,000 rows cannot both block a slightly worse challenger (-0.006 ROC AUC) every
time and promote a clearly better one (+0.02) more often than half the time: the two are 2
standard errors apart (docs/decisions.md, "The promotion gate"). Pooling adds rows without bias:
a decision pools its own holdout with the holdout rows of the latest earlier decisions against
the same baseline version and recipe (config hash) that are older than every newer holdout, so
- each row is scored by the challenger of its own window, which never trained on it (its holdout),
- no row counts twice: the pooled holdouts are disjoint by time, and a row is one (id, timestamp)
  (the validation suite checks that pair is unique). The same customer at an older snapshot is
  another row, as it is within one holdout: dropping it would pool nothing for a table of weekly
  snapshots of the same customers,
- the baseline never trained on any of them: every pooled row is after its training cutoff,
- all of them were decided in the baseline's current tenure as champion (`in_tenure`): a rollback
  to an old version starts a new tenure, and its decisions of months ago (another regime) stay out.
The paired test on the union then estimates the recipe's average advantage over the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class HoldoutEvidence:
    """One decision's holdout: per row the label, both scores, the timestamp and (optional) id.

    `timestamps` are int64 nanoseconds (UTC) or any ordered numbers; `compared_with` is the
    baseline version scored, `config_hash` the recipe that trained the challenger. `started_at`
    is when the challenger's run started (same unit), never after its decision; None when unknown.
    """

    run_id: str
    compared_with: str
    config_hash: str
    timestamps: np.ndarray
    y: np.ndarray
    challenger: np.ndarray
    champion: np.ndarray
    ids: np.ndarray | None = None
    started_at: float | int | None = None

    @property
    def rows(self) -> int:
        return len(self.y)

    def subset(self, keep: np.ndarray) -> HoldoutEvidence:
        return replace(
            self,
            timestamps=self.timestamps[keep],
            y=self.y[keep],
            challenger=self.challenger[keep],
            champion=self.champion[keep],
            ids=self.ids[keep] if self.ids is not None else None,
        )


def to_frame(evidence: HoldoutEvidence) -> pd.DataFrame:
    """The evidence as the tracker stores it: one row per holdout row (timestamp in ns, label,
    both scores, the id when there is one)."""
    frame = pd.DataFrame(
        {
            "timestamp": evidence.timestamps.astype("int64"),
            "y": evidence.y,
            "challenger": evidence.challenger.astype("float64"),
            "champion": evidence.champion.astype("float64"),
        }
    )
    if evidence.ids is not None:
        frame["id"] = evidence.ids
    return frame


def from_frame(
    frame: pd.DataFrame, run_id: str, compared_with: str, config_hash: str, started_at: int | None = None
) -> HoldoutEvidence:
    return HoldoutEvidence(
        run_id,
        compared_with,
        config_hash,
        frame["timestamp"].to_numpy("int64"),
        frame["y"].to_numpy(),
        frame["challenger"].to_numpy("float64"),
        frame["champion"].to_numpy("float64"),
        frame["id"].to_numpy() if "id" in frame.columns else None,
        started_at,
    )


@dataclass(frozen=True)
class PooledEvidence:
    """The rows one decision tests on: the current holdout first, then older holdouts' rows."""

    y: np.ndarray
    challenger: np.ndarray
    champion: np.ndarray
    rows_per_window: tuple[int, ...]
    run_ids: tuple[str, ...]
    note: str = ""

    @property
    def windows(self) -> int:
        return len(self.rows_per_window)

    @property
    def rows(self) -> int:
        return int(sum(self.rows_per_window))

    def summary(self) -> dict[str, object]:
        """The figures a decision reports: rows and windows pooled, and whose holdouts they were."""
        return {
            "windows": self.windows,
            "rows": self.rows,
            "rows_per_window": list(self.rows_per_window),
            "run_ids": list(self.run_ids),
            "note": self.note,
        }


def in_tenure(earlier: list[HoldoutEvidence], since: float | int | None) -> list[HoldoutEvidence]:
    """The decisions made during the baseline's current tenure as champion: those whose run
    started at or after `since`, the moment alias `champion` last moved to the baseline.

    A run's start is never after its decision, so a decision is never counted in a tenure it was
    not made in (a run started just before the move and judged after it is left out: fewer rows,
    never wrong ones). Without `since` or a run's start time: none (fail closed).
    """
    if since is None:
        return []
    return [e for e in earlier if e.started_at is not None and e.started_at >= since]


def pool_evidence(
    current: HoldoutEvidence,
    earlier: list[HoldoutEvidence],
    windows: int,
    baseline_cutoff: float | int | None,
    *,
    since: float | int | None,
) -> PooledEvidence:
    """The current holdout plus rows of up to `windows - 1` earlier decisions' holdouts.

    `earlier` may hold any decisions: only those against the same baseline version and recipe,
    made in the baseline's current tenure as champion (since `since`, `in_tenure`) are used,
    newest holdout first, each contributing its rows older than every newer holdout already
    pooled and after `baseline_cutoff` (the last timestamp the baseline trained on). Without a
    known cutoff or tenure start nothing earlier is pooled (fail closed to the current holdout).
    """
    parts, note = [current], ""
    same = [e for e in earlier if _same_recipe(e, current)]
    if windows > 1 and same and baseline_cutoff is None:
        note = "the baseline's training cutoff is unknown: only this holdout is used"
    elif windows > 1 and same and since is None:
        note = (
            f"the promotion log does not show when version {current.compared_with}'s current tenure as "
            "champion began: only this holdout is used"
        )
    elif windows > 1:
        tenure = in_tenure(same, since)
        if len(tenure) < len(same):
            note = (
                f"{len(same) - len(tenure)} earlier decision(s) against version {current.compared_with} were "
                "made before its current tenure as champion: not pooled"
            )
        parts += _older_parts(current, tenure, windows, baseline_cutoff)
    return PooledEvidence(
        y=np.concatenate([p.y for p in parts]),
        challenger=np.concatenate([p.challenger for p in parts]).astype("float64"),
        champion=np.concatenate([p.champion for p in parts]).astype("float64"),
        rows_per_window=tuple(p.rows for p in parts),
        run_ids=tuple(p.run_id for p in parts),
        note=note,
    )


def _older_parts(
    current: HoldoutEvidence, earlier: list[HoldoutEvidence], windows: int, baseline_cutoff: float | int
) -> list[HoldoutEvidence]:
    """Newest holdout first, each one's rows older than every newer part and after the cutoff."""
    parts: list[HoldoutEvidence] = []
    boundary = current.timestamps.min() if current.rows else None
    for older in sorted(earlier, key=lambda e: e.timestamps.max() if e.rows else 0, reverse=True):
        if len(parts) == windows - 1 or boundary is None:
            break
        keep = (older.timestamps < boundary) & (older.timestamps > baseline_cutoff)
        if not keep.any():
            continue
        parts.append(older.subset(keep))
        boundary = min(boundary, older.timestamps.min())
    return parts


def _same_recipe(evidence: HoldoutEvidence, current: HoldoutEvidence) -> bool:
    return (
        evidence.run_id != current.run_id
        and evidence.compared_with == current.compared_with
        and evidence.config_hash == current.config_hash
    )
