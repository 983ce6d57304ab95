"""`python -m retraining backtest` refuses before it replays anything: windows whose labels have
not matured, an unknown model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.unit


def _backtest(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "RETRAINING_MODELS_DIR": str(REPO / "include" / "models"),
        "RETRAINING_DATA_DIR": str(tmp_path / "data"),
        "AIRFLOW_CONN_WAREHOUSE": f"sqlite:///{tmp_path / 'warehouse.db'}",
    }
    command = [sys.executable, "-m", "retraining", "backtest", *args, "--out", str(tmp_path / "out")]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)


def test_windows_whose_labels_have_not_matured_are_refused_before_anything_runs(tmp_path: Path) -> None:
    result = _backtest("churn", "--start", "2099-01-01", "--end", "2099-02-01", tmp_path=tmp_path)

    assert result.returncode == 2, result.stderr
    assert "backtest refused" in result.stderr and "have not matured" in result.stderr
    assert "training.label_delay_days=7" in result.stderr and "--end" in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_unknown_model_names_the_models_folder(tmp_path: Path) -> None:
    result = _backtest("fraud", "--start", "2026-01-01", "--end", "2026-02-01", tmp_path=tmp_path)

    assert result.returncode == 2
    assert "fraud.yaml" in result.stderr and str(REPO / "include" / "models") in result.stderr


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (("--rollback", "the day it broke=reason"), "--rollback 'the day it broke': the time is not ISO 8601"),
        (("--rollback", "2025-12-01T03:00"), "--rollback 2025-12-01T03:00:00+00:00 is outside the backtest"),
        (("--source-before", "2026-01-19T03:00=sqlite:///{tmp}/backup.db"), "no database file"),
    ],
)
def test_a_rollback_or_an_earlier_source_that_cannot_be_replayed_is_refused_before_anything_runs(
    tmp_path: Path, given: tuple[str, str], says: str
) -> None:
    option, value = given
    result = _backtest(
        "churn", "--start", "2026-01-01", "--end", "2026-02-01", option, value.format(tmp=tmp_path), tmp_path=tmp_path
    )

    assert result.returncode == 2, result.stderr
    assert "backtest refused" in result.stderr and says in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "backup.db").exists()
