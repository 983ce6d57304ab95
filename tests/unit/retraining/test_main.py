"""`python -m retraining check` as CI runs it: its own process, an exit status, JSON on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import REPO

pytestmark = pytest.mark.unit


def _check(*args: str, models: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "RETRAINING_MODELS_DIR": str(models), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "retraining", "check", *args], cwd=REPO, env=env, capture_output=True, text=True
    )


def test_a_misspelled_key_fails_the_check_with_did_you_mean(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    data["monitor"]["cooldwn_hours"] = 12
    (tmp_path / "churn.yaml").write_text(yaml.safe_dump(data))

    result = _check("--offline", "--json", models=tmp_path)

    assert result.returncode == 1, result.stderr
    (finding,) = json.loads(result.stdout)
    assert finding["status"] == "problem" and "did you mean 'monitor.cooldown_hours'?" in finding["message"]


def test_the_shipped_model_files_pass_offline() -> None:
    result = _check(
        "--offline", str(REPO / "examples" / "models" / "doctor_visits.yaml"), models=REPO / "include" / "models"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "retrain_doctor_visits" in result.stdout and "0 problem(s)" in result.stdout


@pytest.mark.parametrize(
    "text", ["2025-03-03T04:00:00", "2025-03-03T04:00:00Z", "2025-03-03T05:00:00+01:00"], ids=["naive", "z", "offset"]
)
def test_window_end_is_utc_unless_it_says_otherwise(text: str) -> None:
    from datetime import UTC, datetime

    from retraining.__main__ import _utc

    assert _utc(text) == datetime(2025, 3, 3, 4, tzinfo=UTC)
