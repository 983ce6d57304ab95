"""REST answers as predictions-table rows: the id and time the label join needs, several answers
shaped together as each alone."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from include.retraining.inference import Answer, answer_rows

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 7, 12, 0, 0)


def _answer(frame: pd.DataFrame) -> Answer:
    return Answer("churn", "3", "champion", "req1", AT, frame, np.linspace(0.1, 0.9, len(frame)))


def test_a_sent_id_and_timestamp_key_the_row_as_the_source_does() -> None:
    frame = pd.DataFrame(
        {"customer_id": [7.0, 8.0], "snapshot_at": ["2026-12-01T04:00:00Z", "2026-12-01 05:00"], "tenure": [1, 2]}
    )

    rows = answer_rows([_answer(frame)], ["tenure", "plan"], "customer_id", "snapshot_at")

    assert rows["id"] == ["7", "8"]  # as batch scoring writes an integer id upcast to float
    assert rows["event_time"] == [datetime(2026, 12, 1, 4), datetime(2026, 12, 1, 5)]
    assert all(
        s < t <= e for s, t, e in zip(rows["interval_start"], rows["event_time"], rows["interval_end"], strict=True)
    )
    assert [json.loads(f) for f in rows["features"]] == [{"tenure": 1}, {"tenure": 2}]
    assert {(r["source"], r["run_id"], r["model_version"], r["alias"]) for r in _records(rows)} == {
        ("rest", "req1", "3", "champion")
    }
    assert all(type(t) is datetime for t in rows["event_time"] + rows["scored_at"])


def test_without_an_id_or_time_the_row_gets_a_generated_id_and_the_answer_time() -> None:
    frame = pd.DataFrame({"customer_id": ["c1", None], "tenure": [1.5, float("nan")]})

    rows = answer_rows([_answer(frame)], ["tenure"], "customer_id", "snapshot_at")

    assert rows["id"] == ["c1", "rest:req1:1"]
    assert rows["event_time"] == [AT, AT]
    assert json.loads(rows["features"][1]) == {"tenure": None}
    assert rows["score"] == pytest.approx([0.1, 0.9])


def test_an_unreadable_timestamp_falls_back_to_the_answer_time() -> None:
    frame = pd.DataFrame({"snapshot_at": ["2026-12-01T04:00:00", "not a time"], "tenure": [1, 2]})

    rows = answer_rows([_answer(frame)], ["tenure"], None, "snapshot_at")

    assert rows["event_time"] == [datetime(2026, 12, 1, 4), AT]
    assert rows["id"] == ["rest:req1:0", "rest:req1:1"]


def test_answers_shaped_together_give_the_rows_each_gives_alone() -> None:
    first = pd.DataFrame({"customer_id": [7.0, 8.0], "snapshot_at": ["2026-12-01T04:00:00", None], "tenure": [1, 2]})
    second = pd.DataFrame({"customer_id": ["c9"], "tenure": [3.5], "extra": ["x"]})
    answers = [_answer(first), Answer("churn", "4", "champion", "req2", datetime(2026, 12, 7, 13), second, np.ones(1))]

    together = answer_rows(answers, ["tenure"], "customer_id", "snapshot_at")
    alone = [answer_rows([a], ["tenure"], "customer_id", "snapshot_at") for a in answers]

    documents = together.pop("features")
    assert together == {column: alone[0][column] + alone[1][column] for column in together}
    # Shaped together, an integer column may read 1.0 beside another request's 3.5: the same number.
    assert [json.loads(d) for d in documents] == [json.loads(d) for a in alone for d in a["features"]]
    assert together["id"] == ["7", "8", "c9"] and together["model_version"] == ["3", "3", "4"]
    assert together["event_time"] == [datetime(2026, 12, 1, 4), AT, datetime(2026, 12, 7, 13)]


def _records(columns: dict[str, list]) -> list[dict]:
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
