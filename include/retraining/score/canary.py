"""Which rows the canary answers (`serving.canary.fraction`): one rule for REST and batch.

Sticky by id: a row that carries the source's id column goes to the canary when the id's hash,
read as a number in [0, 1), is below the fraction, so one customer always meets the same version
however often it is scored, by the REST server or by `score_<model>` (blake2b of the id's text:
the same on every host and release, unlike Python's `hash`). A row without an id is drawn at
random, one draw per request, so a request's rows without ids are answered by one version."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pandas as pd

from include.retraining.warehouse import id_text

_SPACE = float(1 << 64)


def id_share(text: str) -> float:
    """The id's place in [0, 1), the same wherever it is computed."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / _SPACE


def canary_rows(frame: pd.DataFrame, id_column: str | None, fraction: float, draw: Callable[[], float]) -> np.ndarray:
    """True for the rows the canary answers: by the id's hash where the row has one, else by one
    `draw()` (uniform in [0, 1)) for the request."""
    if fraction <= 0 or frame.empty:
        return np.zeros(len(frame), dtype=bool)
    ids = frame[id_column] if id_column and id_column in frame.columns else pd.Series([None] * len(frame))
    missing = ids.isna().to_numpy()
    chosen = np.zeros(len(frame), dtype=bool)
    if (~missing).any():
        texts = id_text(ids[~missing]).tolist()
        chosen[~missing] = np.fromiter((id_share(t) < fraction for t in texts), dtype=bool, count=len(texts))
    if missing.any():
        chosen[missing] = draw() < fraction
    return chosen
