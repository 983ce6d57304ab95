"""What every section of the model file shares: strict models, identifier, dotted-path and cron checks."""

from __future__ import annotations

import re
from typing import Any

from croniter import croniter
from pydantic import BaseModel, ConfigDict

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# `package.module.Name`: a class the model file names by where it lives (an estimator, a transformer,
# a type skops may trust). Only its shape is checked at load: importing it would cost the DAG parse.
DOTTED_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def is_identifier(name: str) -> bool:
    return bool(IDENTIFIER_RE.match(name))


def is_model_name(name: str) -> bool:
    return bool(MODEL_NAME_RE.fullmatch(name))


def check_identifier(value: str, what: str) -> str:
    if not is_identifier(value):
        raise ValueError(
            f"{what} {value!r} is not a plain SQL identifier; use letters, digits and "
            "underscores only (at most 63 characters, not starting with a digit)"
        )
    return value


def is_dotted_path(value: str) -> bool:
    return bool(DOTTED_PATH_RE.fullmatch(value))


def check_dotted_path(value: str, key: str) -> str:
    if not is_dotted_path(value):
        raise ValueError(
            f"{key} {value!r} is not a dotted path to a class; write `package.module.Name` "
            "(e.g. sklearn.ensemble.ExtraTreesClassifier or include.models.custom.MyTransformer)"
        )
    return value


def repeated(names: list[str]) -> list[str]:
    """The names listed more than once, sorted: a column is one feature, listed once."""
    return sorted({name for name in names if names.count(name) > 1})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_cron(value: str) -> str:
    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a cron expression (e.g. '0 3 * * 1' or '@daily')")
    return value


def check_table(value: str) -> str:
    """`table` or `schema.table`, each part a plain identifier."""
    for part in value.split("."):
        check_identifier(part, "table name part")
    if value.count(".") > 1:
        raise ValueError(f"table {value!r}: use `table` or `schema.table`")
    return value


def check_select(value: str) -> str:
    """One read-only SELECT (or WITH ... SELECT), its trailing semicolon dropped, that keeps rows
    as they are: the pipeline filters the window outside the query (`SELECT ... FROM (query)
    WHERE ts in window`), so a LIMIT, DISTINCT, aggregate, window function or set operation would
    act on every row of all time, not on the window's, and the rows read would be silently wrong."""
    text = value.strip().rstrip(";").strip()
    if ";" in text or not re.match(r"(?is)^(select|with)\b", text):
        raise ValueError("query must be a single SELECT (or WITH ... SELECT) statement")
    shaping = row_shaping(text)
    if shaping:
        raise ValueError(
            f"query uses {', '.join(shaping)}, which would run before the pipeline's window filter (it is "
            "applied outside the query), so the window's rows would be silently wrong; remove it and let the "
            "pipeline filter the window, or, if the query must shape rows over all time, put it in a view "
            "and name the view in `table`"
        )
    return text


# Words that change which rows a query returns, rather than picking them (sqlparse's keyword values).
_SHAPING_KEYWORDS = {
    "limit": "LIMIT",
    "offset": "OFFSET",
    "fetch": "FETCH FIRST",
    "distinct": "DISTINCT",
    "group by": "GROUP BY",
    "having": "HAVING",
    "over": "a window function (OVER)",
    "union": "UNION",
    "union all": "UNION",
    "intersect": "INTERSECT",
    "except": "EXCEPT",
}
_AGGREGATES = {
    "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "group_concat", "total", "bool_and",
    "bool_or", "every", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "json_group_array",
    "json_group_object", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "corr",
    "covar_pop", "covar_samp", "percentile_cont", "percentile_disc", "mode", "bit_and", "bit_or", "xmlagg",
}  # fmt: skip


def row_shaping(query: str) -> list[str]:
    """What in a query reshapes its rows (LIMIT, DISTINCT, GROUP BY, an aggregate, a window
    function, a set operation), in order of appearance and once each, at any depth (a CTE or a
    subquery shapes rows before the window filter too). Read from sqlparse's tokens, so words
    inside string literals, quoted identifiers and comments do not count."""
    import sqlparse
    from sqlparse import tokens as T

    tokens = [t for t in sqlparse.parse(query)[0].flatten() if not t.is_whitespace and t.ttype not in T.Comment]
    found: list[str] = []
    for i, token in enumerate(tokens):
        word = " ".join(token.value.lower().split())
        if token.ttype in T.Keyword and word in _SHAPING_KEYWORDS:
            found.append(_SHAPING_KEYWORDS[word])
        elif token.ttype in T.Name and word in _AGGREGATES and _called_as_aggregate(tokens, i):
            found.append(f"the aggregate {word}()")
    return list(dict.fromkeys(found))


def _called_as_aggregate(tokens: list[Any], i: int) -> bool:
    """`name(` with one argument list; SQLite's two-argument min(a, b) and max(a, b) are row-wise."""
    if i + 1 >= len(tokens) or tokens[i + 1].value != "(":
        return False
    if tokens[i].value.lower() not in ("min", "max"):
        return True
    depth = 0
    for token in tokens[i + 1 :]:
        depth += {"(": 1, ")": -1}.get(token.value, 0)
        if depth == 0:
            return True
        if depth == 1 and token.value == ",":
            return False
    return True
