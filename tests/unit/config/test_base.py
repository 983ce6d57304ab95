"""What every section shares: the one-SELECT check of `source.query` and `scoring.query`, which
refuses a query that reshapes its rows before the pipeline's window filter (applied outside it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from include.retraining.config import ModelConfigError, load_model_config
from include.retraining.config.base import row_shaping

pytestmark = pytest.mark.unit

CHURN = Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml"


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("select * from t order by snapshot_at limit 1000", ["LIMIT"]),
        ("select * from t offset 10", ["OFFSET"]),
        ("select * from t fetch first 5 rows only", ["FETCH FIRST"]),
        ("select distinct customer_id, snapshot_at from t", ["DISTINCT"]),
        ("select distinct on (customer_id) * from t", ["DISTINCT"]),
        ("select customer_id, max(snapshot_at) as snapshot_at from t group by customer_id", ["the aggregate max()", "GROUP BY"]),
        ("select count(*) as n, snapshot_at from t", ["the aggregate count()"]),
        ("select *, row_number() over (partition by customer_id) as k from t", ["a window function (OVER)"]),
        ("select * from a union all select * from b", ["UNION"]),
        ("select * from a intersect select * from b", ["INTERSECT"]),
        ("select * from a EXCEPT select * from b", ["EXCEPT"]),
        ("with last as (select * from t limit 10) select * from last", ["LIMIT"]),
        ("select * from t where customer_id in (select customer_id from c group by 1 having count(*) > 1)",
         ["GROUP BY", "HAVING", "the aggregate count()"]),
    ],
)  # fmt: skip
def test_a_query_that_reshapes_its_rows_is_found_at_any_depth(query: str, found: list[str]) -> None:
    assert sorted(row_shaping(query)) == sorted(found)


@pytest.mark.parametrize(
    "query",
    [
        "select * from t",
        "select t.*, c.segment from t join c using (customer_id) where c.active",
        'select \'limit 5\' as note, "limit", "count" from t -- limit 5, group by\n/* distinct */',
        "select * from t where note = $$ union $$",
        "select max(a, b) as m, t.count, t.max from t",  # SQLite's row-wise min/max; columns named count
        "select * from t order by snapshot_at",
    ],
)
def test_a_plain_query_is_not_refused_for_words_in_strings_comments_or_names(query: str) -> None:
    assert row_shaping(query) == []


def test_the_model_file_refuses_a_query_with_a_limit_naming_the_key_and_the_fix(tmp_path: Path) -> None:
    data = yaml.safe_load(CHURN.read_text())
    del data["source"]["table"]
    data["source"]["query"] = "select * from customer_snapshots order by snapshot_at desc limit 5000"
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(data))

    with pytest.raises(ModelConfigError) as raised:
        load_model_config(path)

    message = str(raised.value)
    assert str(path) in message and "key 'source.query'" in message
    assert "query uses LIMIT" in message and "window filter" in message
    assert "remove it and let the pipeline filter the window" in message and "put it in a view" in message
