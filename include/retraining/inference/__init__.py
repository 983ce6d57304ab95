"""The inference log: every answer of the REST server written, asynchronously and in batches, to
the model's predictions table as `source = 'rest'` rows (`InferenceLog`, `Answer`, `answer_rows`,
`PredictionAppender`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.inference.rows import Answer, answer_rows
    from include.retraining.inference.store import PredictionAppender
    from include.retraining.inference.writer import InferenceLog, LogCounts

__all__, __getattr__, __dir__ = face(__name__)
