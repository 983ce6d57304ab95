"""The `scoring:` section: which rows `score_<model>` reads, and every bad value named by its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.config import ModelConfigError, ScoringConfig, load_model_config, parse_model_config

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")


def test_a_scoring_query_replaces_the_source_and_keeps_its_columns() -> None:
    scoring = ScoringConfig(query="SELECT * FROM fresh_rows")
    assert scoring.source_for(CONFIG.source).query == "SELECT * FROM fresh_rows"
    assert scoring.source_for(CONFIG.source).table is None
    assert scoring.source_for(CONFIG.source).timestamp_column == CONFIG.source.timestamp_column
    assert ScoringConfig(table="fresh").source_for(CONFIG.source).table == "fresh"
    assert ScoringConfig().source_for(CONFIG.source) == CONFIG.source


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"table": "a", "query": "SELECT 1"}, "at most one of `table` or `query`"),
        ({"query": "DELETE FROM x"}, "single SELECT"),
        ({"output_table": "bad-name"}, "not a plain SQL identifier"),
        ({"schedule": "every day"}, "not a cron expression"),
        ({"nulls": "drop"}, "impute"),
        ({"shadw": True}, "shadw"),
    ],
)
def test_bad_scoring_sections_name_the_key(section, message) -> None:
    raw = {**CONFIG.model_dump(mode="json", exclude_none=True), "scoring": section}
    with pytest.raises(ModelConfigError, match=message):
        parse_model_config(raw, Path("churn.yaml"))
