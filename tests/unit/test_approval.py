"""The approval step's decisions: when a person is asked, how the answer is read, what promote
does with it, and what the approver reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from include.retraining.common.settings import load_settings
from include.retraining.common.windows import Window
from include.retraining.config.model import ModelConfigError, load_model_config, parse_model_config
from include.retraining.promotion import approval
from include.retraining.promotion.approval import Approval, ApprovalDecision
from include.retraining.retrain.contracts import Evaluated, Extracted, Trained
from include.retraining.runs.context import RunInfo, StepContext

pytestmark = pytest.mark.unit

SHIPPED = Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml"
CONFIG = load_model_config(SHIPPED)
REQUIRED = CONFIG.model_copy(update={"gate": CONFIG.gate.model_copy(update={"approval": "required"})})
WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
PASSED = Evaluated(
    champion_version="3",
    promote=True,
    reason="lower bound +0.004 > 0.0",
    metric="roc_auc",
    challenger_value=0.84,
    champion_value=0.83,
    interval={"difference": 0.01, "lower": 0.004, "upper": 0.02, "confidence": 0.95},
    challenger_metrics={"roc_auc": 0.84, "f1": 0.5},
    champion_metrics={"roc_auc": 0.83, "f1": 0.49},
)


def _ctx(tmp_path: Path) -> StepContext:
    run = RunInfo(dag_id="retrain_churn", run_id="manual__1", window_end=WINDOW.end)
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path)})
    return StepContext(config=REQUIRED, settings=settings, run=run)


def test_approval_is_off_by_default_and_a_bad_value_names_the_key() -> None:
    assert CONFIG.gate.approval == "none" and CONFIG.gate.approval_timeout == 72.0
    data = yaml.safe_load(SHIPPED.read_text())
    data["gate"]["approval"] = "maybe"
    with pytest.raises(ModelConfigError, match="gate.approval"):
        parse_model_config(data, Path("churn.yaml"))


@pytest.mark.parametrize(
    ("config", "evaluated", "dry_run", "asked"),
    [
        (REQUIRED, PASSED, False, True),
        (CONFIG, PASSED, False, False),
        (REQUIRED, PASSED, True, False),
        (REQUIRED, Evaluated(champion_version="3", promote=False, reason="no", metric="roc_auc"), False, False),
        (REQUIRED, Evaluated(None, True, "decided", "roc_auc", already_decided=True), False, False),
    ],
)
def test_a_person_is_asked_only_when_the_champion_would_move(config, evaluated, dry_run, asked) -> None:
    assert approval.needs_approval(config, evaluated, dry_run) is asked


def test_the_answer_is_read_with_its_user_and_a_timeout_is_nobodys() -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    user = {"id": "alice", "name": "alice"}

    assert approval.from_response(["Approve"], user, at, False) == Approval(
        ApprovalDecision.APPROVED, "alice", at.isoformat()
    )
    assert approval.from_response(["Reject"], user, at, False).decision is ApprovalDecision.REJECTED
    assert approval.from_response(["Reject"], None, at, True) == Approval(
        ApprovalDecision.TIMED_OUT, None, at.isoformat()
    )


def test_promote_gets_the_approver_or_a_blocked_gate(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)

    approved_ctx, gate = approval.apply(ctx, PASSED, Approval(ApprovalDecision.APPROVED, "alice"))
    assert approved_ctx.run.approved_by == "alice" and gate == PASSED

    _, rejected = approval.apply(ctx, PASSED, Approval(ApprovalDecision.REJECTED, "bob"))
    assert rejected.promote is False and rejected.reason == "rejected by bob in the Airflow UI"

    _, timed_out = approval.apply(ctx, PASSED, Approval(ApprovalDecision.TIMED_OUT))
    assert timed_out.promote is False and timed_out.reason == "approval timed out: nobody answered within 72 h"

    assert approval.apply(ctx, PASSED, None) == (ctx, PASSED)
    assert Approval.from_xcom(Approval(ApprovalDecision.REJECTED, "bob", "t").to_xcom()).by == "bob"


def test_the_approver_reads_the_figures_the_interval_and_the_links() -> None:
    extracted = Extracted("s.parquet", "abc", 1234, WINDOW)
    trained = Trained("run1", "7", "models:/m", False)
    links = {"MLflow run": "http://mlflow/#/runs/run1", "Latest drift report (no monitoring run yet)": ""}

    text = approval.summary(REQUIRED, extracted, trained, PASSED, links)

    assert "| roc_auc | 0.8400 | 0.8300 |" in text and "| f1 | 0.5000 | 0.4900 |" in text
    assert "lower bound +0.0040" in text and "1234 rows" in text and "champion version 3" in text
    assert "(2026-01-01T00:00:00+00:00, 2026-03-01T00:00:00+00:00]" in text
    assert "- [MLflow run](http://mlflow/#/runs/run1)" in text
    assert "- Latest drift report (no monitoring run yet): not available" in text
    assert "no answer within 72 h" in text
