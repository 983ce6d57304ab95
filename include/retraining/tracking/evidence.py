"""The tracking adapter's evidence store: each gate decision's paired per-row holdout evidence, as
a small Parquet artifact of the challenger's run, and the earlier decisions' evidence a new one
may pool with (`promotion` decides which rows may be pooled; this only stores and finds).

A run's evidence is found by two tags: the baseline version it was compared with and the recipe
(`retraining.config_hash`, set on every training run).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from include.retraining.common import as_nanoseconds
from include.retraining.tracking.tags import CONFIG_HASH_TAG, EVIDENCE_BASELINE_TAG, TRAIN_UNTIL_TAG

EVIDENCE_DIR = "evidence"
EVIDENCE_FILE = "holdout.parquet"


@dataclass(frozen=True)
class StoredEvidence:
    """One decision's evidence frame, the run it is stored on, and when that run started (int64
    nanoseconds, UTC; None when the store does not say)."""

    run_id: str
    frame: pd.DataFrame
    started_at: int | None = None


class EvidenceStore:
    """Evidence artifacts of one tracking store's runs (`download(run_id, folder, dst_path)` is the
    tracker's: None when the run stored nothing there)."""

    def __init__(self, client: Any, download: Callable[..., Path | None]) -> None:
        self.client, self.download = client, download

    def log(self, run_id: str, compared_with: str, frame: pd.DataFrame) -> None:
        """Store a decision's evidence on its challenger's run, then tag the run as carrying it.

        A rerun overwrites the same file; the tag comes last, so a run is never found without it.
        """
        with tempfile.TemporaryDirectory(prefix="retraining-evidence-") as folder:
            path = Path(folder) / EVIDENCE_FILE
            frame.to_parquet(path, index=False)
            self.client.log_artifact(run_id, str(path), artifact_path=EVIDENCE_DIR)
        self.client.set_tag(run_id, EVIDENCE_BASELINE_TAG, compared_with)

    def earlier(self, experiment_id: str, compared_with: str, config_hash: str, limit: int) -> list[StoredEvidence]:
        """The evidence of the latest `limit` runs compared with this baseline by this recipe, each
        with its run's start time (MLflow keeps it, so older files need nothing new).

        A run whose file is missing (deleted by hand) is left out: pooling then uses fewer windows,
        never wrong ones. Any other error of the store propagates (fail closed).
        """
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`{EVIDENCE_BASELINE_TAG}` = '{compared_with}' and tags.`{CONFIG_HASH_TAG}` = '{config_hash}'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=limit,
        )
        found = []
        for run in runs:
            with tempfile.TemporaryDirectory(prefix="retraining-evidence-") as staging:
                folder = self.download(run.info.run_id, EVIDENCE_DIR, dst_path=staging)
                path = folder / EVIDENCE_FILE if folder else None
                if path is None or not path.exists():
                    continue
                frame = pd.read_parquet(path)
            started_at = run.info.start_time * 1_000_000 if run.info.start_time is not None else None
            found.append(StoredEvidence(run.info.run_id, frame, started_at))
        return found

    def training_cutoff(self, run_id: str) -> int | None:
        """The last timestamp (ns, UTC) the run trained on; None for a run logged before the tag."""
        value = self.client.get_run(run_id).data.tags.get(TRAIN_UNTIL_TAG)
        return as_nanoseconds(value) if value else None
