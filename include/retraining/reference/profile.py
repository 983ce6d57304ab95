"""The reference profile: what a model's training data looked like, written when it is trained
and logged with it, so validation and monitoring never re-read the whole training snapshot.

Two files in one folder: `profile.json` (row count; per column its type, null share, categories
with counts, quantiles and a histogram, all over every training row) and `sample.parquet` (a
fixed-seed sample of at most `monitor.max_rows` rows, without the id column, for Evidently and the
prediction PSI). The sample is drawn exactly as the monitor samples a reference
(`common.sample_rows` with the training seed), so drift figures are the same as when the
monitor read the whole snapshot.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.artifacts import artifact_path, write_parquet_atomic, write_text
from include.retraining.common import sample_rows
from include.retraining.config import ModelConfig

PROFILE_FILE = "profile.json"
SAMPLE_FILE = "sample.parquet"
# The MLflow artifact folder of a training run that holds the two files.
ARTIFACT_DIR = "reference"
QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
HISTOGRAM_BINS = 20
# A categorical column with more distinct values than this keeps only the most frequent ones
# (an id-like column would otherwise make the profile as large as the data).
MAX_CATEGORIES = 1000


@dataclass(frozen=True)
class ColumnProfile:
    dtype: str
    null_share: float
    categories: dict[str, int] | None = None
    categories_truncated: bool = False
    quantiles: dict[str, float] | None = None
    histogram: dict[str, list[float]] | None = None


@dataclass(frozen=True)
class DataProfile:
    """A training window's profile; `sample_path` is where its sample lies in the artifact store."""

    rows: int
    seed: int
    sample_rows: int
    columns: dict[str, ColumnProfile] = field(default_factory=dict)
    sample_path: str | None = None

    @property
    def null_share(self) -> dict[str, float]:
        return {name: column.null_share for name, column in self.columns.items()}

    @property
    def categories(self) -> dict[str, list[str]]:
        return {name: sorted(c.categories) for name, c in self.columns.items() if c.categories is not None}

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key != "sample_path"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], sample_path: str | None = None) -> DataProfile:
        columns = {name: ColumnProfile(**column) for name, column in data["columns"].items()}
        return cls(data["rows"], data["seed"], data["sample_rows"], columns, sample_path)


def _is_categorical(series: pd.Series, name: str, config: ModelConfig) -> bool:
    if name in config.features.categorical:
        return True
    return not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_datetime64_any_dtype(series)


def _finite_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _numeric(series: pd.Series) -> dict[str, Any]:
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {}
    quantiles = np.quantile(values, QUANTILES)
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
    return {
        "quantiles": {f"{q:g}": _finite_float(v) for q, v in zip(QUANTILES, quantiles, strict=True)},
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    }


def _categories(series: pd.Series) -> dict[str, Any]:
    counts = series.dropna().astype(str).value_counts()
    return {
        "categories": {str(k): int(v) for k, v in counts.head(MAX_CATEGORIES).items()},
        "categories_truncated": len(counts) > MAX_CATEGORIES,
    }


def column_profile(series: pd.Series, name: str, config: ModelConfig) -> ColumnProfile:
    null_share = float(series.isna().mean()) if len(series) else 0.0
    if _is_categorical(series, name, config):
        detail = _categories(series)
    elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        detail = _numeric(series)
    else:
        detail = {}
    return ColumnProfile(dtype=str(series.dtype), null_share=null_share, **detail)


def build_profile(frame: pd.DataFrame, config: ModelConfig) -> tuple[DataProfile, pd.DataFrame]:
    """The profile of every training row and the monitor's fixed-seed sample of them."""
    id_column = config.source.id_column
    kept = [c for c in frame.columns if c != id_column]
    sample = sample_rows(frame, config.monitor.max_rows, config.training.seed).loc[:, kept]
    columns = {name: column_profile(frame[name], name, config) for name in kept}
    profile = DataProfile(len(frame), config.training.seed, len(sample), columns)
    return profile, sample


def write_reference(frame: pd.DataFrame, config: ModelConfig, folder: str | PathLike[str]) -> DataProfile:
    """Write `profile.json` and `sample.parquet` into folder (each atomically)."""
    profile, sample = build_profile(frame, config)
    return save_reference(profile, sample, folder)


def save_reference(profile: DataProfile, sample: pd.DataFrame, folder: str | PathLike[str]) -> DataProfile:
    """The sample first, the profile last: a folder whose profile is there is complete."""
    folder = artifact_path(folder)
    sample_path = write_parquet_atomic(sample, folder / SAMPLE_FILE)
    write_text(folder / PROFILE_FILE, json.dumps(profile.to_dict(), indent=1, sort_keys=True))
    return DataProfile.from_dict(profile.to_dict(), str(sample_path))


def read_reference(folder: str | PathLike[str]) -> DataProfile | None:
    """The profile stored in folder, or None when the folder does not hold both files."""
    folder = artifact_path(folder)
    profile_path, sample_path = folder / PROFILE_FILE, folder / SAMPLE_FILE
    if not (profile_path.is_file() and sample_path.is_file()):
        return None
    return DataProfile.from_dict(json.loads(profile_path.read_text(encoding="utf-8")), str(sample_path))
