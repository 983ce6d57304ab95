"""`python -m serving`'s options (environment first, refusals of a bad interval or no model) and
its scorer: the batch scorer's `score_frame`, with its refusals, behind a follower."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from serving.__main__ import DEFAULT_POLL_SECONDS, batch_scorer, parse_args
from serving.follower import AliasFollower, ServingInputError
from tests.support import REPO
from tests.unit.serving.fakes import FakeRegistry

pytestmark = pytest.mark.unit


def test_the_options_read_the_environment_and_refuse_a_bad_interval() -> None:
    args = parse_args([], env={"SERVING_MODEL": "churn", "SERVING_PORT": "9001"})
    assert (args.model, args.alias, args.port, args.poll_seconds) == ("churn", "champion", 9001, DEFAULT_POLL_SECONDS)
    assert DEFAULT_POLL_SECONDS <= 30
    with pytest.raises(SystemExit):
        parse_args([], env={})
    with pytest.raises(SystemExit):
        parse_args(["--model", "churn", "--poll-seconds", "0"], env={})


@pytest.fixture(scope="module")
def churn() -> tuple[Any, Any, pd.DataFrame]:
    from demo.churn_data import generate_snapshots
    from include.retraining.config import load_model_config
    from include.retraining.learning import fit

    config = load_model_config(REPO / "include" / "models" / "churn.yaml")
    config = config.model_copy(update={"training": config.training.model_copy(update={"params": {"max_iter": 20}})})
    frame = generate_snapshots(400, datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC), seed=3)
    return config, fit(config, frame), frame


def test_the_server_scores_with_the_batch_scorer_and_refuses_what_it_refuses(churn: tuple) -> None:
    from include.retraining.score import score_frame

    config, model, frame = churn
    strict = config.model_copy(update={"scoring": config.scoring_or_defaults.model_copy(update={"nulls": "fail"})})
    registry = FakeRegistry()
    registry.models["1"], registry.aliases["champion"] = model, "1"
    scorer, probe = batch_scorer(strict, 1)
    follower = AliasFollower("churn", "champion", registry, scorer, [], poll_seconds=1.0, probe=probe)

    follower.poll_once()  # the probe row is all nulls: the model imputes them, the checks are not asked

    complete = frame.dropna(subset=list(config.features.columns))
    np.testing.assert_array_equal(follower.served.score(complete), score_frame(model, complete, config))
    with pytest.raises(ServingInputError, match="nulls"):
        follower.served.score(frame)


def test_the_token_comes_from_the_environment_or_a_file_and_the_limits_are_checked(tmp_path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")

    from_env = parse_args([], env={"SERVING_MODEL": "churn", "SERVING_TOKEN": "abc", "SERVING_MAX_BODY_MB": "1"})
    from_file = parse_args([], env={"SERVING_MODEL": "churn", "SERVING_TOKEN_FILE": str(secret)})
    default = parse_args([], env={"SERVING_MODEL": "churn"})

    assert (from_env.limits.token, from_env.limits.max_body_bytes) == ("abc", 1024 * 1024)
    assert from_file.limits.token == "from-a-file" and default.limits.token is None
    assert default.limits.max_body_bytes == 10 * 1024 * 1024 and default.limits.max_staleness_seconds > 0
    for env in (
        {"SERVING_TOKEN": "abc", "SERVING_TOKEN_FILE": str(secret)},
        {"SERVING_TOKEN_FILE": str(tmp_path / "absent")},
        {"SERVING_MAX_ROWS": "0"},
        {"SERVING_MAX_STALENESS": "-1"},
    ):
        with pytest.raises(SystemExit):
            parse_args([], env={"SERVING_MODEL": "churn", **env})
