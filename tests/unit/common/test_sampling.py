"""Unit tests for include.retraining.common.sampling: the fixed-seed row sample every comparison shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.retraining.common import sample_rows

pytestmark = pytest.mark.unit


def test_sample_rows_keeps_small_frames_and_order():
    frame = pd.DataFrame({"x": np.arange(10_000)})

    sample = sample_rows(frame, 1500, seed=0)

    assert sample_rows(frame, 20_000, seed=0) is frame
    assert sample_rows(frame, None, seed=0) is frame
    assert len(sample) == 1500 and sample["x"].is_unique
    assert sample["x"].is_monotonic_increasing
    assert sample.equals(sample_rows(frame, 1500, seed=0))
    assert not sample.equals(sample_rows(frame, 1500, seed=1))
    assert sample.index.tolist() == list(range(1500))
