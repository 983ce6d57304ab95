"""The `serving:` section's canary: a share above 0 and at most 0.5, every bad value named by its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.config import ModelConfigError, load_model_config, parse_model_config

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")


def _parsed(serving: dict):
    raw = {**CONFIG.model_dump(mode="json", exclude_none=True), "serving": serving}
    return parse_model_config(raw, Path("churn.yaml"))


def test_no_canary_unless_the_file_sets_one() -> None:
    assert CONFIG.serving.canary is None
    assert _parsed({"canary": {"fraction": 0.1}}).serving.canary.fraction == 0.1


@pytest.mark.parametrize(
    ("canary", "message"),
    [
        ({"fraction": 0}, r"serving\.canary\.fraction.*greater than 0"),
        ({"fraction": 0.8}, r"serving\.canary\.fraction.*less than or equal to 0\.5"),
        ({}, r"serving\.canary\.fraction"),
        ({"fraction": 0.1, "sticky": True}, "sticky"),
    ],
)
def test_a_bad_canary_names_its_key(canary, message) -> None:
    with pytest.raises(ModelConfigError, match=message):
        _parsed({"canary": canary})
