"""score_<model>: one per model file with a `scoring:` section, on its cron or the champion asset."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.dags

REPO = Path(__file__).resolve().parents[2]


def _bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags" / "score.py"))


def test_score_dag_runs_on_its_cron_or_when_the_champion_moves() -> None:
    bag = _bag()

    dag = bag.dags["score_churn"]
    assert bag.import_errors == {}
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert dag.timetable.asset_condition.name == "churn_champion"
    assert dag.timetable.timetable.expression == "0 4 * * *"
    assert [t.task_id for t in dag.topological_sort()] == ["plan", "score"]


def test_a_model_file_without_a_scoring_section_gets_no_score_dag(tmp_path, monkeypatch) -> None:
    config = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    del config["scoring"]
    (tmp_path / "churn.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("RETRAINING_MODELS_DIR", str(tmp_path))

    bag = _bag()

    assert bag.import_errors == {} and bag.dag_ids == []
