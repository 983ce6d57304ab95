"""The reference profile written at training time: every row counted, the monitor's own sample
kept whole, written atomically and read back as it was; what validation learns from it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from demo.churn_data import generate_snapshots
from include.retraining.common import Window, sample_rows
from include.retraining.config import load_model_config
from include.retraining.learning import learned_profile
from include.retraining.reference import build_profile, read_reference, save_reference, write_reference

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
SMALL_SAMPLE = CONFIG.model_copy(update={"monitor": CONFIG.monitor.model_copy(update={"max_rows": 1500})})
WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 5, tzinfo=UTC))


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_snapshots(4000, WINDOW.start, WINDOW.end, seed=3)


def test_the_profile_covers_every_row_and_the_sample_is_the_monitors_own(data: pd.DataFrame) -> None:
    profile, sample = build_profile(data, SMALL_SAMPLE)

    contract = profile.columns["contract"]
    assert profile.rows == len(data) and "customer_id" not in profile.columns
    assert contract.categories == data["contract"].value_counts().to_dict()
    assert profile.null_share["monthly_charges"] == pytest.approx(data["monthly_charges"].isna().mean())
    charges = profile.columns["monthly_charges"]
    assert sum(charges.histogram["counts"]) == data["monthly_charges"].notna().sum()
    assert charges.quantiles["0.5"] == pytest.approx(data["monthly_charges"].median())
    expected = sample_rows(data, 1500, CONFIG.training.seed).drop(columns="customer_id")
    pd.testing.assert_frame_equal(sample, expected)
    # Evidently and the PSI re-sample the reference with the same seed: the sample is kept whole.
    pd.testing.assert_frame_equal(sample_rows(sample, 1500, CONFIG.training.seed), sample)


def test_a_written_profile_reads_back_as_it_was_built(data: pd.DataFrame, tmp_path: Path) -> None:
    built, sample = build_profile(data, SMALL_SAMPLE)

    written = save_reference(built, sample, tmp_path)
    read = read_reference(tmp_path)

    assert read == written and read.to_dict() == built.to_dict()
    assert read.sample_path == str(tmp_path / "sample.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(read.sample_path), sample)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.json", "sample.parquet"]  # no temp file left


def test_a_folder_without_both_files_holds_no_profile(data: pd.DataFrame, tmp_path: Path) -> None:
    assert read_reference(tmp_path / "missing") is None
    write_reference(data, SMALL_SAMPLE, tmp_path)
    (tmp_path / "sample.parquet").unlink()

    assert read_reference(tmp_path) is None


def test_validation_learns_the_same_from_the_profile_as_from_the_rows(data: pd.DataFrame, tmp_path: Path) -> None:
    stored = read_reference(tmp_path) if write_reference(data, CONFIG, tmp_path) else None

    learned = learned_profile(stored)

    assert learned.categories["contract"] == sorted(data["contract"].dropna().astype(str).unique())
    assert learned.null_share["tenure_months"] == pytest.approx(data["tenure_months"].isna().mean())
