"""score_<model>'s steps against fakes of the registry, tracker and warehouse: which versions a
run pins, and what happens to a shadow challenger that cannot be loaded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.retraining.common.settings import load_settings
from include.retraining.config.model import load_model_config
from include.retraining.config.scoring import ScoringConfig
from include.retraining.runs.context import RunInfo, StepContext
from include.retraining.score import steps as score_steps
from include.retraining.score.contracts import NoChampion, ShadowOutcome
from include.retraining.score.scoring import ScoringInputError
from include.retraining.tracking.loading import UnusableModelError
from include.retraining.tracking.registry import Champion

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml")
RUN = RunInfo(dag_id="score_churn", run_id="r1", window_end=datetime(2026, 3, 2, 5, 30, tzinfo=UTC))


class Registry:
    def __init__(self, **aliases: str) -> None:
        self.aliases = aliases

    def alias(self, name: str):
        version = self.aliases.get(name)
        return Champion(version, f"run-{version}", f"models:/churn@{name}", {}) if version else None

    def champion(self):
        return self.alias("champion")


class Model:
    feature_names_in_ = np.array(CONFIG.features.columns, dtype=object)

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.tile([1 - self.value, self.value], (len(frame), 1))


class Tracker:
    def __init__(self, broken: tuple[str, ...] = ()) -> None:
        self.broken = broken

    def load_model(self, uri: str):
        version = uri.rsplit("/", 1)[1]
        if version in self.broken:
            raise UnusableModelError(f"{uri}: corrupt")
        return Model(float(version) / 10)


def _ctx(registry: Registry, tracker: Tracker | None = None, **scoring: object) -> StepContext:
    config = CONFIG.model_copy(update={"scoring": ScoringConfig(**{"schedule": "0 4 * * *", **scoring})})
    settings = load_settings({"RETRAINING_DATA_DIR": "/nonexistent"})
    return StepContext(config, settings, RUN, "sqlite://", fake_tracker=tracker or Tracker(), fake_registry=registry)


def test_plan_pins_the_grid_interval_and_both_versions() -> None:
    planned = score_steps.plan(_ctx(Registry(champion="3", challenger="4"), shadow=True))

    assert planned["interval"] == {"start": "2026-03-01T04:00:00+00:00", "end": "2026-03-02T04:00:00+00:00"}
    assert (planned["champion"], planned["challenger"], planned["shadow"]) == ("3", "4", ShadowOutcome.SCORED)
    assert planned["table"] == "churn_predictions"


@pytest.mark.parametrize(
    ("aliases", "shadow", "expected"),
    [
        ({"champion": "3", "challenger": "4"}, False, ShadowOutcome.OFF),
        ({"champion": "3"}, True, ShadowOutcome.NONE),
        ({"champion": "3", "challenger": "3"}, True, ShadowOutcome.NONE),  # promoted: no shadow of itself
    ],
)
def test_no_shadow_without_the_setting_or_another_challenger(aliases, shadow, expected) -> None:
    planned = score_steps.plan(_ctx(Registry(**aliases), shadow=shadow))

    assert planned["challenger"] is None and planned["shadow"] == expected


def test_no_champion_stops_the_run_with_the_reason() -> None:
    with pytest.raises(NoChampion, match="no alias `champion`"):
        score_steps.plan(_ctx(Registry(challenger="4"), shadow=True))


def test_an_unusable_challenger_leaves_the_champion_scoring_alone(monkeypatch) -> None:
    rows = pd.DataFrame(
        {"customer_id": ["a", "b"], "snapshot_at": pd.to_datetime(["2026-03-01 05:00", "2026-03-01 06:00"])}
    )
    rows = rows.assign(**{c: [1.0, 2.0] for c in CONFIG.features.columns})
    written = {}
    monkeypatch.setattr(score_steps, "read_window", lambda *a, **k: rows)
    monkeypatch.setattr(
        score_steps,
        "replace_interval",
        lambda url, table, frame, model, window: written.setdefault("f", frame).shape[0],
    )
    ctx = _ctx(Registry(champion="3", challenger="4"), Tracker(broken=("4",)), shadow=True)

    result = score_steps.score(ctx, score_steps.plan(ctx), datetime(2026, 3, 2, 6, tzinfo=UTC))

    assert result["shadow"] == ShadowOutcome.UNUSABLE and "challenger version 4" in result["shadow_error"]
    assert result["rows"] == 2 and set(written["f"]["alias"]) == {"champion"}
    assert written["f"]["score"].tolist() == pytest.approx([0.3, 0.3])


def test_a_null_id_stops_the_run_before_anything_is_written(monkeypatch) -> None:
    rows = pd.DataFrame({"customer_id": ["a", None], "snapshot_at": pd.to_datetime(["2026-03-01 05:00"] * 2)})
    monkeypatch.setattr(
        score_steps, "read_window", lambda *a, **k: rows.assign(**dict.fromkeys(CONFIG.features.columns, 1.0))
    )
    monkeypatch.setattr(score_steps, "replace_interval", lambda *a: pytest.fail("nothing may be written"))
    ctx = _ctx(Registry(champion="3"))

    with pytest.raises(ScoringInputError, match="1 row.*no 'customer_id'"):
        score_steps.score(ctx, score_steps.plan(ctx), datetime(2026, 3, 2, 6, tzinfo=UTC))
