"""The tracking adapter's dataset entity: a training run's input, identified by the snapshot's
content hash and size, with the schema of its first rows (part of the MLflow adapter)."""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.data.pandas_dataset import PandasDataset

from include.retraining.tracking.records import TrainingRunLog

# The dataset entity's schema comes from this many leading rows; its digest and row count from
# the whole snapshot. MLflow's own digest and schema inference box every value in Python (~35 us
# a row: 35 s at 1M rows), and the snapshot's content hash already identifies the rows exactly.
DATASET_SCHEMA_ROWS = 1000
# MLflow's SQL store keeps a dataset digest in a 36-character column; the snapshot file is named
# by the same 16-character prefix.
DATASET_DIGEST_CHARS = 16


class _SnapshotDataset(PandasDataset):
    """A snapshot's dataset entity: the schema of its head, the digest and size of all its rows."""

    def __init__(self, head: Any, rows: int, **kwargs: Any) -> None:
        self._rows = rows
        super().__init__(head, **kwargs)

    @property
    def profile(self) -> dict[str, int]:
        return {"num_rows": self._rows, "num_elements": self._rows * int(self.df.shape[1])}


def snapshot_dataset(record: TrainingRunLog) -> PandasDataset:
    """The run's dataset input, without a walk over every value of the frame."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    return _SnapshotDataset(
        record.frame.head(DATASET_SCHEMA_ROWS),
        rows=len(record.frame),
        source=resolve_dataset_source(record.snapshot_path),
        name=record.dataset_name,
        targets=record.target,
        digest=record.digest[:DATASET_DIGEST_CHARS],
    )


def log_dataset(record: TrainingRunLog) -> None:
    mlflow.log_input(snapshot_dataset(record), context="training")
