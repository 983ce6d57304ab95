"""The canary's share of traffic (`serving.canary` in the model file): which rows the version on
canary answers, and the follower that loads it.

The version on canary is the one behind alias `challenger` when the gate put it there for a
canary (tag `retraining.decision=canary`, include/retraining/promotion/canary.py); a challenger
the gate blocked holds the same alias but never answers. Which rows: the batch scorer's rule
(`score.canary_rows`): by the hash of the source's id column when a row has it (sticky: one id
always meets the same version), else one draw per request. The champion scores every row, the
canary's too (in shadow), so the inference log holds both scores of each canary row and the
monitor compares the two on the same rows; only the answering score is marked `answered`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from include.retraining.score import canary_rows
from serving.follower import AliasFollower, Served

log = logging.getLogger(__name__)


@dataclass
class Canary:
    follower: AliasFollower  # alias `challenger`, admitting only a version on canary
    fraction: float
    id_column: str | None
    draw: Callable[[], float] = field(default=random.random)

    @property
    def served(self) -> Served | None:
        return self.follower.served

    def rows(self, frame: pd.DataFrame) -> np.ndarray:
        """True for the rows the canary answers."""
        return canary_rows(frame, self.id_column, self.fraction, self.draw)

    def describe(self) -> dict[str, object]:
        served = self.served
        return {"alias": self.follower.alias, "fraction": self.fraction, "version": served.version if served else None}
