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

from include.retraining.warehouse import id_text

REST = "rest"
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
) -> list[dict[str, Any]]:
    """The predictions-table rows of one answer, in the order of its request's rows."""
    frame, n = answer.frame, answer.rows
    ids = _ids(frame, id_column, answer.request_id)
    times = _times(frame, timestamp_column, answer.answered_at)
    sent = [c for c in features if c in frame.columns]
    documents = frame[sent].to_json(orient="records", lines=True, date_format="iso").splitlines() if sent else []
    scores = np.asarray(answer.scores, dtype="float64")
    return [
        {
            "model": answer.model,
            "model_version": answer.version,
            "alias": answer.alias,
            "id": ids[i],
            "event_time": times[i],
            "score": None if np.isnan(scores[i]) else float(scores[i]),
            "interval_start": times[i] - _INSTANT,
            "interval_end": times[i],
            "scored_at": answer.answered_at,
            "run_id": answer.request_id,
            "source": REST,
            "features": documents[i] if documents else None,
        }
        for i in range(n)
    ]


def _ids(frame: pd.DataFrame, id_column: str | None, request_id: str) -> list[str]:
    generated = [f"{REST}:{request_id}:{i}" for i in range(len(frame))]
    if not id_column or id_column not in frame.columns:
        return generated
    values = frame[id_column]
    texts = id_text(values).tolist()
    return [generated[i] if missing else texts[i] for i, missing in enumerate(values.isna().tolist())]


def _times(frame: pd.DataFrame, timestamp_column: str | None, answered_at: datetime) -> list[datetime]:
    if not timestamp_column or timestamp_column not in frame.columns:
        return [answered_at] * len(frame)
    parsed = pd.to_datetime(frame[timestamp_column], errors="coerce", utc=True, format="mixed")
    return [answered_at if pd.isna(t) else t.tz_convert(None).to_pydatetime() for t in parsed]
