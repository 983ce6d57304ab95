"""The approval step's decisions: when a person is asked, how the answer is read, what promote
does with it (the gate after the answer, and who approved), and what the approver reads."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from include.retraining.artifacts import validation_html
from include.retraining.common import Window, load_settings
from include.retraining.config import ModelConfigError, load_model_config, parse_model_config
from include.retraining.promotion import Approval, ApprovalDecision, Evaluated, approval
from include.retraining.runs import RunInfo, StepContext
from include.retraining.warehouse import Database
from tests.unit.promotion.fakes import MovingRegistry, VersionTracker

pytestmark = pytest.mark.unit

SHIPPED = Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml"
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
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    db = Database(f"sqlite:///{tmp_path / 'warehouse.db'}")
    return StepContext(REQUIRED, settings, run, tracker=VersionTracker(), registry=MovingRegistry(), pipeline_db=db)


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
        ApprovalDecision.APPROVED, "alice", at.isoformat(), "alice"
    )
    assert approval.from_response(["Reject"], user, at, False).decision is ApprovalDecision.REJECTED
    assert approval.from_response(["Reject"], None, at, True) == Approval(
        ApprovalDecision.TIMED_OUT, None, at.isoformat()
    )
    assert approval.from_response(["Approve"], {"id": "7", "name": "bob"}, at, False).by_id == "7"
    answer = Approval(ApprovalDecision.APPROVED, "bob", at.isoformat(), "7")
    assert Approval.from_xcom(answer.to_xcom()) == answer


FOUR_EYES = CONFIG.model_copy(update={"gate": CONFIG.gate.model_copy(update={"approval": "four_eyes"})})


def test_four_eyes_refuses_the_triggerers_own_approval_naming_the_user_and_the_fix() -> None:
    own = Approval(ApprovalDecision.APPROVED, "alice", "2026-03-02T00:00:00+00:00", "alice")

    refused = approval.self_approval(FOUR_EYES, own, "alice")

    assert refused is not None
    assert refused.startswith("model 'churn': approval refused: gate.approval is four_eyes and alice triggered")
    assert "clear task approve of this run" in refused
    assert "someone other than alice" in refused and "nothing was promoted" in refused


@pytest.mark.parametrize(
    ("config", "answer", "triggered_by"),
    [
        (FOUR_EYES, Approval(ApprovalDecision.APPROVED, "bob", None, "bob"), "alice"),  # another user
        (FOUR_EYES, Approval(ApprovalDecision.APPROVED, "alice", None, "1"), None),  # scheduled: nobody triggered
        (FOUR_EYES, Approval(ApprovalDecision.REJECTED, "alice", None, "alice"), "alice"),  # saying no is fine
        (FOUR_EYES, Approval(ApprovalDecision.TIMED_OUT), "alice"),
        (REQUIRED, Approval(ApprovalDecision.APPROVED, "alice", None, "alice"), "alice"),  # required: allowed
    ],
)
def test_four_eyes_allows_everything_else(config, answer: Approval, triggered_by: str | None) -> None:
    assert approval.self_approval(config, answer, triggered_by) is None


def test_four_eyes_matches_the_triggerer_by_user_id_too() -> None:
    """An auth manager whose ids are not the user names (FAB: numeric ids)."""
    answer = Approval(ApprovalDecision.APPROVED, "Alice Smith", None, "alice")

    assert approval.self_approval(FOUR_EYES, answer, "alice") is not None


def test_promote_gets_the_approver_or_a_blocked_gate() -> None:
    approved = Approval(ApprovalDecision.APPROVED, "alice")
    assert approval.gate_after(REQUIRED, PASSED, approved) == PASSED and approval.approver(approved) == "alice"

    rejected = approval.gate_after(REQUIRED, PASSED, Approval(ApprovalDecision.REJECTED, "bob"))
    assert rejected == replace(PASSED, promote=False, reason="rejected by bob in the Airflow UI")
    assert approval.approver(Approval(ApprovalDecision.REJECTED, "bob")) is None

    timed_out = approval.gate_after(REQUIRED, PASSED, Approval(ApprovalDecision.TIMED_OUT))
    assert timed_out.promote is False and timed_out.reason == "approval timed out: nobody answered within 72 h"
    assert timed_out.challenger_value == PASSED.challenger_value, "the figures stay the gate's"

    assert approval.gate_after(REQUIRED, PASSED, None) == PASSED and approval.approver(None) is None
    assert Approval.from_xcom(Approval(ApprovalDecision.REJECTED, "bob", "t").to_xcom()).by == "bob"


def test_the_approver_reads_the_figures_the_interval_and_the_links() -> None:
    links = {"MLflow run": "http://mlflow/#/runs/run1", "Latest drift report (no monitoring run yet)": ""}

    text = approval.summary(REQUIRED, WINDOW, 1234, PASSED, links)

    assert "| roc_auc | 0.8400 | 0.8300 |" in text and "| f1 | 0.5000 | 0.4900 |" in text
    assert "lower bound +0.0040" in text and "1234 rows" in text and "champion version 3" in text
    assert "(2026-01-01T00:00:00+00:00, 2026-03-01T00:00:00+00:00]" in text
    assert "- [MLflow run](http://mlflow/#/runs/run1)" in text
    assert "- Latest drift report (no monitoring run yet): not available" in text
    assert "no answer within 72 h" in text


def test_the_links_name_the_runs_this_windows_gx_result_and_the_latest_drift_report(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    settings = ctx.settings

    links = approval.links(ctx, WINDOW, "7", "run1")

    assert links["Airflow run"] == ctx.run_url and links["MLflow run"].endswith("/#/experiments/7/runs/run1")
    assert links["GX result"] == "", "no GX result written for this window yet"
    assert links["Latest drift report (no monitoring run yet)"] == ""

    gx = validation_html(settings.artifact_root, "churn", WINDOW)
    gx.parent.mkdir(parents=True)
    gx.write_text("<html></html>")
    report = settings.artifact_root / "churn" / "report.html"
    with sqlite3.connect(tmp_path / "warehouse.db") as conn:
        conn.execute("CREATE TABLE model_monitoring (model TEXT, window_end TEXT, report_path TEXT)")
        conn.execute("INSERT INTO model_monitoring VALUES ('churn', '2026-02-23', ?)", (str(report),))

    links = approval.links(ctx, WINDOW, "7", "run1")

    assert links["GX result"].startswith(settings.airflow_base_url) and links["GX result"].endswith(".html")
    assert links["Latest drift report (2026-02-23)"].endswith("/churn/report.html")


def test_a_monitoring_table_it_cannot_read_is_named_and_the_approval_still_asked(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    with sqlite3.connect(tmp_path / "warehouse.db") as conn:
        conn.execute("CREATE TABLE model_monitoring (other INTEGER)")

    links = approval.links(ctx, WINDOW, "7", "run1")

    assert links["Latest drift report (could not read model_monitoring: OperationalError)"] == ""


def test_the_approver_reads_the_default_confidence_unrounded() -> None:
    evaluated = replace(PASSED, interval={**PASSED.interval, "confidence": 0.995})

    text = approval.summary(REQUIRED, WINDOW, 1234, evaluated, {})

    assert "one-sided 99.5% lower bound +0.0040" in text
