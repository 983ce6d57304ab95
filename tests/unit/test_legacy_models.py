"""An installation upgraded in place keeps serving the models it logged before: a skops file
written by the pipeline at c459b4f (before the capability packages) loads through today's
loader and trusted list and scores its rows exactly as it did then."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.retraining.tracking.loading import load_model_file
from tests.support import REPO

pytestmark = pytest.mark.unit

LEGACY = REPO / "tests" / "data" / "legacy"


def test_a_model_logged_before_the_packages_loads_and_scores_as_it_did() -> None:
    model = load_model_file(LEGACY / "churn_model_c459b4f.skops", "churn v1 (c459b4f)")
    rows = pd.read_csv(LEGACY / "churn_rows.csv")

    scores = model.predict_proba(rows)[:, 1]

    assert np.allclose(scores, np.loadtxt(LEGACY / "churn_scores_c459b4f.txt"), rtol=0, atol=1e-12)


def test_models_logged_now_name_the_converters_as_the_old_ones_did() -> None:
    from include.retraining.features import preprocessing

    assert preprocessing._as_float.__module__ == "include.retraining.features"
    assert preprocessing._as_text.__module__ == "include.retraining.features"
