"""REST answers as rows of the predictions table (`source = 'rest'`).

A REST row is read by the monitor like a batch row, so it carries what the label join needs: the
id the client sent in the source's id column (as text, as batch scoring writes it), else a
generated `rest:<request id>:<row>` that no source id takes; and as `event_time` the source
timestamp the client sent, else the time of the answer. Its interval is its own instant,
`(event_time - 1 s, event_time]`, so the monitor's window read (which prunes on the interval)
finds it; no scoring interval ever supersedes it. The request id is its `run_id`, the request's
feature values its `features` (JSON, one object per row), and `answered` whether its score was
the answer sent (False: the champion's shadow score of a row the canary answered); a multiclass
model's answer also fills the class columns (`predictions.score_columns`), NULL on any other
model's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from include.retraining.predictions import CLASS_COLUMNS, score_columns
from include.retraining.predictions import REST_SOURCE as REST
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
    scores: np.ndarray | pd.DataFrame  # a multiclass model's: class probabilities, a column per class
    # Which of these scores were the answer sent (None: all): False where another version (the
    # canary, or the champion) answered the row and this one scored it in shadow.
    answered: np.ndarray | None = None
    # The rows' positions in the request (None: 0, 1, ...), for the ids generated for rows without
    # one: both versions' rows of a canary request share them, so the monitor pairs them.
    positions: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return len(self.frame)


def answer_rows(
    answers: Sequence[Answer], features: list[str], id_column: str | None, timestamp_column: str | None
) -> dict[str, list[Any]]:
    """The predictions-table rows of answers as columns, each answer's rows in its request's order.
    Shaped together, so pandas' fixed cost per call is paid once per batch, not once per answer:
    the writer shares its process with the requests."""
    frame = pd.concat([a.frame for a in answers], ignore_index=True) if len(answers) > 1 else answers[0].frame
    counts = [a.rows for a in answers]
    answered = [a.answered_at for a in answers for _ in range(a.rows)]
    times = _times(frame.reset_index(drop=True), timestamp_column, answered)
    sent = [c for c in features if c in frame.columns]
    documents = frame[sent].to_json(orient="records", lines=True, date_format="iso").splitlines() if sent else []
    scored = score_columns(_joined([a.scores for a in answers]))
    unclassed = [None] * len(answered)
    return {
        "model": _each(answers, counts, "model"),
        "model_version": _each(answers, counts, "version"),
        "alias": _each(answers, counts, "alias"),
        "id": [i for a in answers for i in _ids(a, id_column)],
        "event_time": times.to_pydatetime().tolist(),
        "score": [None if np.isnan(score) else score for score in scored["score"].tolist()],
        "interval_start": (times - _INSTANT).to_pydatetime().tolist(),
        "interval_end": times.to_pydatetime().tolist(),
        "scored_at": answered,
        "run_id": _each(answers, counts, "request_id"),
        "source": [REST] * len(answered),
        "features": documents or [None] * len(answered),
        "answered": [bool(v) for a in answers for v in (a.answered if a.answered is not None else [True] * a.rows)],
        **{c: list(scored[c]) if c in scored else unclassed for c in CLASS_COLUMNS},
    }


def _joined(scores: list[np.ndarray | pd.DataFrame]) -> np.ndarray | pd.DataFrame:
    """One batch's scores: numbers, or a multiclass model's class probabilities (a version that
    learned other classes has 0 for the ones it lacks)."""
    if any(isinstance(s, pd.DataFrame) for s in scores):
        return pd.concat(scores, ignore_index=True).fillna(0.0)
    return np.concatenate([np.asarray(s, dtype="float64") for s in scores])


def _each(answers: Sequence[Answer], counts: list[int], field: str) -> list[Any]:
    return [value for a, n in zip(answers, counts, strict=True) for value in [getattr(a, field)] * n]


def _ids(answer: Answer, id_column: str | None) -> list[str]:
    frame = answer.frame
    positions = range(len(frame)) if answer.positions is None else answer.positions.tolist()
    generated = [f"{REST}:{answer.request_id}:{i}" for i in positions]
    if not id_column or id_column not in frame.columns:
        return generated
    values = frame[id_column]
    texts = id_text(values).tolist()
    return [generated[i] if missing else texts[i] for i, missing in enumerate(values.isna().tolist())]


def _times(frame: pd.DataFrame, timestamp_column: str | None, answered: list[datetime]) -> pd.DatetimeIndex:
    """Each row's event time, naive UTC: the timestamp sent, else the time of its answer."""
    fallback = pd.DatetimeIndex(answered)
    if not timestamp_column or timestamp_column not in frame.columns:
        return fallback
    parsed = pd.to_datetime(frame[timestamp_column], errors="coerce", utc=True, format="mixed").dt.tz_convert(None)
    return pd.DatetimeIndex(parsed.where(parsed.notna(), pd.Series(fallback, index=parsed.index)))
