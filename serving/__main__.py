"""`python -m serving --model churn`: serve `models:/<model>@champion` over HTTP, following the alias.

Every option also reads an environment variable (the compose service sets them): SERVING_MODEL,
SERVING_ALIAS, SERVING_HOST, SERVING_PORT, SERVING_POLL_SECONDS, and the limits SERVING_MAX_BODY_MB,
SERVING_MAX_ROWS, SERVING_WORKERS, SERVING_MAX_PENDING, SERVING_MAX_STALENESS (seconds, 0: off).
The bearer token comes from SERVING_TOKEN or the file SERVING_TOKEN_FILE names (never an option: it
would show in `ps`). The inference log: SERVING_INFERENCE_LOG, SERVING_INFERENCE_LOG_DB and its
batching (serving/inference_log.py). The registry is the one the pipeline uses (MLFLOW_TRACKING_URI, else the
embedded store under RETRAINING_DATA_DIR), the model file comes from RETRAINING_MODELS_DIR. With
`serving.canary` in the model file, a second follower serves the version on canary (alias
`challenger`) to its share of rows (serving/canary.py).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from include.retraining.common import Settings, load_settings
from include.retraining.tracking import CHAMPION
from serving.follower import AliasFollower, Scorer, ServingInputError
from serving.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_PENDING,
    DEFAULT_MAX_ROWS,
    DEFAULT_MAX_STALENESS_SECONDS,
    DEFAULT_WORKERS,
    MB,
    ServingLimits,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from include.retraining.config import ModelConfig
    from serving.canary import Canary

# How often the alias is read. A promotion reaches the server within one interval plus the load
# (about a second for the churn model), well inside the 60 s the serving contract allows, at one
# registry read per interval (docs/decisions.md).
DEFAULT_POLL_SECONDS = 15.0
DEFAULT_PORT = 8000


def parse_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> argparse.Namespace:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=env.get("SERVING_MODEL"), help="model name (its model file)")
    parser.add_argument("--alias", default=env.get("SERVING_ALIAS", CHAMPION), help="alias to follow")
    parser.add_argument("--host", default=env.get("SERVING_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("SERVING_PORT", DEFAULT_PORT)))
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=float(env.get("SERVING_POLL_SECONDS", DEFAULT_POLL_SECONDS)),
        help=f"how often the alias is read (default {DEFAULT_POLL_SECONDS:g})",
    )
    parser.add_argument(
        "--max-body-mb",
        type=float,
        default=float(env.get("SERVING_MAX_BODY_MB", DEFAULT_MAX_BODY_BYTES / MB)),
        help="larger request bodies get a 413 before they are read",
    )
    parser.add_argument("--max-rows", type=int, default=int(env.get("SERVING_MAX_ROWS", DEFAULT_MAX_ROWS)))
    parser.add_argument(
        "--workers", type=int, default=int(env.get("SERVING_WORKERS", DEFAULT_WORKERS)), help="scoring threads"
    )
    parser.add_argument(
        "--max-pending",
        type=int,
        default=int(env.get("SERVING_MAX_PENDING", DEFAULT_MAX_PENDING)),
        help="requests admitted at once; more get a 503",
    )
    parser.add_argument(
        "--max-staleness",
        type=float,
        default=float(env.get("SERVING_MAX_STALENESS", DEFAULT_MAX_STALENESS_SECONDS)),
        help="seconds without the registry confirming the served version before /health answers 503 (0: never)",
    )
    args = parser.parse_args(argv)
    if not args.model:
        parser.error("name the model: --model churn (or SERVING_MODEL=churn)")
    if args.poll_seconds <= 0:
        parser.error(f"--poll-seconds must be positive, got {args.poll_seconds}")
    try:
        args.limits = ServingLimits(
            token=serving_token(env),
            max_body_bytes=int(args.max_body_mb * MB),
            max_rows=args.max_rows,
            workers=args.workers,
            max_pending=args.max_pending,
            max_staleness_seconds=args.max_staleness,
        )
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    return args


def serving_token(env: Mapping[str, str]) -> str | None:
    """SERVING_TOKEN, or the content of the file SERVING_TOKEN_FILE (a mounted secret); None: no token."""
    token, path = env.get("SERVING_TOKEN") or None, env.get("SERVING_TOKEN_FILE") or None
    if token and path:
        raise ValueError("set SERVING_TOKEN or SERVING_TOKEN_FILE, not both")
    if path:
        with open(path, encoding="utf-8") as file:
            token = file.read().strip()
        if not token:
            raise ValueError(f"SERVING_TOKEN_FILE {path} is empty")
    return token


def build_follower(
    settings: Settings, model: str, alias: str, poll_seconds: float, admit: Callable[[Any], bool] | None = None
) -> AliasFollower:
    """The follower of `models:/<model>@<alias>`, scoring with the batch scorer's `score_frame`
    (`admit`: an optional follower's test of the version behind the alias, serving/follower.py)."""
    from include.retraining.config import load_model_config
    from serving.source import RegistrySource

    path = settings.models_dir / f"{model}.yaml"
    if not path.is_file():
        raise SystemExit(
            f"no model file {path} for model {model!r}: set RETRAINING_MODELS_DIR to the folder that holds it"
        )
    config = load_model_config(path)
    scorer, probe = batch_scorer(config, settings.fit_threads)
    source = RegistrySource(settings, config)
    features = list(config.features.columns)
    return AliasFollower(
        config.name,
        alias,
        source,
        scorer,
        features,
        poll_seconds,
        probe=probe,
        numeric=numeric_features(config),
        admit=admit,
    )


def build_canary(settings: Settings, config: ModelConfig, alias: str, poll_seconds: float) -> Canary | None:
    """The canary of a champion server when the model file sets `serving.canary`: a follower of
    alias `challenger` that serves only a version on canary; None otherwise."""
    from include.retraining.promotion import on_canary
    from include.retraining.tracking import CHALLENGER
    from serving.canary import Canary

    if config.serving.canary is None or alias != CHAMPION:
        return None
    follower = build_follower(settings, config.name, CHALLENGER, poll_seconds, lambda target: on_canary(target.tags))
    return Canary(follower, config.serving.canary.fraction, config.source.id_column)


def numeric_features(config: ModelConfig) -> Callable[[Any], list[str]]:
    """The features a fitted version treats as numbers (its own split, else the model file's)."""
    from include.retraining.learning import model_features
    from include.retraining.score import feature_kinds

    def numeric(fitted: Any) -> list[str]:
        return feature_kinds(fitted, config, model_features(fitted, config.features.columns))[0]

    return numeric


def batch_scorer(config: ModelConfig, threads: int) -> tuple[Scorer, Scorer]:
    """`score_frame` as the server's scorer, refusing every value not of its column's type
    whatever `scoring.nulls` says (its refusals become 400s naming column and row), and the bare
    model scoring that probes a new version."""
    from include.retraining.learning import predict_scores
    from include.retraining.score import BadInputError, ScoringInputError, score_frame

    def scorer(fitted: Any, frame: pd.DataFrame) -> np.ndarray:
        try:
            return score_frame(fitted, frame, config, threads, refuse_bad_values=True)
        except BadInputError as exc:
            message = "; ".join(bad.message() for bad in exc.columns[:5])
            raise ServingInputError(message, [bad.to_json() for bad in exc.columns]) from exc
        except ScoringInputError as exc:
            raise ServingInputError(str(exc)) from exc

    def probe(fitted: Any, frame: pd.DataFrame) -> np.ndarray:
        return predict_scores(fitted, frame, config.task, threads)

    return scorer, probe


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    from include.retraining.config import load_model_config
    from serving.app import create_app
    from serving.inference_log import open_inference_log

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    follower = build_follower(settings, args.model, args.alias, args.poll_seconds)
    config = load_model_config(settings.models_dir / f"{args.model}.yaml")
    inference_log = open_inference_log(settings, config, os.environ)
    canary = build_canary(settings, config, args.alias, args.poll_seconds)
    if args.limits.token is None and args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger(__name__).warning(
            "serving on %s without a token: anyone who reaches the port can score (set SERVING_TOKEN)", args.host
        )
    app = create_app(follower, limits=args.limits, inference_log=inference_log, canary=canary)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
