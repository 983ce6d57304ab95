"""A champion that cannot be loaded (artifact corrupt or gone, on the embedded store and on a served
artifact store) has a defined outcome: one alert naming it and why, and a retrain that still decides
instead of failing every week (review H4, M8). A worker's trouble while loading or scoring the
champion is no verdict on it: evaluate fails, nothing is decided, and the retry decides (M7)."""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest

from tests.reliability.world import CHAMPION_AT, NEXT_RUN, World
from tests.support import run_dag
from tests.support_faults import MlflowServer, model_aliases, recorded_alerts

pytestmark = pytest.mark.reliability


def _break_champion(world: World, how: str) -> None:
    (model_file,) = (world.data_dir / "mlartifacts").rglob("model.skops")
    if how == "corrupt":
        model_file.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
    else:
        model_file.unlink()


def _text(alert: dict) -> str:
    return " ".join([str(alert["title"]), *map(str, alert["lines"])]).lower()


@pytest.mark.parametrize("how", ["corrupt", "missing"])
def test_unusable_champion_is_named_in_one_alert_and_the_retrain_still_decides(world: World, how: str) -> None:
    _break_champion(world, how)

    states = run_dag("retrain_churn", NEXT_RUN)

    # Version 1 is the only one ever promoted, so there is no previous_champion to compare with:
    # the challenger is judged on the gate threshold alone (roc_auc >= 0.70), which the demo
    # data's challenger clears, so it is promoted.
    assert "failed" not in states.values() and states["promote"] == "success", states
    (unusable,) = recorded_alerts("champion_unusable")
    assert "champion version 1 is unusable" in _text(unusable)
    aliases = model_aliases()
    assert aliases["champion"] == "2", aliases
    reason = _decision_reason("2")
    assert reason.startswith("champion_unusable (version 1:") and "judged on the threshold alone" in reason, reason

    again = run_dag("retrain_churn", NEXT_RUN)

    # Version 2, trained on this exact snapshot, is already champion: nothing new to decide.
    assert "failed" not in again.values() and again["promote"] == "skipped", again
    assert model_aliases() == aliases
    assert len(recorded_alerts("champion_unusable")) == 1, "the rerun decides nothing new"


@pytest.fixture
def served_world(
    world: World, tracking_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[World, MlflowServer]]:
    """This test's world with its MLflow store on a real `mlflow server` serving the artifacts (as
    compose runs it), and a champion (version 1) registered there."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    states = run_dag("retrain_churn", CHAMPION_AT)
    assert states["promote"] == "success" and model_aliases() == {"champion": "1"}, states
    yield world, tracking_server


def test_a_champion_file_gone_from_the_served_store_is_unusable_and_the_retrain_still_decides(served_world) -> None:
    _, server = served_world
    (model_file,) = (server.log.parent / "served-artifacts").rglob("model.skops")
    model_file.unlink()

    states = run_dag("retrain_churn", NEXT_RUN)

    assert "failed" not in states.values() and states["promote"] == "success", states
    (unusable,) = recorded_alerts("champion_unusable")
    assert "champion version 1 is unusable" in _text(unusable) and "model.skops is not in the store" in _text(unusable)
    assert model_aliases() == {"champion": "2", "previous_champion": "1"}
    assert _decision_reason("2").startswith("champion_unusable (version 1:")


def _memory_error_scoring_the_champion(monkeypatch: pytest.MonkeyPatch) -> None:
    import include.retraining.promotion.baseline as baseline

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError("Unable to allocate 2.1 GiB for an array with shape (600, 470000)")

    monkeypatch.setattr(baseline, "predict_scores", out_of_memory)  # the champion's scoring only


def _disk_error_loading_the_champion(monkeypatch: pytest.MonkeyPatch) -> None:
    import include.retraining.tracking.tracker as tracker

    real = tracker.load_model_file

    def flaky_disk(path, label: str, trusted):
        if label == "models:/churn/1":
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real(path, label, trusted)

    monkeypatch.setattr(tracker, "load_model_file", flaky_disk)


@pytest.mark.parametrize(
    "fault", [_memory_error_scoring_the_champion, _disk_error_loading_the_champion], ids=["memory", "disk"]
)
def test_a_workers_error_on_the_champion_fails_evaluate_and_decides_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, fault
) -> None:
    with monkeypatch.context() as faulty:
        fault(faulty)
        states = run_dag("retrain_churn", NEXT_RUN)

    # Not "champion unusable": the worker's trouble fails the task, which Airflow retries.
    assert states["train"] == "success" and states["evaluate"] == "failed", states
    assert states["promote"] == "upstream_failed", states
    assert model_aliases() == {"champion": "1"}, "a worker's error was read as an unusable champion"
    assert recorded_alerts("champion_unusable") == []

    again = run_dag("retrain_churn", NEXT_RUN)

    # The retry compares with the real champion, version 1, and blocks the equally good challenger.
    assert "failed" not in again.values() and again["promote"] == "skipped", again
    assert model_aliases() == {"champion": "1", "challenger": "2"}
    assert _decision_reason("2").startswith("roc_auc"), _decision_reason("2")


def _decision_reason(version: str) -> str:
    from mlflow.tracking import MlflowClient

    from include.retraining.common import load_settings
    from include.retraining.tracking import REASON_TAG

    uri = load_settings().tracking_uri
    tags = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version("churn", version).tags
    return str(tags.get(REASON_TAG, "")).lower()
