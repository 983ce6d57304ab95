"""Assets are declared once, here: the nouns the DAGs produce and consume."""

from __future__ import annotations

from airflow.sdk import Asset


def drift_asset(model: str) -> Asset:
    """Emitted by monitor_<model> when drift crosses a threshold; schedules retrain_<model>."""
    return Asset(name=f"{model}_drift", uri=f"retraining://models/{model}/drift", group="drift")


def champion_asset(model: str) -> Asset:
    """Emitted whenever alias `champion` of the model moves (promote, approve, rollback); schedules score_<model>."""
    return Asset(name=f"{model}_champion", uri=f"retraining://models/{model}/champion", group="champion")
