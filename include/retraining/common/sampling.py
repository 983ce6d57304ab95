"""Fixed-seed row sampling: the one definition of "a sample of a frame" that the reference
profile, the drift report, the trigger policy's tests and the performance estimate share, so they
compare the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd


def sample_rows(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """`frame` itself when it has at most `max_rows` rows, else a uniform sample of `max_rows`
    rows in their original order; the same frame and seed always give the same rows."""
    if max_rows is None or len(frame) <= max_rows:
        return frame
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[positions].reset_index(drop=True)
