"""One REST answer as rows of the predictions table (`source = 'rest'`).

A REST row is read by the monitor like a batch row, so it carries what the label join needs: the
id the client sent in the source's id column (as text, as batch scoring writes it), else a
generated `rest:<request id>:<row>` that no source id takes; and as `event_time` the source
timestamp the client sent, else the time of the answer. Its interval is its own instant,
`(event_time - 1 s, event_time]`, so the monitor's window read (which prunes on the interval)
finds it; no scoring interval ever supersedes it. The request id is its `run_id`, the request's
feature values its `features` (JSON, one object per row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.tables import REST_SOURCE as REST
from include.retraining.warehouse import id_text

_INSTANT = timedelta(seconds=1)


@dataclass(frozen=True)
class Answer:
    """What one answer to /invocations scored: its rows (as parsed), its scores, who answered."""

    model: str
    version: str
    alias: str
    request_id: str
    answered_at: datetime  # naive UTC
    frame: pd.DataFrame
    scores: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.frame)


def answer_rows(
    answer: Answer, features: list[str], id_column: str | None, timestamp_column: str | None
) -> dict[str, list[Any]]:
    """The predictions-table rows of one answer as columns, in the order of its request's rows."""
    frame, n = answer.frame, answer.rows
    times = _times(frame, timestamp_column, answer.answered_at)
    sent = [c for c in features if c in frame.columns]
    documents = frame[sent].to_json(orient="records", lines=True, date_format="iso").splitlines() if sent else []
    scores = np.asarray(answer.scores, dtype="float64")
    return {
        "model": [answer.model] * n,
        "model_version": [answer.version] * n,
        "alias": [answer.alias] * n,
        "id": _ids(frame, id_column, answer.request_id),
        "event_time": times.to_pydatetime().tolist(),
        "score": [None if np.isnan(score) else score for score in scores.tolist()],
        "interval_start": (times - _INSTANT).to_pydatetime().tolist(),
        "interval_end": times.to_pydatetime().tolist(),
        "scored_at": [answer.answered_at] * n,
        "run_id": [answer.request_id] * n,
        "source": [REST] * n,
        "features": documents or [None] * n,
    }


def _ids(frame: pd.DataFrame, id_column: str | None, request_id: str) -> list[str]:
    generated = [f"{REST}:{request_id}:{i}" for i in range(len(frame))]
    if not id_column or id_column not in frame.columns:
        return generated
    values = frame[id_column]
    texts = id_text(values).tolist()
    return [generated[i] if missing else texts[i] for i, missing in enumerate(values.isna().tolist())]


def _times(frame: pd.DataFrame, timestamp_column: str | None, answered_at: datetime) -> pd.DatetimeIndex:
    """Each row's event time, naive UTC: the timestamp sent, else the time of the answer."""
    if not timestamp_column or timestamp_column not in frame.columns:
        return pd.DatetimeIndex([answered_at] * len(frame))
    parsed = pd.to_datetime(frame[timestamp_column], errors="coerce", utc=True, format="mixed")
    return pd.DatetimeIndex(parsed.dt.tz_convert(None).fillna(pd.Timestamp(answered_at)))
