"""The `serving:` section: what the REST server (`python -m serving`) does beyond answering."""

from __future__ import annotations

from pydantic import Field

from include.retraining.config.base import Strict


class ServingConfig(Strict):
    inference_log: bool = Field(
        True,
        description=(
            "write every REST answer to the predictions table (source 'rest') in the pipeline database, so the "
            "monitor judges online traffic too; SERVING_INFERENCE_LOG=off|on overrides it"
        ),
    )
