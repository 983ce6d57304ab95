"""The `serving:` section: what the REST server (`python -m serving`) does beyond answering."""

from __future__ import annotations

from pydantic import Field

from include.retraining.config.base import Strict


class CanaryConfig(Strict):
    """A share of traffic answered by the challenger a passing gate put on canary; the monitor
    promotes it or ends it on matured labels (docs/operations.md, "Canary")."""

    fraction: float = Field(
        gt=0.0,
        le=0.5,
        description=(
            "the share of rows the canary answers, above 0 and at most 0.5 (0.1: one in ten); sticky by the "
            "source's id column when a row carries it, else drawn per request"
        ),
    )


class ServingConfig(Strict):
    inference_log: bool = Field(
        True,
        description=(
            "write every REST answer to the predictions table (source 'rest') in the pipeline database, so the "
            "monitor judges online traffic too; SERVING_INFERENCE_LOG=off|on overrides it"
        ),
    )
    canary: CanaryConfig | None = Field(
        None,
        description=(
            "with it, a challenger that passes the gate becomes alias `challenger` on canary instead of champion: "
            "REST and batch scoring answer `fraction` of rows with it, and monitor_<model> promotes it when its "
            "matured labels clear gate.min_improvement, or ends it when it is significantly worse"
        ),
    )
